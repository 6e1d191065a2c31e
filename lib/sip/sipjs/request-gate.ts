/**
 * The authentication gate in front of sip.js's user agent core (RFC 3261 §8.2: a UAS processes a
 * request "starting with authentication"; §22.4). sip.js 0.21.2 authenticates as a client only, so
 * the Phone wraps `UserAgentCore#receiveIncomingRequestFromTransport` (listed in
 * ./sipjs/internals.ts) with this gate when `PhoneOptions.auth` is set:
 *
 * - every out-of-dialog request (no To tag) that would start a transaction is checked by the
 *   DigestServer before sip.js sees it, whatever its Request-URI user, so a dictionary scan gets the
 *   same 401 for every user and the user is looked at only after authentication;
 * - ACK and CANCEL pass (RFC 3261 §22.1: they cannot be resubmitted with credentials; a CANCEL
 *   matches an authenticated INVITE's transaction or gets 481), as do in-dialog requests (their
 *   dialog was set up by an authenticated INVITE) and retransmissions of a request whose server
 *   transaction exists;
 * - a challenge is a stateless 401 with the `WWW-Authenticate` values; the attempt that reaches the
 *   failure limit gets a stateless 403 and later requests from that source are dropped unanswered;
 *   over UDP our transport retransmits 401/403 to INVITE until the ACK (Timer G, ./retransmission.ts).
 */
import type { Core } from 'sip.js';
import type { Logger } from '../../base/log.js';
import { normalizeAddress } from '../../base/address.js';
import type { DigestServer, DigestVerdict } from '../digest-server.js';

/** One decision of the gate, for the Phone's `auth` event. */
export interface GateDecision {
  verdict: DigestVerdict;
  method: string;
  source: string;
  callId: string;
}

interface CoreInternals {
  receiveIncomingRequestFromTransport(message: Core.IncomingRequestMessage): void;
  replyStateless(message: Core.IncomingRequestMessage, options: { statusCode: number; reasonPhrase?: string; extraHeaders?: string[] }): unknown;
  userAgentServers: Map<string, unknown>;
}

/** The source IP of a request: `received` of the top Via (our transport sets it, RFC 3581 §4), else its sent-by host. */
export function requestSource(message: Core.IncomingRequestMessage): string {
  const top = (message.getHeaders('via')[0] ?? '').split(',')[0] ?? '';
  const received = /;\s*received\s*=\s*([^;\s]+)/i.exec(top)?.[1];
  const host = received ?? message.via?.host ?? '';
  const bare = host.replace(/^\[|\]$/g, '');
  try {
    return normalizeAddress(bare);
  } catch {
    return bare;
  }
}

/** The Request-URI exactly as on the request line (what the client's `uri` digest parameter holds). */
export function rawRequestUri(message: Core.IncomingRequestMessage): string {
  const line = message.data.slice(0, message.data.search(/\r?\n|$/));
  return line.split(' ')[1] ?? '';
}

/**
 * Wraps `core`'s request entry point with the digest check. `onDecision` sees every challenge,
 * acceptance and refusal (never throws into the transport: its errors are logged).
 */
export function installRequestGate(core: Core.UserAgentCore, digest: DigestServer, log: Logger, onDecision: (d: GateDecision) => void): void {
  const c = core as unknown as CoreInternals;
  const original = c.receiveIncomingRequestFromTransport.bind(core);
  c.receiveIncomingRequestFromTransport = (message) => {
    if (message.toTag || message.method === 'ACK' || message.method === 'CANCEL' || c.userAgentServers.has(message.viaBranch)) {
      original(message);
      return;
    }
    const source = requestSource(message);
    const verdict = digest.check({ method: message.method, requestUri: rawRequestUri(message), authorization: message.getHeaders('authorization'), source });
    try {
      onDecision({ verdict, method: message.method, source, callId: message.callId });
    } catch (e) {
      log.warn(`auth event listener: ${String(e)}`);
    }
    if (verdict.action === 'accept') {
      original(message);
      return;
    }
    if (verdict.action === 'challenge') {
      c.replyStateless(message, { statusCode: 401, reasonPhrase: 'Unauthorized', extraHeaders: verdict.headers.map((h) => `WWW-Authenticate: ${h}`) });
      return;
    }
    if (verdict.newlyBlocked) c.replyStateless(message, { statusCode: 403, reasonPhrase: 'Forbidden' });
  };
}
