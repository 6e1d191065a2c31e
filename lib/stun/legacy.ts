/**
 * The RFC 3489 ("classic STUN") forms of Binding used by draft-era ICE peers
 * (draft-rosenberg-sipping-ice-01 §5.2, §5.5): no magic cookie, a 128-bit transaction ID,
 * MAPPED-ADDRESS, USERNAME and PASSWORD taken from the peer's `a=alt` line, MESSAGE-INTEGRITY
 * keyed with that password (RFC 3489 §11.2.8: HMAC-SHA1 over the message zero-padded to a
 * multiple of 64 bytes; `StunMessage.encode` does the padding for `legacy` messages).
 *
 * Pure: builders, a judge for incoming requests and the §5.5 retry rule. The I/O is done by
 * lib/stun/server.ts (answering) and lib/ice/alt-agent.ts (checking).
 */
import { sameAddress, type TransportAddress } from '../net/socket.js';
import { shortTermKey, verifyMessageIntegrity } from './integrity.js';
import { StunAttr, StunMessage, StunMethod } from './message.js';

/** RFC 3489 §11.2.9 response codes and phrases used here. */
export const LEGACY_ERROR_REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  420: 'Unknown Attribute',
  430: 'Stale Credentials',
  431: 'Integrity Check Failure',
  432: 'Missing Username',
  433: 'Use TLS',
  500: 'Server Error',
  600: 'Global Failure',
};

/**
 * draft-rosenberg-sipping-ice-01 §5.5: a Binding request to an alternate's STUN server. "This
 * BindingRequest MUST contain the USERNAME attribute ... MUST contain a PASSWORD attribute ...
 * MUST contain a MESSAGE-INTEGRITY attribute, computed using the username and password from the
 * alt attribute" and "MUST NOT contain the CHANGE-REQUEST or RESPONSE-ADDRESS attribute".
 * Encode with `integrityKey: legacyKey(password)`.
 */
export function buildLegacyBindingRequest(credentials: { username: string; password: string }, transactionId?: Buffer): StunMessage {
  const msg = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', legacy: true, transactionId });
  msg.addUsername(credentials.username);
  msg.add(StunAttr.PASSWORD, Buffer.from(credentials.password, 'utf8'));
  return msg;
}

/** RFC 3489 §11.2.8: the HMAC key is the shared secret (here the alternate's password). */
export function legacyKey(password: string): Buffer {
  return shortTermKey(password);
}

export type LegacyRequestVerdict<T> =
  | { kind: 'accept'; credential: T }
  | { kind: 'reject'; code: 400 | 401 | 420 | 430 | 431 | 432; reason: string; unknownAttributes?: number[] };

/**
 * Judges an incoming Binding request against the credentials handed out for this dialog
 * (draft §5.2: the server "MUST only accept STUN requests from clients that authenticate using
 * the username and password handed out for the dialog"), with RFC 3489 §8.2.2's codes:
 * - not a Binding request, or CHANGE-REQUEST with a flag set, or RESPONSE-ADDRESS: 400
 *   (draft §5.2: "the server SHOULD reject any requests with these flags set");
 * - no MESSAGE-INTEGRITY: 401; MESSAGE-INTEGRITY without USERNAME: 432;
 * - a USERNAME we did not hand out in this dialog (another dialog's, the §5.2 B/C collision): 430;
 * - MESSAGE-INTEGRITY not valid with that username's password, or a PASSWORD attribute that is not
 *   that password: 431;
 * - unknown comprehension-required attributes (below 0x8000): 420.
 * Requests in the RFC 5389/8489 form (with magic cookie) are judged the same way, so a peer that
 * moved on to the newer encoding is still served.
 */
export function judgeLegacyRequest<T extends { password: string }>(msg: StunMessage, lookup: (username: string) => T | undefined): LegacyRequestVerdict<T> {
  if (msg.method !== StunMethod.Binding || msg.messageClass !== 'request') return { kind: 'reject', code: 400, reason: 'Bad Request: only Binding requests' };
  const change = msg.get(StunAttr.CHANGE_REQUEST);
  if (change !== undefined && (change.length !== 4 || (change.readUInt32BE(0) & 0x6) !== 0)) {
    return { kind: 'reject', code: 400, reason: 'Bad Request: CHANGE-REQUEST flags not supported' };
  }
  if (msg.has(StunAttr.RESPONSE_ADDRESS)) return { kind: 'reject', code: 400, reason: 'Bad Request: RESPONSE-ADDRESS not supported' };
  const hasIntegrity = msg.has(StunAttr.MESSAGE_INTEGRITY);
  const username = msg.getUsername();
  if (!hasIntegrity) return { kind: 'reject', code: 401, reason: 'Unauthorized: MESSAGE-INTEGRITY required' };
  if (username === undefined) return { kind: 'reject', code: 432, reason: 'Missing Username' };
  const credential = lookup(username);
  if (credential === undefined) return { kind: 'reject', code: 430, reason: 'Stale Credentials: unknown USERNAME' };
  if (!verifyMessageIntegrity(msg, legacyKey(credential.password))) return { kind: 'reject', code: 431, reason: 'Integrity Check Failure' };
  const password = msg.get(StunAttr.PASSWORD);
  if (password !== undefined && password.toString('utf8') !== credential.password) return { kind: 'reject', code: 431, reason: 'Integrity Check Failure: PASSWORD mismatch' };
  const unknown = msg.unknownComprehensionRequired().filter((t) => t !== StunAttr.PASSWORD && t !== StunAttr.CHANGE_REQUEST);
  if (unknown.length > 0) return { kind: 'reject', code: 420, reason: 'Unknown Attribute', unknownAttributes: unknown };
  return { kind: 'accept', credential };
}

