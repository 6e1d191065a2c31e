/**
 * HMAC-SHA1 (RFC 2104) with the key's inner and outer pad states computed once per key
 * (RFC 2104 §4, "Implementation Note"), over SHA-1 as FIPS 180-4 §6.1 defines it. For the
 * ~80-byte STUN messages and ~180-byte SRTP packets of the hot paths this costs only the
 * remaining SHA-1 compressions, where node:crypto's createHmac pays its per-call setup again.
 * Output is identical to createHmac('sha1', key) (tested against it).
 */

const W = new Int32Array(80);
const BLOCK = new Uint8Array(64);
const STATE = new Int32Array(5);
const INNER_DIGEST = new Uint8Array(20);
const INNER_PIECES = [INNER_DIGEST];
const PATCH = new Uint8Array(2);

/** FIPS 180-4 §6.1.2 step 1-4: one compression of the 64 bytes of `b` at `at` into `h` (5 words). */
function compress(h: Int32Array, b: Uint8Array, at: number): void {
  for (let t = 0; t < 16; t++, at += 4) W[t] = (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
  for (let t = 16; t < 80; t++) {
    const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
    W[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!, bb = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!;
  let t = 0;
  for (; t < 20; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 40; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 60; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e - 0x70e44324 + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  for (; t < 80; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e - 0x359d3e2a + W[t]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = tmp;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + bb) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0; h[4] = (h[4]! + e) | 0;
}

/*
 * Streaming SHA-1 padding (FIPS 180-4 §5.1.1) over module-level state: begin(), then update()
 * with byte ranges, then endHash(). Synchronous from begin to endHash (nothing in between can run), so
 * one set of scratch variables serves every caller.
 */
let fill = 0;
let total = 0;
let target: Int32Array = STATE;

/** Starts a hash from state `h`, `done` bytes (a multiple of 64) already compressed into it. */
function begin(h: Int32Array, done: number): void {
  target = h; fill = 0; total = done;
}

/** Hashes bytes `from`..`to` of `p`. Bytes are copied one by one into BLOCK: a subarray of a Buffer allocates a FastBuffer. */
function update(p: Uint8Array, from: number, to: number): void {
  const h = target;
  let i = from;
  total += to - from;
  if (fill > 0) {
    while (fill < 64 && i < to) BLOCK[fill++] = p[i++]!;
    if (fill < 64) return;
    compress(h, BLOCK, 0); fill = 0;
  }
  for (; i + 64 <= to; i += 64) compress(h, p, i);
  while (i < to) BLOCK[fill++] = p[i++]!;
}

/** Pads and compresses the last block(s); the digest words are in the state given to begin(). */
function endHash(): void {
  const h = target;
  BLOCK[fill++] = 0x80;
  if (fill > 56) { BLOCK.fill(0, fill); compress(h, BLOCK, 0); fill = 0; }
  BLOCK.fill(0, fill, 56);
  const bits = total * 8;
  const hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
  BLOCK[56] = hi >>> 24; BLOCK[57] = hi >>> 16; BLOCK[58] = hi >>> 8; BLOCK[59] = hi;
  BLOCK[60] = lo >>> 24; BLOCK[61] = lo >>> 16; BLOCK[62] = lo >>> 8; BLOCK[63] = lo;
  compress(h, BLOCK, 0);
}

/** SHA-1 from state `h` (already `done` bytes hashed) over `pieces`, padded (FIPS 180-4 §5.1.1); result words in `h`. */
function finish(h: Int32Array, done: number, pieces: readonly Uint8Array[]): void {
  begin(h, done);
  for (let n = 0; n < pieces.length; n++) update(pieces[n]!, 0, pieces[n]!.length);
  endHash();
}

const SHA1_INIT = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

function sha1(data: Uint8Array): Uint8Array {
  const h = Int32Array.from(SHA1_INIT);
  finish(h, 0, [data]);
  return wordsToBytes(h, new Uint8Array(20), 0);
}

function wordsToBytes(h: Int32Array, out: Uint8Array, at: number): Uint8Array {
  for (let i = 0; i < 5; i++, at += 4) {
    const v = h[i]!;
    out[at] = v >>> 24; out[at + 1] = v >>> 16; out[at + 2] = v >>> 8; out[at + 3] = v;
  }
  return out;
}

/**
 * An HMAC-SHA1 key (RFC 2104 §2, B = 64, L = 20) with the SHA-1 states after the inner
 * (key XOR ipad) and outer (key XOR opad) blocks precomputed. Keys longer than 64 bytes are
 * hashed first (RFC 2104 §3). Any key length (including 0) is accepted; nothing throws.
 * Immutable after construction. mac() is synchronous and uses module-level scratch buffers, so
 * it must not be called from two threads sharing memory (it is not; each worker has its own module).
 */
export class HmacSha1Key {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);

  constructor(key: Uint8Array) {
    const k = new Uint8Array(64);
    k.set(key.length > 64 ? sha1(key) : key);
    const pad = new Uint8Array(64);
    for (let i = 0; i < 64; i++) pad[i] = k[i]! ^ 0x36;
    this.inner.set(SHA1_INIT); compress(this.inner, pad, 0);
    for (let i = 0; i < 64; i++) pad[i] = k[i]! ^ 0x5c;
    this.outer.set(SHA1_INIT); compress(this.outer, pad, 0);
  }

  /**
   * HMAC-SHA1 over the concatenation of `pieces` (hashed in order, never concatenated).
   * @returns the 20-byte MAC: written into `out` at `offset` when given (out must have 20 bytes
   *   there), else a new Buffer.
   */
  mac(pieces: readonly Uint8Array[], out?: Buffer, offset = 0): Buffer {
    STATE.set(this.inner);
    finish(STATE, 64, pieces);
    return this.outerOf(out, offset);
  }

  /**
   * HMAC-SHA1 over bytes 0..`end` of `data` read with the two bytes at `at` (at + 2 <= end) as the
   * big-endian 16-bit `value` instead of what is there: a STUN message hashed with its length field
   * adjusted (RFC 8489 §14.5), without a copy of the message or a view of it. `data` is not modified.
   * @returns the 20-byte MAC, into `out` at `offset` when given, else a new Buffer.
   */
  macPatched16(data: Uint8Array, end: number, at: number, value: number, out?: Buffer, offset = 0): Buffer {
    PATCH[0] = value >>> 8; PATCH[1] = value;
    STATE.set(this.inner);
    begin(STATE, 64);
    update(data, 0, at);
    update(PATCH, 0, 2);
    update(data, at + 2, end);
    endHash();
    return this.outerOf(out, offset);
  }

  /** The outer hash over the inner digest in STATE (RFC 2104 §2 step 5-7). */
  private outerOf(out: Buffer | undefined, offset: number): Buffer {
    wordsToBytes(STATE, INNER_DIGEST, 0);
    STATE.set(this.outer);
    finish(STATE, 64, INNER_PIECES);
    const result = out ?? Buffer.allocUnsafe(20);
    wordsToBytes(STATE, result, out ? offset : 0);
    return result;
  }
}

const KEYS = new WeakMap<Uint8Array, HmacSha1Key>();

/**
 * The HmacSha1Key for `key`, cached per key object (a WeakMap, so it lives as long as the key
 * Buffer does). The key's bytes must not change after the first call (the cached keys of
 * lib/stun/integrity.ts and SRTP session keys are never modified).
 */
export function hmacSha1Key(key: Uint8Array): HmacSha1Key {
  let k = KEYS.get(key);
  if (!k) { k = new HmacSha1Key(key); KEYS.set(key, k); }
  return k;
}
