/**
 * The SDP of one audio stream: building our offers/answers (RFC 3264, with the ICE attributes of
 * RFC 8839 §5) and reading the peer's. sdp-transform handles the session and media structure; the
 * ICE attributes are read from the raw `a=` lines with our own codec (lib/sdp/ice-attributes.ts) so
 * that one bad candidate line costs only that line.
 */
import { isIPv6 } from 'node:net';
import * as sdpTransform from 'sdp-transform';
import { normalizeAddress, sameIp } from '../base/address.js';
import { ParseError, errorMessage } from '../base/errors.js';
import type { AltCandidate } from '../ice/alternate.js';
import type { Candidate } from '../ice/candidate.js';
import { parseAltAttributes, type AltWarning } from './alt-attributes.js';
import {
  formatCandidateAttribute,
  formatRemoteCandidates,
  isValidConnectionAddress,
  isValidPwd,
  isValidUfrag,
  parseCandidateAttribute,
  parseRemoteCandidates,
  type RemoteCandidate,
} from './ice-attributes.js';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface CodecDescription {
  payloadType: number;
  name: string;
  clockRate: number;
  channels?: number;
}

/** One `a=` line: `name` before the first colon, `value` after it (absent for property attributes). */
export interface SdpAttribute {
  name: string;
  value?: string;
}

/** The codecs the RTP layer implements (lib/rtp/g711.ts): G.711 µ-law and A-law, RFC 3551 §6. */
export const SUPPORTED_CODECS: CodecDescription[] = [
  { payloadType: 0, name: 'PCMU', clockRate: 8000 },
  { payloadType: 8, name: 'PCMA', clockRate: 8000 },
];

/** RFC 3551 §6 Table 4: static audio payload types, usable without `a=rtpmap`. */
const STATIC_AUDIO_PAYLOAD_TYPES: ReadonlyMap<number, Omit<CodecDescription, 'payloadType'>> = new Map([
  [0, { name: 'PCMU', clockRate: 8000 }],
  [3, { name: 'GSM', clockRate: 8000 }],
  [4, { name: 'G723', clockRate: 8000 }],
  [5, { name: 'DVI4', clockRate: 8000 }],
  [6, { name: 'DVI4', clockRate: 16000 }],
  [7, { name: 'LPC', clockRate: 8000 }],
  [8, { name: 'PCMA', clockRate: 8000 }],
  [9, { name: 'G722', clockRate: 8000 }],
  [10, { name: 'L16', clockRate: 44100, channels: 2 }],
  [11, { name: 'L16', clockRate: 44100 }],
  [12, { name: 'QCELP', clockRate: 8000 }],
  [13, { name: 'CN', clockRate: 8000 }],
  [14, { name: 'MPA', clockRate: 90000 }],
  [15, { name: 'G728', clockRate: 8000 }],
  [16, { name: 'DVI4', clockRate: 11025 }],
  [17, { name: 'DVI4', clockRate: 22050 }],
  [18, { name: 'G729', clockRate: 8000 }],
]);

/** Payload formats that travel beside a voice codec but cannot be the call's codec. */
const NON_VOICE_FORMATS = new Set(['telephone-event', 'cn', 'red', 'ulpfec', 'rtx']);

export interface LocalDescriptionOptions {
  /** o= sess-id: digits (see `sessionIdNow`). */
  sessionId: string;
  /** o= sess-version: increment on every new offer/answer of the session (RFC 3264 §8). */
  sessionVersion: number;
  originAddress: string;
  /** o= username, default `icephone`. */
  username?: string;
  codecs: CodecDescription[];
  direction?: MediaDirection;
  /** a=ptime, default 20. */
  ptimeMs?: number;
  /** The default candidate for RTP (RFC 8839 §4.2.1.1): m= port and c= address. */
  defaultRtp: { address: string; port: number };
  /** The default candidate for RTCP, written as `a=rtcp` (RFC 3605); give it whenever component 2 exists, with or without rtcp-mux (RFC 5761 §5.1.3). */
  defaultRtcp?: { address: string; port: number };
  /** Offer/accept RTP/RTCP multiplexing, `a=rtcp-mux` (RFC 5761 §5.1.1). */
  rtcpMux: boolean;
  ice?: {
    ufrag: string;
    pwd: string;
    candidates: Candidate[];
    /** Put ice-ufrag, ice-pwd and ice-options at session level instead of media level (RFC 8839 §5.4, §5.6). */
    sessionLevel?: boolean;
    /** a=remote-candidates (RFC 8839 §5.2): the controlling agent's offer after nomination. */
    remoteCandidates?: RemoteCandidate[];
    /** a=ice-options tokens, e.g. `trickle` (RFC 8839 §5.6). */
    options?: string[];
    /** a=end-of-candidates (RFC 8840 §8.2). */
    endOfCandidates?: boolean;
    /** Session-level `a=ice-lite` (RFC 8839 §5.3): we are a lite agent. */
    lite?: boolean;
  };
  /** Appended to the audio m-section verbatim (a=alt, preconditions). */
  extraMediaAttributes?: SdpAttribute[];
  /** m= transport profile: RTP/AVP (default) or RTP/SAVP for SRTP (RFC 3711 §12, RFC 4568 §3.1.4). */
  profile?: 'RTP/AVP' | 'RTP/SAVP';
}

