import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { hmacSha1Key } from '../base/hmac-sha1.js';
import { FINGERPRINT_XOR, StunAttr, attributeOffset, crc32Patched16, padTo64, type StunMessage } from './message.js';

/**
 * STUN message authentication and FINGERPRINT: keys (RFC 8489 §9.1.1, §9.2.2) and
 * verification of MESSAGE-INTEGRITY (§14.5), MESSAGE-INTEGRITY-SHA256 (§14.6) and
 * FINGERPRINT (§14.7) over the bytes a message was decoded from. Generation happens in
 * StunMessage.encode().
 */

/**
 * RFC 8489 §9.1.1 short-term key: key = OpaqueString(password).
 * Simplification: the UTF-8 bytes of `password` as given, without the RFC 8265 OpaqueString
 * preparation (NFC, non-ASCII space mapping). ICE passwords (RFC 8445 §5.3, ice-chars) are
 * ASCII, for which the two are identical.
 */
export function shortTermKey(password: string): Buffer {
  // The most recently used key is already last in the LRU order: nothing to move.
  if (password === lastPassword) return lastKey!;
  let key = SHORT_TERM_KEYS.get(password);
  if (key) {
    // Most recently used last, so the oldest entry is the first one evicted.
    SHORT_TERM_KEYS.delete(password);
  } else {
    key = Buffer.from(password, 'utf8');
    if (SHORT_TERM_KEYS.size >= SHORT_TERM_KEY_CACHE) SHORT_TERM_KEYS.delete(SHORT_TERM_KEYS.keys().next().value!);
  }
  SHORT_TERM_KEYS.set(password, key);
  lastPassword = password;
  lastKey = key;
  return key;
}

/** The last password asked for and its key (an ICE agent asks for the same one per check, twice). */
let lastPassword: string | undefined;
let lastKey: Buffer | undefined;

/**
 * Keys of the passwords in use (RFC 8489 §9.1.1: the key is derived from the password alone, so
 * it is computed once per password, not per message): the ICE agents' local and remote
 * passwords of the calls in progress. Least recently used first; bounded, so a process that
 * handles millions of calls keeps at most this many. The Buffers are shared: read-only.
 */
const SHORT_TERM_KEYS = new Map<string, Buffer>();
const SHORT_TERM_KEY_CACHE = 4096;

/** How many short-term keys are cached (for tests and leak checks). */
export function shortTermKeyCacheSize(): number {
  return SHORT_TERM_KEYS.size;
}

/**
 * RFC 8489 §9.2.2 long-term key: MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)),
 * or SHA-256 of the same string when PASSWORD-ALGORITHM is SHA-256 (§18.5.1).
 * Simplification as in shortTermKey: strings are used as UTF-8 without preparation, so the
 * caller passes the prepared password (RFC 5769 §2.4's SASLprep'd "TheMatrIX", for example).
 */
export function longTermKey(username: string, realm: string, password: string, algorithm: 'md5' | 'sha256' = 'md5'): Buffer {
  return createHash(algorithm).update(Buffer.from(`${username}:${realm}:${password}`, 'utf8')).digest();
}

/**
 * The decoded bytes up to (not including) the attribute at `offset`, with the header length
 * field adjusted to end `attributeLength` bytes after it (RFC 8489 §14.5-§14.7), as three
 * pieces: bytes 0-1 of `raw`, the adjusted length, bytes 4..offset of `raw` (views, no copy of
 * the message). Hash them in order.
 */
function adjustedPrefix(raw: Buffer, offset: number, attributeLength: number): [Buffer, Buffer, Buffer] {
  // One shared 2-byte buffer for the length: every caller hashes the pieces before it returns
  // (synchronously), so no two uses overlap. Buffer.concat of the pieces copies it.
  ADJUSTED_LENGTH.writeUInt16BE(offset + attributeLength - 20, 0);
  return [raw.subarray(0, 2), ADJUSTED_LENGTH, raw.subarray(4, offset)];
}

