import { sameAddress, type TransportAddress } from '../net/socket.js';
import { shortTermKey, verifyFingerprint, verifyMessageIntegrity } from '../stun/integrity.js';
import { hmacSha1Key } from '../base/hmac-sha1.js';
import { FAMILY_IPV4, FAMILY_IPV6, ipBytesCached } from '../stun/attributes.js';
import { FINGERPRINT_XOR, MAGIC_COOKIE, StunAttr, StunMessage, StunMethod, crc32Patched16, encodeMessageType } from '../stun/message.js';
import type { IceRole } from './candidate-pair.js';

/**
 * The STUN side of ICE connectivity checks (RFC 8445 §7): building Binding requests,
 * judging incoming ones (RFC 8489 §9.1.3 short-term credentials, RFC 8445 §7.3.1.1 role
 * conflicts), building responses and judging responses (§7.2.5). Pure: the agent does the I/O.
 */

export interface CheckRequestParams {
  localUfrag: string;
  remoteUfrag: string;
  /** RFC 8445 §7.1.1: the priority a peer-reflexive candidate from this check would get. */
  priority: number;
  role: IceRole;
  tieBreaker: bigint;
  /** RFC 8445 §7.1.2: set by the controlling agent to nominate. */
  useCandidate?: boolean;
  transactionId?: Buffer;
}

/**
 * RFC 8445 §7.2.2: a Binding request with USERNAME "RFRAG:LFRAG" (remote ufrag first),
 * PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED with the tie-breaker, and USE-CANDIDATE when
 * nominating. MESSAGE-INTEGRITY (key: the remote password) and FINGERPRINT are added when
 * encoding (the transaction manager does so with `integrityKey` and `fingerprint`).
 */
export function buildCheckRequest(p: CheckRequestParams): StunMessage {
  const msg = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: p.transactionId });
  msg.addUsername(`${p.remoteUfrag}:${p.localUfrag}`);
  msg.addPriority(p.priority);
  if (p.role === 'controlling') msg.addIceControlling(p.tieBreaker);
  else msg.addIceControlled(p.tieBreaker);
  if (p.useCandidate) msg.addUseCandidate();
  return msg;
}

export type IncomingCheckVerdict =
  | { kind: 'accept'; remoteUfrag: string; priority: number; useCandidate: boolean; controlling?: bigint; controlled?: bigint }
  | { kind: 'reject'; code: 400 | 401 | 420; reason: string; unknownAttributes?: number[]; integrityFailure: boolean; authenticated: boolean }
  | { kind: 'drop'; reason: string };

export interface LocalCredentials {
  localUfrag: string;
  localPwd: string;
  /** Known once signalled; checks may arrive before (RFC 8445 §7.3, then only LFRAG is checked). */
  remoteUfrag?: string;
}

/**
 * Judges an incoming Binding request (RFC 8445 §7.3, RFC 8489 §9.1.3):
 * - FINGERPRINT present and wrong: not a STUN packet for us, dropped (RFC 8489 §7.3);
 * - not a Binding request: 400;
 * - USERNAME or MESSAGE-INTEGRITY missing: "reject the request with an error response ...
 *   code 400 (Bad Request)";
 * - USERNAME not "LFRAG:RFRAG" with our LFRAG (and RFRAG the signalled one when known):
 *   "reject the request with an error response ... 401 (Unauthenticated)";
 * - MESSAGE-INTEGRITY not matching our password: 401;
 * - unknown comprehension-required attributes: 420 (RFC 8489 §6.3.1), after authentication;
 * - PRIORITY missing: 400 (RFC 8445 §7.1.1 makes it mandatory).
 */