export interface RemoteDescription {
  /** Default destination for RTP: m= port and the effective c= (media level overrides session level). */
  address: string;
  port: number;
  /**
   * Default destination for RTCP: `a=rtcp` (RFC 3605) if present (even with rtcp-mux: it is where
   * RTCP goes if multiplexing is not agreed), else RTP port + 1 when not muxed, else undefined.
   */
  rtcp?: { address: string; port: number };
  rtcpMux: boolean;
  direction: MediaDirection;
  /** The m= line's transport profile as written (RTP/AVP, RTP/SAVP, ...). */
  profile: string;
  /** In the order of the m= line; static payload types work without rtpmap, unmapped dynamic ones are skipped. */
  codecs: CodecDescription[];
  ptimeMs?: number;
  ice?: {
    ufrag: string;
    pwd: string;
    candidates: Candidate[];
    iceLite: boolean;
    /** RFC 8839 §4.2.5 (ICE mismatch): the default destination is not among the candidates. */
    mismatch: boolean;
    remoteCandidates?: RemoteCandidate[];
    endOfCandidates: boolean;
    options: string[];
  };
  /**
   * The legacy `a=alt` lines of draft-rosenberg-sipping-ice-01 §7 in the audio m-section, when at
   * least one of them could be read (lines that cannot are in `invalidLines`). Integer qvalue ranks
   * are kept as read (lib/ice/alternate.ts, `toQvalueScale`).
   */
  alt?: {
    alternates: AltCandidate[];
    /** Deviations from the §7 grammar that were accepted (lib/sdp/alt-attributes.ts). */
    warnings: AltWarning[];
    /**
     * No alternate is the m/c line's address (see `detectAltMismatch`): a middlebox rewrote the
     * SDP, and the description is to be treated as having no `a=alt` (lib/sdp/format.ts).
     */
    mismatch: boolean;
  };
  /** Raw lines (`a=candidate:…`, `a=alt:…`) that failed to parse: dropped and listed here, never fatal. */
  invalidLines: string[];
  /** Every raw a= line of the audio m-section, in order. */
  mediaAttributes: SdpAttribute[];
  /** Every raw a= line before the first m= line, in order. */
  sessionAttributes: SdpAttribute[];
}

/** SDP origin/session id, RFC 4566 §5.2 "suggested that an NTP format timestamp be used": milliseconds since 1900. */
export function sessionIdNow(): string {
  const ntpEpochOffsetMs = 2_208_988_800_000n;
  return (BigInt(Date.now()) + ntpEpochOffsetMs).toString();
}

function addressVersion(address: string): 4 | 6 {
  return isIPv6(address) ? 6 : 4;
}

function formatAttribute(a: SdpAttribute): string {
  return a.value === undefined ? a.name : `${a.name}:${a.value}`;
}

