/**
 * ITU-T G.711 companding: 16-bit linear PCM <-> 8-bit mu-law (PCMU, RTP payload type 0)
 * and A-law (PCMA, payload type 8), as used by RFC 3551 §4.5.14.
 *
 * G.711 is defined on 14-bit (mu-law) and 13-bit (A-law) linear magnitudes; 16-bit input is
 * scaled down by 2 and 3 bits and decoded values are scaled back up, so decode(encode(x))
 * lands on the middle of x's quantization interval. The encodings are computed, not tabulated,
 * except for 256-entry decode tables built once at load time.
 */

/** mu-law bias (33 in 14-bit units, 132 in 16-bit units): G.711 Table 2a segment offsets. */
const MULAW_BIAS = 0x84;
/** Largest 16-bit magnitude that mu-law encodes without clipping (32635 + 132 = 0x7FFF). */
const MULAW_CLIP = 32635;

/** Encodes one 16-bit linear sample as a mu-law octet (bits inverted as G.711 prescribes). */
export function linearToMulaw(sample: number): number {
  let magnitude = sample | 0;
  let sign = 0;
  if (magnitude < 0) {
    sign = 0x80;
    magnitude = -magnitude;
  }
  if (magnitude > MULAW_CLIP) magnitude = MULAW_CLIP;
  magnitude += MULAW_BIAS;
  // Segment (exponent) = index of the highest set bit above bit 7, 0..7.
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Decodes one mu-law octet to a 16-bit linear sample (range -32124..32124). */
export function mulawToLinear(octet: number): number {
  const u = ~octet & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

/** Encodes one 16-bit linear sample as an A-law octet (even bits inverted, XOR 0x55). */
export function linearToAlaw(sample: number): number {
  // Work on the 13-bit value G.711 defines A-law over.
  let value = (sample | 0) >> 3;
  let mask: number;
  if (value >= 0) {
    mask = 0xd5; // sign bit 1 for positive, then the 0x55 inversion
  } else {
    mask = 0x55;
    value = -value - 1; // one's complement: -1 maps to magnitude 0
  }
  if (value > 0x0fff) value = 0x0fff;
  let code: number;
  if (value < 0x20) {
    // Segment 0 (and the linear part of segment 1): step of 2 in 13-bit units.
    code = value >> 1;
  } else {
    let segment = 1;
    while (segment < 7 && value >= 0x20 << segment) segment++;
    code = (segment << 4) | ((value >> segment) & 0x0f);
  }
  return (code ^ mask) & 0xff;
}

/** Decodes one A-law octet to a 16-bit linear sample (range -32256..32256). */
export function alawToLinear(octet: number): number {
  const a = (octet ^ 0x55) & 0xff;
  const segment = (a >> 4) & 0x07;
  let magnitude = (a & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

const MULAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => mulawToLinear(i));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/** G.711 mu-law: one octet per 16-bit sample. */
export function encodePcmu(samples: Int16Array): Buffer {
  const table = MULAW_ENCODE ??= encodeTable(linearToMulaw);
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = table[samples[i]! & 0xffff]!;
  return out;
}

/**
 * Encoder tables, indexed by the 16-bit sample as unsigned (two's complement): 64 KiB each, built
 * at the first encode, so a call encodes 8,000 samples/s by lookup instead of by segment search.
 */
let MULAW_ENCODE: Uint8Array | undefined;
let ALAW_ENCODE: Uint8Array | undefined;

function encodeTable(encode: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let u = 0; u < 65536; u++) table[u] = encode(u >= 32768 ? u - 65536 : u);
  return table;
}

/** G.711 mu-law octets to 16-bit linear samples. */
export function decodePcmu(data: Buffer): Int16Array {
  const out = new Int16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = MULAW_DECODE[data[i]!]!;
  return out;
}

/** G.711 A-law: one octet per 16-bit sample. */
export function encodePcma(samples: Int16Array): Buffer {
  const table = ALAW_ENCODE ??= encodeTable(linearToAlaw);
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = table[samples[i]! & 0xffff]!;
  return out;
}

/** G.711 A-law octets to 16-bit linear samples. */
export function decodePcma(data: Buffer): Int16Array {
  const out = new Int16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = ALAW_DECODE[data[i]!]!;
  return out;
}

/** The octet a silent (all-zero) frame encodes to: 0xFF for mu-law, 0xD5 for A-law. */
export const SILENCE_OCTET = { PCMU: 0xff, PCMA: 0xd5 } as const;
