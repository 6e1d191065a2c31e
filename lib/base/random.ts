/**
 * Small random values from a pool of CSPRNG output (node:crypto randomFillSync, 4 KiB at a time),
 * each byte handed out once. Per call icephone draws a few small values (RTP SSRC, timestamp base and
 * CNAME, RFC 3550 §5.1/§6.5.1; the ICE tie-breaker, RFC 8445 §5.2); `crypto.randomBytes(4)` costs a
 * native call and a Buffer each time, about 1.5% of the answerer's CPU under SIPp load (issue 14).
 * The bytes are as unpredictable as randomBytes' own. Keys (SRTP master keys, ICE passwords) keep
 * using node:crypto directly.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let used = POOL_BYTES;

function take(n: number): number {
  if (n > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at once, asked for ${n}`);
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const at = used;
  used += n;
  return at;
}

/** A uniformly random unsigned 32-bit integer. */
export function randomUint32(): number {
  return pool.readUInt32BE(take(4));
}

/** A uniformly random unsigned 64-bit integer. */
export function randomUint64(): bigint {
  return pool.readBigUInt64BE(take(8));
}

/** `n` random bytes (n <= 4096) in a new Buffer. @throws RangeError for larger n */
export function randomBytesPooled(n: number): Buffer {
  const at = take(n);
  return Buffer.from(pool.subarray(at, at + n));
}