function checkTransportAddress(what: string, a: { address: string; port: number }): void {
  if (!isValidConnectionAddress(a.address)) throw new RangeError(`${what} address ${JSON.stringify(a.address)} is not an IP address or FQDN`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new RangeError(`${what} port ${a.port} not in 0..65535`);
}

/**
 * Builds a complete SDP (CRLF line endings) with one audio m-section: v, o, s, c, t, m, a=rtpmap…,
 * a=ptime, direction, a=rtcp, ICE attributes, a=rtcp-mux, candidates, extra attributes. An empty
 * `codecs` list writes a rejected stream (`m=audio 0 RTP/AVP 0`, RFC 3264 §6).
 * @throws RangeError on options that would produce invalid SDP.
 */
export function buildDescription(opts: LocalDescriptionOptions): string {
  if (!/^\d+$/.test(opts.sessionId)) throw new RangeError(`sessionId ${JSON.stringify(opts.sessionId)} is not digits`);
  if (!Number.isInteger(opts.sessionVersion) || opts.sessionVersion < 0) throw new RangeError(`sessionVersion ${opts.sessionVersion} is not a non-negative integer`);
  const username = opts.username ?? 'icephone';
  if (!/^\S+$/.test(username)) throw new RangeError(`username ${JSON.stringify(username)} must be one non-empty token`);
  if (!isValidConnectionAddress(opts.originAddress)) throw new RangeError(`originAddress ${JSON.stringify(opts.originAddress)} is not an IP address or FQDN`);
  checkTransportAddress('defaultRtp', opts.defaultRtp);
  if (opts.defaultRtcp) checkTransportAddress('defaultRtcp', opts.defaultRtcp);
  for (const c of opts.codecs) {
    if (!Number.isInteger(c.payloadType) || c.payloadType < 0 || c.payloadType > 127) throw new RangeError(`payload type ${c.payloadType} not in 0..127`);
    if (!/^[\w\-.]+$/.test(c.name)) throw new RangeError(`codec name ${JSON.stringify(c.name)}`);
  }
  const ptimeMs = opts.ptimeMs ?? 20;
  if (!(ptimeMs > 0)) throw new RangeError(`ptimeMs ${ptimeMs} must be positive`);

  // RFC 3264 §6: with no codec in common the stream is rejected with port 0, and the m= line still
  // needs at least one format (RFC 4566 §5.14), so PCMU's static type stands in.
  const rejected = opts.codecs.length === 0;
  const media: sdpTransform.MediaDescription = {
    type: 'audio',
    port: rejected ? 0 : opts.defaultRtp.port,
    protocol: opts.profile ?? 'RTP/AVP',
    payloads: rejected ? '0' : opts.codecs.map((c) => c.payloadType).join(' '),
    rtp: opts.codecs.map((c) => ({
      payload: c.payloadType,
      codec: c.name,
      rate: c.clockRate,
      ...(c.channels !== undefined ? { encoding: c.channels } : {}),
    })),
    fmtp: [],
    ptime: ptimeMs,
    direction: opts.direction ?? 'sendrecv',
  };
  if (opts.defaultRtcp) {
    // Written with rtcp-mux too: an offer proposing mux still names its RTCP default for a peer
    // that declines (RFC 5761 §5.1.3). RFC 3605 §2.1: the address part is needed only when it differs from the c= address.
    media.rtcp =
      sameIp(opts.defaultRtcp.address, opts.defaultRtp.address)
        ? { port: opts.defaultRtcp.port }
        : { port: opts.defaultRtcp.port, netType: 'IN', ipVer: addressVersion(opts.defaultRtcp.address), address: opts.defaultRtcp.address };
  }
  if (opts.rtcpMux) media.rtcpMux = 'rtcp-mux';

  const session: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username,
      sessionId: opts.sessionId,
      sessionVersion: opts.sessionVersion,
      netType: 'IN',
      ipVer: addressVersion(opts.originAddress),
      address: opts.originAddress,
    },
    name: '-',
    connection: { version: addressVersion(opts.defaultRtp.address), ip: opts.defaultRtp.address },
    timing: { start: 0, stop: 0 },
    media: [media],
  };

  // Lines written verbatim, in this order, after the structured ones (sdp-transform's own candidate
  // writer knows only a few extensions, so candidates go through our codec).
  const verbatim: string[] = [];
  const ice = opts.ice;
  if (ice) {
    if (!isValidUfrag(ice.ufrag)) throw new RangeError('ice.ufrag is not 4-256 ice-chars (RFC 8839 §5.4)');
    if (!isValidPwd(ice.pwd)) throw new RangeError('ice.pwd is not 22-256 ice-chars (RFC 8839 §5.4)');
    const options = ice.options ?? [];
    for (const o of options) if (!/^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/.test(o)) throw new RangeError(`ice option ${JSON.stringify(o)} is not a token`);
    if (ice.lite) session.icelite = 'ice-lite';
    const level: sdpTransform.SharedAttributes = ice.sessionLevel ? session : media;
    level.iceUfrag = ice.ufrag;
    level.icePwd = ice.pwd;
    if (options.length > 0) level.iceOptions = options.join(' ');
    for (const c of ice.candidates) verbatim.push(formatCandidateAttribute(c));
    if (ice.endOfCandidates) verbatim.push('end-of-candidates');
    if (ice.remoteCandidates && ice.remoteCandidates.length > 0) verbatim.push(formatRemoteCandidates(ice.remoteCandidates));
  }
  for (const a of opts.extraMediaAttributes ?? []) {
    const line = formatAttribute(a);
    if (/[\r\n]/.test(line) || a.name.length === 0) throw new RangeError(`extra media attribute ${JSON.stringify(line)} is not one a= line`);
    verbatim.push(line);
  }
  if (verbatim.length > 0) media.invalid = verbatim.map((value) => ({ value }));

  return sdpTransform.write(session);
}

