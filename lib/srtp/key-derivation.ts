/**
 * SRTP key derivation, RFC 3711 §4.3, with key_derivation_rate 0 (the default, and the only rate
 * icephone signals or accepts: session keys are derived once per master key, RFC 3711 §4.3.1).
 *
 * ```
 *   r      = index DIV key_derivation_rate        = 0 (a 48-bit string of zeros) when the rate is 0
 *   key_id = label || r                            (8 + 48 bits)
 *   x      = key_id XOR master_salt                (key_id right-aligned in the 112-bit salt)
 *   k      = PRF_n(k_master, x) = AES-CM(k_master, IV = x * 2^16) keystream, first n bits (§4.3.3)
 * ```
 */
import { AES_BLOCK_LENGTH, aesCmKeystream } from './aes-cm.js';
import type { SrtpSuite } from './suites.js';

/** Key derivation labels, RFC 3711 §4.3.1 (SRTP) and §4.3.2 (SRTCP). */
export const SRTP_LABEL = Object.freeze({
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
});

/** Session keys of one protocol (SRTP or SRTCP) for one master key. */
export interface SessionKeys {
  /** k_e: session encryption key (16 octets for AES-128). */
  readonly encryptionKey: Buffer;
  /** k_a: session authentication key (20 octets for HMAC-SHA1). */
  readonly authenticationKey: Buffer;
  /** k_s: session salt (14 octets). */
  readonly salt: Buffer;
}

/**
 * PRF_n(k_master, x) of RFC 3711 §4.3.3 for one label, with key_derivation_rate 0.
 * @param masterKey 16-octet master key.
 * @param masterSalt 14-octet master salt.
 * @param label 0..255 (SRTP_LABEL).
 * @param length n/8: how many octets of output (Appendix B.3 derives 94 for the auth key).
 * @throws RangeError on a key, salt, label or length out of range.
 */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  if (masterKey.length !== 16) throw new RangeError(`master key is ${masterKey.length} octets, expected 16`);
  if (masterSalt.length !== 14) throw new RangeError(`master salt is ${masterSalt.length} octets, expected 14`);
  if (!Number.isInteger(label) || label < 0 || label > 0xff) throw new RangeError(`key derivation label ${label} is not one octet`);
  if (!Number.isInteger(length) || length < 1 || length > 2 ** 16 * AES_BLOCK_LENGTH) throw new RangeError(`derived key length ${length} out of range`);
  const iv = Buffer.alloc(AES_BLOCK_LENGTH);
  masterSalt.copy(iv, 0, 0, 14);
  // key_id = label || r with r = 0: right-aligned in the 14 octets, the label lands on octet 7
  // (14 - 7); the six octets of r are zeros and leave the salt unchanged.
  iv[7]! ^= label;
  return aesCmKeystream(masterKey, iv, length);
}

/**
 * The SRTP and SRTCP session keys of a suite (RFC 3711 §4.3.1 and §4.3.2, rate 0).
 * @throws RangeError when the master key or salt length does not match the suite.
 */
export function deriveSessionKeys(suite: SrtpSuite, masterKey: Buffer, masterSalt: Buffer): { rtp: SessionKeys; rtcp: SessionKeys } {
  if (masterKey.length !== suite.masterKeyLength) {
    throw new RangeError(`${suite.name}: master key is ${masterKey.length} octets, expected ${suite.masterKeyLength}`);
  }
  if (masterSalt.length !== suite.masterSaltLength) {
    throw new RangeError(`${suite.name}: master salt is ${masterSalt.length} octets, expected ${suite.masterSaltLength}`);
  }
  const derive = (label: number, length: number) => deriveSessionKey(masterKey, masterSalt, label, length);
  return {
    rtp: {
      encryptionKey: derive(SRTP_LABEL.rtpEncryption, suite.sessionKeyLength),
      authenticationKey: derive(SRTP_LABEL.rtpAuthentication, suite.authenticationKeyLength),
      salt: derive(SRTP_LABEL.rtpSalt, suite.sessionSaltLength),
    },
    rtcp: {
      encryptionKey: derive(SRTP_LABEL.rtcpEncryption, suite.sessionKeyLength),
      authenticationKey: derive(SRTP_LABEL.rtcpAuthentication, suite.authenticationKeyLength),
      salt: derive(SRTP_LABEL.rtcpSalt, suite.sessionSaltLength),
    },
  };
}