export function judgeIncomingCheck(msg: StunMessage, creds: LocalCredentials): IncomingCheckVerdict {
  if (msg.has(StunAttr.FINGERPRINT) && !verifyFingerprint(msg)) return { kind: 'drop', reason: 'FINGERPRINT mismatch' };
  if (msg.legacy) return { kind: 'drop', reason: 'RFC 3489 request (no magic cookie)' };
  if (msg.method !== StunMethod.Binding) {
    return { kind: 'reject', code: 400, reason: 'Bad Request: only Binding', integrityFailure: false, authenticated: false };
  }
  const username = msg.getUsername();
  if (username === undefined || !msg.has(StunAttr.MESSAGE_INTEGRITY)) {
    return { kind: 'reject', code: 400, reason: 'Bad Request: USERNAME and MESSAGE-INTEGRITY required', integrityFailure: false, authenticated: false };
  }
  const colon = username.indexOf(':');
  const lfrag = colon < 0 ? username : username.slice(0, colon);
  const rfrag = colon < 0 ? '' : username.slice(colon + 1);
  if (colon < 0 || lfrag !== creds.localUfrag || (creds.remoteUfrag !== undefined && rfrag !== creds.remoteUfrag)) {
    return { kind: 'reject', code: 401, reason: 'Unauthenticated: unknown USERNAME', integrityFailure: false, authenticated: false };
  }
  if (!verifyMessageIntegrity(msg, shortTermKey(creds.localPwd))) {
    return { kind: 'reject', code: 401, reason: 'Unauthenticated: MESSAGE-INTEGRITY mismatch', integrityFailure: true, authenticated: false };
  }
  const unknown = msg.unknownComprehensionRequired();
  if (unknown.length > 0) {
    return { kind: 'reject', code: 420, reason: 'Unknown Attribute', unknownAttributes: unknown, integrityFailure: false, authenticated: true };
  }
  let priority: number | undefined;
  let controlling: bigint | undefined;
  let controlled: bigint | undefined;
  try {
    priority = msg.getPriority();
    controlling = msg.getIceControlling();
    controlled = msg.getIceControlled();
  } catch {
    priority = undefined;
  }
  if (priority === undefined) {
    return { kind: 'reject', code: 400, reason: 'Bad Request: PRIORITY missing or malformed', integrityFailure: false, authenticated: true };
  }
  return { kind: 'accept', remoteUfrag: rfrag, priority, useCandidate: msg.has(StunAttr.USE_CANDIDATE), controlling, controlled };
}

export type RoleConflictResolution = 'none' | 'reject-487' | 'switch-to-controlled' | 'switch-to-controlling';

/**
 * RFC 8445 §7.3.1.1:
 * - we are controlling and the request has ICE-CONTROLLING: "If the agent's tiebreaker value
 *   is larger than or equal to the contents of the ICE-CONTROLLING attribute, the agent
 *   generates a Binding error response and includes an ERROR-CODE attribute with a value of
 *   487 (Role Conflict)"; otherwise "the agent MUST switch to the controlled role";
 * - we are controlled and the request has ICE-CONTROLLED: "If the agent's tiebreaker value is
 *   larger than or equal to the contents of the ICE-CONTROLLED attribute, the agent switches
 *   to the controlling role"; otherwise 487.
 */
export function resolveRoleConflict(role: IceRole, tieBreaker: bigint, remote: { controlling?: bigint; controlled?: bigint }): RoleConflictResolution {
  if (role === 'controlling' && remote.controlling !== undefined) {
    return tieBreaker >= remote.controlling ? 'reject-487' : 'switch-to-controlled';
  }
  if (role === 'controlled' && remote.controlled !== undefined) {
    return tieBreaker >= remote.controlled ? 'switch-to-controlling' : 'reject-487';
  }
  return 'none';
}