interface RawSection {
  /** The m= line (undefined for the session section). */
  mLine?: string;
  attributes: string[];
}

/** Splits like sdp-transform does (so the i-th raw m-section is sdp-transform's media[i]). */
function splitSections(sdp: string): { session: RawSection; media: RawSection[]; hasVersion: boolean } {
  const session: RawSection = { attributes: [] };
  const media: RawSection[] = [];
  let current = session;
  let hasVersion = false;
  for (const line of sdp.split(/\r\n|\r|\n/)) {
    if (!/^[a-z]=/.test(line)) continue;
    if (line.startsWith('v=')) hasVersion = true;
    if (line.startsWith('m=')) {
      current = { mLine: line, attributes: [] };
      media.push(current);
    } else if (line.startsWith('a=')) {
      current.attributes.push(line.slice(2));
    }
  }
  return { session, media, hasVersion };
}

function toAttribute(raw: string): SdpAttribute {
  const colon = raw.indexOf(':');
  return colon < 0 ? { name: raw } : { name: raw.slice(0, colon), value: raw.slice(colon + 1) };
}

function oneLine(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ');
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

function parseDirection(value: unknown): MediaDirection | undefined {
  return value === 'sendrecv' || value === 'sendonly' || value === 'recvonly' || value === 'inactive' ? value : undefined;
}

function lastValue(attributes: string[], name: string): string | undefined {
  let found: string | undefined;
  for (const raw of attributes) {
    const a = toAttribute(raw);
    if (a.name === name) found = (a.value ?? '').trim();
  }
  return found;
}

/** Largest SDP `parseDescription` reads, bytes (UTF-8). Issue 13: size limits before any parsing. */
export const SDP_MAX_BYTES = 16 * 1024;
/**
 * Most lines `parseDescription` reads. An audio offer with ICE for two components on a few
 * interfaces, a=alt lines and SRTP keys has well under 100; 512 is generous for peers.
 */
export const SDP_MAX_LINES = 512;

/** @throws ParseError when `sdp` exceeds SDP_MAX_BYTES or SDP_MAX_LINES (nothing else is looked at). */
export function checkSdpSize(sdp: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: only a string near the limit needs the exact count.
  if (sdp.length > SDP_MAX_BYTES || (sdp.length * 3 > SDP_MAX_BYTES && Buffer.byteLength(sdp, 'utf8') > SDP_MAX_BYTES)) {
    throw new ParseError(`SDP of ${Buffer.byteLength(sdp, 'utf8')} bytes exceeds the ${SDP_MAX_BYTES}-byte limit`, 'sdp');
  }
  let lines = 1;
  for (let i = sdp.indexOf('\n'); i >= 0; i = sdp.indexOf('\n', i + 1)) {
    // A final line ending does not start another line.
    if (i < sdp.length - 1 && ++lines > SDP_MAX_LINES) throw new ParseError(`SDP has more than ${SDP_MAX_LINES} lines`, 'sdp');
  }
}

/**
 * Reads the first audio m-section of a peer's SDP.
 * @throws ParseError (one-line message) if there is no v= line, no audio m-line, no usable
 * connection address or port, if sdp-transform throws, or if ice-ufrag/ice-pwd are present but invalid.
 */
export function parseDescription(sdp: string): RemoteDescription {
  if (typeof sdp !== 'string') throw new ParseError('SDP is not a string', 'v=');
  checkSdpSize(sdp);
  const raw = splitSections(sdp.replace(/^\uFEFF/, ''));
  if (!raw.hasVersion) throw new ParseError('not an SDP: no v= line', 'v=');

  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ParseError(`SDP not parsable: ${oneLine(errorMessage(e))}`, 'sdp');
  }
  const index = parsed.media.findIndex((m) => m.type === 'audio');
  const media = parsed.media[index];
  const rawMedia = raw.media[index];
  if (index < 0 || !media || !rawMedia) throw new ParseError('no audio m-line', 'm=audio');

  if (!Number.isInteger(media.port) || media.port < 0 || media.port > 65535) {
    throw new ParseError(`audio m-line port not usable: ${oneLine(rawMedia.mLine ?? '')}`, 'm=audio');
  }
  const connection = media.connection ?? parsed.connection;
  // RFC 4566 §5.7: multicast addresses may carry /ttl and /number-of-addresses.
  const written = typeof connection?.ip === 'string' ? connection.ip.split('/')[0]! : '';
  if (!connection || !isValidConnectionAddress(written)) {
    throw new ParseError(connection ? `c= address ${JSON.stringify(oneLine(written))} not usable` : 'no c= line for the audio stream', 'c=');
  }
  // Canonical (base/address.ts): the default destination of a non-ICE peer compares with its packets' source.
  const address = normalizeAddress(written);
  const port = media.port;
  const invalidLines: string[] = [];

  const rtcpMux = media.rtcpMux === 'rtcp-mux';
  let rtcp: RemoteDescription['rtcp'];
  if (media.rtcp !== undefined) {
    const r = media.rtcp;
    const rtcpAddress = typeof r.address === 'string' ? r.address : undefined;
    if (Number.isInteger(r.port) && r.port >= 0 && r.port <= 65535 && (rtcpAddress === undefined || isValidConnectionAddress(rtcpAddress))) {
      rtcp = { address: rtcpAddress !== undefined ? normalizeAddress(rtcpAddress) : address, port: r.port };
    } else {
      invalidLines.push(...rawMedia.attributes.filter((a) => a.startsWith('rtcp:')).map((a) => `a=${a}`));
    }
  }
  if (!rtcp && !rtcpMux && port > 0) rtcp = { address, port: port + 1 };

  const codecs: CodecDescription[] = [];
  for (const token of String(media.payloads ?? '').trim().split(/\s+/)) {
    if (!/^\d{1,3}$/.test(token)) continue;
    const payloadType = Number(token);
    if (payloadType > 127) continue;
    const map = media.rtp.find((r) => r.payload === payloadType);
    if (map && map.codec) {
      // sdp-transform turns a numeric-looking encoding name into a number (`a=rtpmap:122 8/8`); keep it a string (make fuzz).
      const codec: CodecDescription = { payloadType, name: String(map.codec), clockRate: Number(map.rate) };
      if (map.encoding !== undefined && Number.isInteger(Number(map.encoding))) codec.channels = Number(map.encoding);
      if (Number.isInteger(codec.clockRate) && codec.clockRate > 0) codecs.push(codec);
      continue;
    }
    const known = STATIC_AUDIO_PAYLOAD_TYPES.get(payloadType);
    if (known) codecs.push({ payloadType, ...known });
  }

  const ptimeText = lastValue(rawMedia.attributes, 'ptime') ?? lastValue(raw.session.attributes, 'ptime');
  const ptimeMs = ptimeText !== undefined && /^\d+(\.\d+)?$/.test(ptimeText) && Number(ptimeText) > 0 ? Number(ptimeText) : undefined;
  // RFC 3264 §5.1 / RFC 4566 §6: one direction per level; two different ones in one m-section make
  // no sense (which one is meant?), so the description is refused rather than guessed at.
  const directionsHere = new Set(rawMedia.attributes.filter((a) => /^(sendrecv|sendonly|recvonly|inactive)$/.test(a)));
  if (directionsHere.size > 1) throw new ParseError(`conflicting direction attributes: a=${[...directionsHere].join(', a=')}`, 'm=audio direction');
  const direction = parseDirection(media.direction) ?? parseDirection(parsed.direction) ?? 'sendrecv';

  const description: RemoteDescription = {
    address,
    port,
    rtcpMux,
    direction,
    profile: String(media.protocol ?? 'RTP/AVP'),
    codecs,
    invalidLines,
    mediaAttributes: rawMedia.attributes.map(toAttribute),
    sessionAttributes: raw.session.attributes.map(toAttribute),
  };
  if (rtcp) description.rtcp = rtcp;
  if (ptimeMs !== undefined) description.ptimeMs = ptimeMs;

  const ice = parseIce(rawMedia.attributes, raw.session.attributes, description);
  if (ice) description.ice = ice;
  const alt = parseAlt(rawMedia.attributes, description);
  if (alt) description.alt = alt;
  return description;
}

