/**
 * The SRTP crypto suites icephone implements, by their RFC 4568 §6.2 names, with the RFC 3711
 * parameters each one fixes: AES-128 in counter mode (RFC 3711 §4.1.1) for confidentiality and
 * HMAC-SHA1 (RFC 3711 §4.2.1) for message authentication, the key derivation of RFC 3711 §4.3 with
 * key_derivation_rate 0, and no MKI unless one is signalled.
 *
 * | suite                     | master key | master salt | SRTP tag | SRTCP tag |
 * |---------------------------|------------|-------------|----------|-----------|
 * | AES_CM_128_HMAC_SHA1_80   | 16 octets  | 14 octets   | 10       | 10        |
 * | AES_CM_128_HMAC_SHA1_32   | 16 octets  | 14 octets   | 4        | 10        |
 *
 * The `_32` suite shortens only the SRTP tag (RFC 4568 §6.2.2): SRTCP keeps the default 80-bit
 * HMAC-SHA1 tag of RFC 3711 §5.2, which is what deployed peers send and expect.
 */

/** RFC 4568 §6.2 crypto-suite names of the suites implemented here. */
export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

/** Lengths, in octets, that one suite fixes. */
export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** Master key length (RFC 3711 §8.2: 128 bits for AES-128). */
  readonly masterKeyLength: number;
  /** Master salt length (RFC 3711 §8.2: 112 bits). */
  readonly masterSaltLength: number;
  /** Session encryption key n_e (RFC 3711 §4.3.1): 128 bits. */
  readonly sessionKeyLength: number;
  /** Session salt n_s (RFC 3711 §4.3.1): 112 bits. */
  readonly sessionSaltLength: number;
  /** Session authentication key n_a (RFC 3711 §4.2.1): 160 bits for HMAC-SHA1. */
  readonly authenticationKeyLength: number;
  /** SRTP authentication tag length (RFC 3711 §4.2.1 n_tag: 80 or 32 bits). */
  readonly srtpTagLength: number;
  /** SRTCP authentication tag length: 80 bits for both suites. */
  readonly srtcpTagLength: number;
}

const COMMON = {
  masterKeyLength: 16,
  masterSaltLength: 14,
  sessionKeyLength: 16,
  sessionSaltLength: 14,
  authenticationKeyLength: 20,
  srtcpTagLength: 10,
} as const;

/** The implemented suites by name. */
export const SRTP_SUITES: Readonly<Record<SrtpSuiteName, SrtpSuite>> = Object.freeze({
  AES_CM_128_HMAC_SHA1_80: Object.freeze({ name: 'AES_CM_128_HMAC_SHA1_80', ...COMMON, srtpTagLength: 10 }),
  AES_CM_128_HMAC_SHA1_32: Object.freeze({ name: 'AES_CM_128_HMAC_SHA1_32', ...COMMON, srtpTagLength: 4 }),
});

/** Suite names in icephone's order of preference (the stronger tag first). */
export const SRTP_SUITE_NAMES: readonly SrtpSuiteName[] = Object.freeze(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']);

/** True for the names in SRTP_SUITES (exact spelling, as RFC 4568 §6.2 writes them). */
export function isSrtpSuiteName(name: unknown): name is SrtpSuiteName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(SRTP_SUITES, name);
}

/**
 * The parameters of a suite.
 * @throws RangeError for a name icephone does not implement.
 */
export function srtpSuite(name: string): SrtpSuite {
  if (!isSrtpSuiteName(name)) throw new RangeError(`unsupported SRTP crypto suite ${JSON.stringify(String(name).slice(0, 64))}`);
  return SRTP_SUITES[name];
}