/**
 * RFC 3489 §8.2.1 Binding response: MAPPED-ADDRESS = the request's source, SOURCE-ADDRESS = the
 * address it arrived on; MESSAGE-INTEGRITY with the same key because the request had it (§8.2.2).
 * A request in the newer form also gets XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
 */
export function encodeLegacySuccessResponse(request: StunMessage, source: { address: string; port: number }, receivedOn: { address: string; port: number }, password: string): Buffer {
  const res = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: request.transactionId, legacy: request.legacy });
  res.addMappedAddress(StunAttr.MAPPED_ADDRESS, source);
  res.addMappedAddress(StunAttr.SOURCE_ADDRESS, receivedOn);
  if (!request.legacy) res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, source);
  return res.encode({ integrityKey: legacyKey(password) });
}

/** RFC 3489 §8.2.2 Binding error response; signed only when the request authenticated (`password`). */
export function encodeLegacyErrorResponse(request: StunMessage, code: number, reason: string, opts: { password?: string; unknownAttributes?: number[] } = {}): Buffer {
  const res = new StunMessage({ method: request.method, messageClass: 'error', transactionId: request.transactionId, legacy: request.legacy });
  res.addErrorCode(code, reason);
  if (opts.unknownAttributes?.length) res.addUnknownAttributes(opts.unknownAttributes);
  return res.encode({ integrityKey: opts.password !== undefined ? legacyKey(opts.password) : undefined });
}

/**
 * draft §5.5: "If it is 401, 430, 432 or 500, the client SHOULD retry the request, applying any
 * appropriate fixes specified by the error code. In the case of 400, 431 and 600, the client MUST
 * NOT retry. This case is treated identically to a timeout". Other codes (420, 433, 3xx) are not
 * listed; with no fix we can apply they are treated like the second group.
 */
export function legacyErrorDisposition(code: number | undefined): 'retry' | 'fail' {
  return code === 401 || code === 430 || code === 432 || code === 500 ? 'retry' : 'fail';
}

export type LegacyCheckOutcome =
  | { kind: 'success'; mapped: TransportAddress }
  | { kind: 'error'; code: number | undefined; disposition: 'retry' | 'fail'; reason: string }
  | { kind: 'invalid'; reason: string };

/**
 * Judges the response to a check. A success response counts only when it carries
 * MESSAGE-INTEGRITY valid with the alternate's password (the only proof that the server we
 * reached is the peer that handed the password out, §5.2) and a MAPPED-ADDRESS (or
 * XOR-MAPPED-ADDRESS); it must come from where the request was sent (a response from anywhere else
 * says nothing about this path). Anything else that is not an error is `invalid` (treated as
 * no response: the transaction keeps waiting).
 */
export function judgeLegacyResponse(response: StunMessage, from: { address: string; port: number }, sentTo: { address: string; port: number }, password: string): LegacyCheckOutcome {
  if (!sameAddress(from, sentTo)) return { kind: 'invalid', reason: `response from ${from.address}:${from.port}, request went to ${sentTo.address}:${sentTo.port}` };
  if (response.messageClass === 'error') {
    let code: number | undefined;
    try {
      code = response.getErrorCode()?.code;
    } catch {
      code = undefined;
    }
    return { kind: 'error', code, disposition: legacyErrorDisposition(code), reason: `error response ${code ?? 'without ERROR-CODE'}` };
  }
  if (!response.has(StunAttr.MESSAGE_INTEGRITY) || !verifyMessageIntegrity(response, legacyKey(password))) {
    return { kind: 'invalid', reason: 'success response without valid MESSAGE-INTEGRITY' };
  }
  let mapped: TransportAddress | undefined;
  try {
    mapped = response.reflexiveAddress();
  } catch {
    mapped = undefined;
  }
  if (!mapped) return { kind: 'invalid', reason: 'success response without MAPPED-ADDRESS' };
  return { kind: 'success', mapped };
}