/**
 * draft-rosenberg-sipping-ice-01 §7: the `a=alt` lines of one m-section ("The alt attribute MUST
 * be present within a media block": session-level ones are not read). Read liberally, and a line
 * that cannot be understood, or repeats an id, costs only that line.
 */
function parseAlt(mediaAttributes: string[], description: RemoteDescription): RemoteDescription['alt'] {
  const values = mediaAttributes.filter((raw) => toAttribute(raw).name === 'alt');
  if (values.length === 0) return undefined;
  const { alternates, warnings, dropped } = parseAltAttributes(values, { dropInvalid: true });
  for (const d of dropped) description.invalidLines.push(`a=${d.value}`);
  return alternates.length > 0 ? { alternates, warnings, mismatch: detectAltMismatch(description, alternates) } : undefined;
}

/**
 * The draft-era equivalent of an ICE mismatch (RFC 8839 §4.2.5, `detectMismatch` below): the
 * `a=alt` lines are to be believed only if one of them is the m/c line's address and port.
 * draft-rosenberg-sipping-ice-01 §5.4 has the offerer encode all its addresses "(including the one
 * that was just placed into the m and c lines)", and §7: "it is RECOMMENDED that there be an alt
 * attribute for the address and port in the m and c lines". When none is, something between the
 * endpoints rewrote m/c and left the alternates: typically a media proxy (SBC) that strips the
 * ICE attributes it knows but not `a=alt`. Answering in `alt` would send media straight to the
 * far end's private addresses, around the proxy that expects it; so the description counts as
 * having no `a=alt`, and media goes to the m/c line (§5.4: the address "that will be used by a
 * peer that doesn't understand ICE"). A peer that ignores the RECOMMENDED loses only the
 * alternates, never the call. Component 1 (RTP) only: RTCP follows the path RTP takes.
 */