const ADJUSTED_LENGTH = Buffer.alloc(2);

function hmacOf(algorithm: 'sha1' | 'sha256', key: Buffer, pieces: Buffer[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const p of pieces) h.update(p);
  return h.digest();
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * RFC 8489 §14.5: HMAC-SHA1 over the message up to the attribute preceding
 * MESSAGE-INTEGRITY, with the length field "adjusted to point to the end of the
 * MESSAGE-INTEGRITY attribute". For an RFC 3489 (legacy) message the RFC 3489 §11.2.8 form is
 * also accepted: the same text zero-padded to a multiple of 64 bytes (length field as sent).
 * Compared in constant time.
 * @returns false when the message has no `raw` bytes, no MESSAGE-INTEGRITY, or a mismatch.
 */
export function verifyMessageIntegrity(msg: StunMessage, key: Buffer): boolean {
  const raw = msg.raw;
  const value = msg.get(StunAttr.MESSAGE_INTEGRITY);
  if (!raw || !value || value.length !== 20) return false;
  const offset = attributeOffset(raw, StunAttr.MESSAGE_INTEGRITY);
  if (offset === undefined) return false;
  // Cached inner/outer pad states per key (lib/base/hmac-sha1.ts), over the received bytes with the
  // length field read as adjusted: no copy and no view of the message. The MAC goes to a scratch
  // buffer, compared at once.
  hmacSha1Key(key).macPatched16(raw, offset, 2, offset + 24 - 20, MAC_SCRATCH, 0);
  if (equal20(MAC_SCRATCH, value)) return true;
  if (!msg.legacy) return false;
  const prefix = adjustedPrefix(raw, offset, 24);
  const asSent = Buffer.from(raw.subarray(0, offset));
  return sameBytes(createHmac('sha1', key).update(padTo64(asSent)).digest(), value)
    || sameBytes(createHmac('sha1', key).update(padTo64(Buffer.concat(prefix))).digest(), value);
}

/** Where verifyMessageIntegrity puts the MAC it computes (read before it returns). */
const MAC_SCRATCH = Buffer.alloc(20);

/** Constant-time equality of two 20-byte MACs (no early exit: every byte is compared). */
function equal20(a: Uint8Array, b: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < 20; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * RFC 8489 §14.6: HMAC-SHA256 over the message up to the attribute preceding
 * MESSAGE-INTEGRITY-SHA256 (which covers MESSAGE-INTEGRITY if present), length adjusted; the
 * received value may be truncated to 16..32 bytes and is compared with the same prefix.
 * @returns false when absent, no `raw`, or a mismatch.
 */
export function verifyMessageIntegritySha256(msg: StunMessage, key: Buffer): boolean {
  const raw = msg.raw;
  const value = msg.get(StunAttr.MESSAGE_INTEGRITY_SHA256);
  if (!raw || !value || value.length < 16 || value.length > 32 || value.length % 4 !== 0) return false;
  const offset = attributeOffset(raw, StunAttr.MESSAGE_INTEGRITY_SHA256);
  if (offset === undefined) return false;
  const mac = hmacOf('sha256', key, adjustedPrefix(raw, offset, 4 + value.length));
  return sameBytes(mac.subarray(0, value.length), value);
}

/**
 * RFC 8489 §14.7: CRC-32 of the message up to FINGERPRINT (length field including
 * FINGERPRINT), XOR 0x5354554e.
 * @returns false when absent, no `raw`, or a mismatch.
 */
export function verifyFingerprint(msg: StunMessage): boolean {
  const raw = msg.raw;
  const value = msg.get(StunAttr.FINGERPRINT);
  if (!raw || !value || value.length !== 4) return false;
  const offset = attributeOffset(raw, StunAttr.FINGERPRINT);
  if (offset === undefined) return false;
  const expected = (crc32Patched16(raw, offset, 2, offset + 8 - 20) ^ FINGERPRINT_XOR) >>> 0;
  return value.readUInt32BE(0) === expected;
}
