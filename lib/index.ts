/** icephone public API: what a PBX gateway imports. */
export {
  Phone, Call, type PhoneOptions, type SipTransportProtocol, type CallSummary, type CallEvents, type PhoneEvents, type CallOptions, type AnswerOptions, type RemoteParty, type IncomingRegister, type OutgoingRegister, type RelayedRegisterResponse,
} from './sip/user-agent.js';
export { MediaSession, DEFAULT_UNCONFIRMED_RTP_PACKETS, type MediaOptions, type MediaSummary, type MediaEndpoints, type MediaEvents, type HoldPeriod } from './media/media-session.js';
export { GlareError, type OfferAnswerStateName, type OfferAnswerVia } from './media/offer-answer-state.js';
export { Admission, type AdmissionOptions, type AdmissionRefusal } from './sip/admission.js';
export type { SipTraceFn } from './sip/transport.js';
export type { SipTlsOptions } from './net/tcp-framing.js';
export { checkSipServerIdentity, TlsIdentityError } from './net/sip-tls-identity.js';
export type { DigestAlgorithm, DigestServerOptions, DigestServerStats, DigestVerdict } from './sip/digest-server.js';
export type { GateDecision } from './sip/sipjs/request-gate.js';
export { type Logger, type LogLevel, StderrLogger, silentLogger } from './base/log.js';
export {
  type AudioSource, ToneSource, SilenceSource, BufferSource, createSource, createWavSource, SOURCE_SAMPLE_RATE,
} from './rtp/sources.js';
export { type AudioSink, WavFileSink, MemorySink } from './rtp/sinks.js';
export { FrameQueue } from './rtp/frame-queue.js';
export { RtpSession, type RtpSessionOptions, type RtpStats, type ReceivedRtpPacket, type OutgoingRtpPacket } from './rtp/session.js';
export type { ReceivedDtmf } from './rtp/dtmf-receiver.js';
export { type MediaDirection, answerDirection, offerDirection, effectiveDirection } from './sdp/direction.js';
export { IceAgent, type IceAgentOptions, type IceRole, type IceState, type CandidatePairInfo } from './ice/agent.js';
export { type Candidate, type CandidateType, computePriority, TYPE_PREFERENCE } from './ice/candidate.js';
export { buildDescription, parseDescription, type RemoteDescription } from './sdp/offer-answer.js';
export { formatCandidateAttribute, parseCandidateAttribute } from './sdp/ice-attributes.js';
export { convertSdp, detectCandidateFormat } from './sdp/convert.js';
export { parseIceServerUri, type IceServerUri } from './turn/servers.js';
export { ParseError, StateError, TimeoutError, UsageError } from './base/errors.js';
export {
  canonicalIp, normalizeAddress, sameIp, sameTransportAddress, transportAddressKey, ipFamily, type AddressFamily,
} from './base/address.js';
export { SystemClock, ManualClock, type Clock } from './base/clock.js';
export { TurnClient, TurnError, type TurnAllocateOptions } from './turn/client.js';
export { ephemeralCredentials, EphemeralCredentialProvider } from './turn/credentials.js';
export { resolveIceServer, firstWorking } from './turn/servers.js';
export { type TurnServer, type RelayResult } from './ice/relay.js';
export { Gateway, type GatewayOptions, type GatewayEvents, type RegistrationChange } from './gateway/gateway.js';
export { RegistrationRelay, type Binding, type Flow, type RegistrationRelayOptions, type RegistrationRelayEvents } from './gateway/registration-relay.js';
export { Bridge, type BridgeSummary, type LegSummary, type LegSide, type BridgeEvents } from './gateway/bridge.js';
export { RtpTranslator, transcode, type LegPayloads, type TranslatorStats } from './gateway/rtp-translator.js';