export function detectAltMismatch(description: Pick<RemoteDescription, 'address' | 'port'>, alternates: readonly AltCandidate[]): boolean {
  return !alternates.some((a) => a.port === description.port && sameIp(a.address, description.address));
}

/**
 * RFC 8839 §5: ICE attributes of one m-section. ice-ufrag/ice-pwd at media level win over session
 * level (§5.4); a description with neither is a non-ICE peer.
 */
function parseIce(mediaAttributes: string[], sessionAttributes: string[], description: RemoteDescription): RemoteDescription['ice'] {
  const invalidLines = description.invalidLines;
  const ufrag = lastValue(mediaAttributes, 'ice-ufrag') ?? lastValue(sessionAttributes, 'ice-ufrag');
  const pwd = lastValue(mediaAttributes, 'ice-pwd') ?? lastValue(sessionAttributes, 'ice-pwd');
  if (ufrag === undefined && pwd === undefined) return undefined;
  if (ufrag !== undefined && !isValidUfrag(ufrag)) throw new ParseError(`ice-ufrag ${JSON.stringify(oneLine(ufrag))} is not 4-256 ice-chars`, 'a=ice-ufrag');
  if (pwd !== undefined && !isValidPwd(pwd)) throw new ParseError('ice-pwd is not 22-256 ice-chars', 'a=ice-pwd');
  if (ufrag === undefined || pwd === undefined) {
    // Half an ICE description cannot run checks: treat the peer as non-ICE and say why.
    const present = ufrag === undefined ? 'ice-pwd' : 'ice-ufrag';
    invalidLines.push(...[...sessionAttributes, ...mediaAttributes].filter((a) => a.startsWith(`${present}:`)).map((a) => `a=${a}`));
    return undefined;
  }

  const candidates: Candidate[] = [];
  let remoteCandidates: RemoteCandidate[] | undefined;
  let endOfCandidates = false;
  const options: string[] = [];
  const addOptions = (value: string | undefined): void => {
    for (const token of (value ?? '').trim().split(/\s+/)) if (token && !options.includes(token)) options.push(token);
  };
  for (const raw of sessionAttributes) {
    const a = toAttribute(raw);
    if (a.name === 'ice-options') addOptions(a.value);
    if (a.name === 'end-of-candidates') endOfCandidates = true;
  }
  for (const raw of mediaAttributes) {
    const a = toAttribute(raw);
    switch (a.name) {
      case 'candidate':
        try {
          candidates.push(parseCandidateAttribute(raw));
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          invalidLines.push(`a=${raw}`);
        }
        break;
      case 'remote-candidates':
        try {
          remoteCandidates = parseRemoteCandidates(raw);
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          invalidLines.push(`a=${raw}`);
        }
        break;
      case 'end-of-candidates':
        endOfCandidates = true;
        break;
      case 'ice-options':
        addOptions(a.value);
        break;
    }
  }
  // RFC 8839 §5.3: ice-lite is a session-level attribute (accepted at media level too).
  const iceLite = [...sessionAttributes, ...mediaAttributes].some((a) => a === 'ice-lite' || a.startsWith('ice-lite:'));

  const ice: NonNullable<RemoteDescription['ice']> = {
    ufrag,
    pwd,
    candidates,
    iceLite,
    mismatch: detectMismatch(description, candidates, options),
    endOfCandidates,
    options,
  };
  if (remoteCandidates) ice.remoteCandidates = remoteCandidates;
  return ice;
}