/**
 * RFC 8445 §7.3.1.2 success response: XOR-MAPPED-ADDRESS = the request's source. Encoded with
 * MESSAGE-INTEGRITY (our password, §7.3.1.2 "the same password as the request") and FINGERPRINT.
 *
 * The bytes are those of the general encoder (StunMessage.encode with `integrityKey` and
 * `fingerprint`; tested byte for byte), written straight into one Buffer of the final size:
 * 20-byte header (RFC 8489 §5), XOR-MAPPED-ADDRESS (§14.2: 12 bytes for IPv4, 24 for IPv6),
 * MESSAGE-INTEGRITY (§14.5: 24 bytes, HMAC-SHA1 over the header and XOR-MAPPED-ADDRESS with the
 * length field adjusted to end after it), FINGERPRINT (§14.7: 8 bytes, CRC-32 of all before it XOR
 * 0x5354554e). 64 bytes for an IPv4 source, 76 for IPv6.
 * @throws RangeError when `source` is not an IP literal and port 0..65535, or the request's
 *   transaction ID is not 12 bytes (an RFC 3489 request: answer those with stun/legacy.ts).
 */
export function encodeSuccessResponse(request: StunMessage, source: { address: string; port: number }, localPwd: string): Buffer {
  const tid = request.transactionId;
  if (tid.length !== 12) {
    // The general encoder says what is wrong (an RFC 3489 transaction ID).
    return encodeSuccessResponseGeneral(request, source, localPwd);
  }
  const port = source.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port ${port} not in 0..65535`);
  const ip = ipBytesCached(source.address);
  const ipLength = ip.length;
  const integrityAt = 28 + ipLength; // header, XOR-MAPPED-ADDRESS type/length, reserved/family/port, address
  const fingerprintAt = integrityAt + 24;
  const total = fingerprintAt + 8;
  const out = Buffer.allocUnsafe(total); // every byte is written below
  out.writeUInt16BE(encodeMessageType(request.method, 'success'), 0);
  out.writeUInt16BE(total - 20, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  for (let i = 0; i < 12; i++) out[8 + i] = tid[i]!;
  // RFC 8489 §14.2: X-Port = port XOR the cookie's top 16 bits; X-Address = address XOR the cookie
  // (IPv4) or the cookie and transaction ID (IPv6), which are bytes 4..19 of this very header.
  out.writeUInt16BE(StunAttr.XOR_MAPPED_ADDRESS, 20);
  out.writeUInt16BE(4 + ipLength, 22);
  out[24] = 0;
  out[25] = ipLength === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  out.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 26);
  for (let i = 0; i < ipLength; i++) out[28 + i] = ip[i]! ^ out[4 + i]!;
  // RFC 8489 §14.5: the HMAC input has the length "adjusted to point to the end of the MESSAGE-INTEGRITY attribute".
  out.writeUInt16BE(StunAttr.MESSAGE_INTEGRITY, integrityAt);
  out.writeUInt16BE(20, integrityAt + 2);
  hmacSha1Key(shortTermKey(localPwd)).macPatched16(out, integrityAt, 2, integrityAt + 24 - 20, out, integrityAt + 4);
  // RFC 8489 §14.7: FINGERPRINT is last, so its adjusted length is the final one, already in place.
  const crc = (crc32Patched16(out, fingerprintAt, 2, total - 20) ^ FINGERPRINT_XOR) >>> 0;
  out.writeUInt16BE(StunAttr.FINGERPRINT, fingerprintAt);
  out.writeUInt16BE(4, fingerprintAt + 2);
  out.writeUInt32BE(crc, fingerprintAt + 4);
  return out;
}

/** encodeSuccessResponse by way of the general encoder (StunMessage.encode), for what the direct one does not write. */
function encodeSuccessResponseGeneral(request: StunMessage, source: { address: string; port: number }, localPwd: string): Buffer {
  const res = new StunMessage({ method: request.method, messageClass: 'success', transactionId: request.transactionId });
  res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, source);
  return res.encode({ integrityKey: shortTermKey(localPwd), fingerprint: true });
}

/**
 * An error response. 400 and 401 carry no MESSAGE-INTEGRITY (RFC 8489 §9.1.3: the request
 * was not authenticated); others (420, 487) are signed with our password when given.
 */
export function encodeErrorResponse(request: StunMessage, code: number, reason: string, opts: { localPwd?: string; unknownAttributes?: number[] } = {}): Buffer {
  const res = new StunMessage({ method: request.method, messageClass: 'error', transactionId: request.transactionId });
  res.addErrorCode(code, reason);
  if (opts.unknownAttributes?.length) res.addUnknownAttributes(opts.unknownAttributes);
  const sign = code !== 400 && code !== 401 && opts.localPwd !== undefined;
  return res.encode({ integrityKey: sign ? shortTermKey(opts.localPwd!) : undefined, fingerprint: true });
}

/** RFC 8445 §11: keepalive as a Binding indication (no integrity needed), with FINGERPRINT. */
export function encodeKeepalive(): Buffer {
  return new StunMessage({ method: StunMethod.Binding, messageClass: 'indication' }).encode({ fingerprint: true });
}

export type ResponseAuthentication = 'ok' | 'bad-integrity' | 'unauthenticated-error';

/**
 * RFC 8489 §9.1.4: a response to a check must carry MESSAGE-INTEGRITY valid with the
 * password the request used (the remote password); a wrong one is discarded. Error
 * responses 400/401 without MESSAGE-INTEGRITY are accepted as 'unauthenticated-error'.
 */
export function authenticateResponse(response: StunMessage, remotePwd: string): ResponseAuthentication {
  if (response.has(StunAttr.FINGERPRINT) && !verifyFingerprint(response)) return 'bad-integrity';
  if (!response.has(StunAttr.MESSAGE_INTEGRITY)) {
    if (response.messageClass === 'error') {
      const code = safeErrorCode(response);
      if (code === 400 || code === 401) return 'unauthenticated-error';
    }
    return 'bad-integrity';
  }
  return verifyMessageIntegrity(response, shortTermKey(remotePwd)) ? 'ok' : 'bad-integrity';
}

function safeErrorCode(msg: StunMessage): number | undefined {
  try {
    return msg.getErrorCode()?.code;
  } catch {
    return undefined;
  }
}

export type CheckOutcome =
  | { kind: 'success'; mapped: TransportAddress }
  | { kind: 'role-conflict' }
  | { kind: 'failure'; reason: string };

/**
 * RFC 8445 §7.2.5: the result of a check from its (authenticated) response.
 * §7.2.5.2.1: "The ICE agent MUST check that the source and destination transport
 * addresses in the Binding request and response are symmetric ... If the addresses are not
 * symmetric, the agent MUST set the candidate pair state to Failed."
 * §7.2.5.1: a 487 asks the agent to switch roles and retry; §7.2.5.2.4: other errors fail the pair.
 */
export function judgeCheckResponse(
  response: StunMessage,
  from: { address: string; port: number },
  sentTo: { address: string; port: number },
  arrivedOnSendingSocket: boolean,
): CheckOutcome {
  if (!arrivedOnSendingSocket || !sameAddress(from, sentTo)) {
    return { kind: 'failure', reason: `asymmetric response from ${from.address}:${from.port} (sent to ${sentTo.address}:${sentTo.port}${arrivedOnSendingSocket ? '' : ', other socket'})` };
  }
  if (response.messageClass === 'error') {
    const code = safeErrorCode(response);
    if (code === 487) return { kind: 'role-conflict' };
    return { kind: 'failure', reason: `error response ${code ?? 'without ERROR-CODE'}` };
  }
  let mapped: TransportAddress | undefined;
  try {
    mapped = response.getXorMappedAddress();
  } catch {
    mapped = undefined;
  }
  if (!mapped) return { kind: 'failure', reason: 'success response without a valid XOR-MAPPED-ADDRESS' };
  return { kind: 'success', mapped };
}

/** ICE ufrag/pwd alphabet, RFC 8839 §5.4 ice-char = ALPHA / DIGIT / "+" / "/". */
export const ICE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
