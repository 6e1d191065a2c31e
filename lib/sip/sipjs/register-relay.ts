/**
 * REGISTER requests a B2BUA relays (the PBX gateway, lib/gateway/): sent through sip.js 0.21.2's
 * core with the Call-ID, CSeq, From tag, Contact and credentials the caller chose, and with
 * sip.js's own digest retry turned off for that one request, so a 401/407 challenge reaches the
 * caller (who passes it on to the endpoint that owns the credentials) instead of being answered
 * with the gateway's (absent) password.
 *
 * sip.js internal used: the `credentials` instance field of `UserAgentClient` (private in its
 * typings; ./internals.ts lists it). `authenticationGuard` asks it first and only calls the core's
 * authentication factory when it is unset; a credentials object whose `authenticate` returns
 * false makes the guard hand the challenge to the delegate's `onReject`.
 */
import type { Core, URI } from 'sip.js';

/** One REGISTER to send. */
export interface RelayedRegister {
  /** Request-URI (RFC 3261 §10.2: the registrar's domain; for a relayed one, the URI the endpoint signed). */
  requestUri: URI;
  /** The AOR (To and From). */
  aor: URI;
  callId: string;
  cseq: number;
  fromTag: string;
  /** Route set to send it along (e.g. `<sip:PBX;lr>`), RFC 3261 §8.1.2. */
  routeSet: string[];
  /** Further header lines: Contact, Expires, Authorization, … */
  extraHeaders: string[];
}

/** A final response to a relayed REGISTER, with what the relay reads of it. */
export interface RelayedRegisterResponse {
  statusCode: number;
  reasonPhrase: string;
  /** Every value of a header (one string per header line), case-insensitive name. */
  headers(name: string): string[];
}

/** Turns sip.js's automatic digest retry off for one client transaction. */
const NO_CREDENTIALS = { authenticate: () => false, toString: () => '' };

/**
 * Sends the REGISTER and resolves with its final response: the registrar's, or sip.js's internal
 * 408 (no answer within timer F, 64·T1) or 503 (transport error).
 */
export function sendRelayedRegister(core: Core.UserAgentCore, r: RelayedRegister): Promise<RelayedRegisterResponse> {
  const message = core.makeOutgoingRequestMessage('REGISTER', r.requestUri, r.aor, r.aor, {
    callId: r.callId,
    cseq: r.cseq,
    fromTag: r.fromTag,
    routeSet: r.routeSet,
  }, r.extraHeaders);
  return new Promise((resolve) => {
    const done = (response: Core.IncomingResponse) => {
      const m = response.message;
      resolve({ statusCode: m.statusCode ?? 0, reasonPhrase: m.reasonPhrase ?? '', headers: (name) => m.getHeaders(name) });
    };
    const uac = core.register(message, { onAccept: done, onReject: done, onRedirect: done });
    (uac as unknown as { credentials?: unknown }).credentials = NO_CREDENTIALS;
  });
}