/**
 * RFC 8839 §4.2.5 (Verifying ICE Support): ICE applies only if the default destination of each
 * component appears among the candidates; otherwise a middlebox rewrote the SDP (ICE mismatch, answered
 * with `a=ice-mismatch`). Checked for component 1 always, and for component 2 when an explicit a=rtcp
 * names it and component-2 candidates exist. The trickle placeholder (c= 0.0.0.0 or ::, port 9,
 * RFC 8840 §4.1.1) and a trickle offer with no candidates yet are not mismatches.
 */
function detectMismatch(description: RemoteDescription, candidates: Candidate[], options: string[]): boolean {
  const placeholder = (description.address === '0.0.0.0' || description.address === '::') && description.port === 9;
  if (placeholder) return false;
  if (candidates.length === 0 && options.includes('trickle')) return false;
  const listed = (component: number, address: string, port: number): boolean =>
    candidates.some((c) => c.component === component && c.port === port && sameIp(c.address, address));
  if (!listed(1, description.address, description.port)) return true;
  const explicitRtcp = description.mediaAttributes.some((a) => a.name === 'rtcp');
  if (!description.rtcpMux && explicitRtcp && description.rtcp && candidates.some((c) => c.component === 2)) {
    return !listed(2, description.rtcp.address, description.rtcp.port);
  }
  return false;
}

/**
 * RFC 3264 §6.1: the first offered codec we support, matched by encoding name (case-insensitive),
 * clock rate and channel count (default 1), returned with the offerer's payload type. Formats that
 * are not voice (telephone-event, CN, …) are never chosen.
 */
export function negotiateCodec(offered: CodecDescription[], supported: CodecDescription[] = SUPPORTED_CODECS): CodecDescription | undefined {
  for (const offer of offered) {
    if (NON_VOICE_FORMATS.has(offer.name.toLowerCase())) continue;
    const match = supported.find(
      (s) => s.name.toLowerCase() === offer.name.toLowerCase() && s.clockRate === offer.clockRate && (s.channels ?? 1) === (offer.channels ?? 1),
    );
    if (match) {
      const chosen: CodecDescription = { payloadType: offer.payloadType, name: match.name, clockRate: match.clockRate };
      if (offer.channels !== undefined) chosen.channels = offer.channels;
      return chosen;
    }
  }
  return undefined;
}
