/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1), on Node's `aes-128-ctr`.
 *
 * The 128-bit counter block for one packet is
 * ```
 *   IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
 *
 *   octet  0 1 2 3 | 4 5 6 7 | 8 9 10 11 12 13 | 14 15
 *          k_s ..............................  | 0  0     session salt, 112 bits, shifted left 16
 *                  | SSRC    |                 |          XORed into octets 4..7
 *                            | packet index i  |          48 bits, XORed into octets 8..13
 * ```
 * and block j of the keystream is AES(k_e, IV + j). Node's CTR mode adds j to the whole 128-bit
 * block as a big-endian integer; since the low 16 bits of the IV are zero this is the same as the
 * RFC's 16-bit block counter for up to 2^16 blocks (1 MiB), far beyond any UDP datagram.
 */
import { createCipheriv } from 'node:crypto';

/** AES block size in octets. */
export const AES_BLOCK_LENGTH = 16;
/** Largest SRTP packet index plus one (RFC 3711 §3.3.1: 48 bits). */
export const SRTP_INDEX_LIMIT = 2 ** 48;
/** Largest input one counter-mode call may transform (2^16 blocks, RFC 3711 §4.1.1). */
export const MAX_KEYSTREAM_LENGTH = AES_BLOCK_LENGTH * 2 ** 16;

/**
 * Builds the counter-mode IV of RFC 3711 §4.1.1 for one packet.
 * @param sessionSalt the 14-octet session salt k_s (SRTP or SRTCP, RFC 3711 §4.3.2).
 * @param ssrc 32-bit SSRC of the packet (for SRTCP, the sender SSRC of the first RTCP packet).
 * @param index 48-bit SRTP packet index, or the 31-bit SRTCP index.
 * @param out 16-octet buffer to write into (a new one by default).
 * @returns `out`.
 * @throws RangeError on a salt that is not 14 octets, an SSRC outside 32 bits or an index outside
 *   0..2^48-1 (programming errors: packet parsers never produce them).
 */
export function counterModeIv(sessionSalt: Buffer, ssrc: number, index: number, out: Buffer = Buffer.alloc(AES_BLOCK_LENGTH)): Buffer {
  if (sessionSalt.length !== 14) throw new RangeError(`session salt is ${sessionSalt.length} octets, expected 14`);
  if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffffffff) throw new RangeError(`SSRC ${ssrc} is not a 32-bit unsigned integer`);
  if (!Number.isInteger(index) || index < 0 || index >= SRTP_INDEX_LIMIT) throw new RangeError(`packet index ${index} is not in 0..2^48-1`);
  if (out.length !== AES_BLOCK_LENGTH) throw new RangeError(`IV buffer is ${out.length} octets, expected 16`);
  sessionSalt.copy(out, 0, 0, 14);
  out[14] = 0;
  out[15] = 0;
  out[4]! ^= ssrc >>> 24;
  out[5]! ^= (ssrc >>> 16) & 0xff;
  out[6]! ^= (ssrc >>> 8) & 0xff;
  out[7]! ^= ssrc & 0xff;
  const high = Math.floor(index / 2 ** 32); // top 16 bits of the 48-bit index
  const low = index >>> 0;
  out[8]! ^= high >>> 8;
  out[9]! ^= high & 0xff;
  out[10]! ^= low >>> 24;
  out[11]! ^= (low >>> 16) & 0xff;
  out[12]! ^= (low >>> 8) & 0xff;
  out[13]! ^= low & 0xff;
  return out;
}

/**
 * XORs `input` with the AES-CM keystream that starts at counter block `iv` and writes the result
 * into `output` at `outputOffset` (encryption and decryption are the same operation).
 * `input` and the output range may be the same memory.
 * @param key 16-octet AES-128 key (session encryption key, or the master key for the PRF).
 * @param iv 16-octet initial counter block.
 * @throws RangeError on a key or IV of the wrong size, more than 2^16 blocks of input, or an output
 *   range that does not fit.
 */
export function aesCmXor(key: Buffer, iv: Buffer, input: Uint8Array, output: Buffer, outputOffset = 0): void {
  if (key.length !== 16) throw new RangeError(`AES-128 key is ${key.length} octets, expected 16`);
  if (iv.length !== AES_BLOCK_LENGTH) throw new RangeError(`counter block is ${iv.length} octets, expected 16`);
  if (input.length > MAX_KEYSTREAM_LENGTH) throw new RangeError(`${input.length} octets exceed the 2^16-block keystream of one IV`);
  if (outputOffset < 0 || outputOffset + input.length > output.length) {
    throw new RangeError(`output range ${outputOffset}+${input.length} exceeds ${output.length} octets`);
  }
  if (input.length === 0) return;
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const transformed = cipher.update(input);
  transformed.copy(output, outputOffset);
  // CTR is a stream mode: final() yields nothing, but it releases the context deterministically.
  cipher.final();
}

/**
 * The first `length` octets of AES-CM keystream from `iv` (the keystream XOR zeros): what the
 * RFC 3711 §4.3.3 PRF outputs and what the Appendix B.2 vectors list.
 */
export function aesCmKeystream(key: Buffer, iv: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  aesCmXor(key, iv, out, out, 0);
  return out;
}
