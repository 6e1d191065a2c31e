/**
 * SDES keying (RFC 4568) for the SRTP layer: from the crypto attribute we sent and the one we
 * received to an SrtpSession. Each side sends under the key in its own attribute (RFC 4568 §6.1:
 * the key in an attribute is what its sender uses to protect), so `local` keys the outbound
 * context and `remote` the inbound one.
 *
 * The attributes are taken by shape, not by type, so this module does not depend on lib/sdp:
 * `CryptoAttribute` from lib/sdp/crypto-attributes.ts fits `SdesCrypto`, as does the answer that
 * `selectCryptoAnswer` builds. Typical use on the answering side:
 * ```ts
 * const choice = selectCryptoAnswer(parseCryptoAttributes(offerLines).attributes);
 * if (!choice.ok) rejectTheStream(choice.skipped);
 * const session = srtpSessionFromSdes(choice.answer, choice.offer);
 * sdpAnswerLines.push(`a=${formatCryptoAttribute(choice.answer)}`);
 * ```
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_REPLAY_WINDOW_SIZE, MAX_REPLAY_WINDOW_SIZE } from './replay-window.js';
import { SrtpSession, type SrtpMasterKey } from './srtp-session.js';
import { isSrtpSuiteName, SRTP_SUITES, type SrtpSuiteName } from './suites.js';

/** The parts of one RFC 4568 crypto attribute that keying needs. */
export interface SdesCrypto {
  /** crypto-suite, compared case-insensitively. */
  suite: string;
  /** Exactly one inline key is supported. */
  keyParams: ReadonlyArray<{ method: string; keySalt?: Buffer; mki?: { value: bigint; length: number } }>;
  /** WSH (RFC 4568 §6.3): the sender's hint for the receiver's replay window. */
  sessionParams?: { windowSizeHint?: number };
}

export interface SdesSessionOptions {
  /** Replay window of both contexts; raised to the remote WSH when that is larger (at most 32768). Default 128. */
  replayWindowSize?: number;
  /** Most SSRCs per direction (default 64). */
  maxSsrcs?: number;
}

/** A fresh master key || master salt for an offer or answer (30 random octets for both suites). */
export function generateSdesKeySalt(suite: SrtpSuiteName): Buffer {
  const s = SRTP_SUITES[suite];
  return randomBytes(s.masterKeyLength + s.masterSaltLength);
}

/**
 * Splits an inline key-salt (RFC 4568 §6.1: "the concatenation of the master key and salt") into
 * master key and master salt.
 * @throws RangeError when the length is not the suite's key + salt length.
 */
export function splitKeySalt(suite: SrtpSuiteName, keySalt: Buffer): { masterKey: Buffer; masterSalt: Buffer } {
  const s = SRTP_SUITES[suite];
  if (keySalt.length !== s.masterKeyLength + s.masterSaltLength) {
    throw new RangeError(`${suite} key||salt is ${keySalt.length} octets, expected ${s.masterKeyLength + s.masterSaltLength}`);
  }
  return {
    masterKey: Buffer.from(keySalt.subarray(0, s.masterKeyLength)),
    masterSalt: Buffer.from(keySalt.subarray(s.masterKeyLength)),
  };
}

/**
 * The MKI field as carried in packets: `value` big-endian in `length` octets (RFC 4568 §6.1).
 * @throws RangeError when the length is outside 1..128 or the value does not fit.
 */
export function mkiBytes(mki: { value: bigint; length: number }): Buffer {
  const { value, length } = mki;
  if (!Number.isInteger(length) || length < 1 || length > 128) throw new RangeError(`MKI length ${length} is not 1..128 octets`);
  if (value < 0n || value >= 1n << BigInt(8 * length)) throw new RangeError(`MKI value does not fit in ${length} octets`);
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/**
 * An SrtpSession from the crypto attribute we sent (`local`) and the one we received (`remote`).
 * @throws RangeError when the suites differ (RFC 4568 §7.1.2: the answer keeps the offered suite)
 *   or are not implemented, or an attribute does not carry exactly one inline key of the suite's
 *   length, or an MKI does not fit.
 */
export function srtpSessionFromSdes(local: SdesCrypto, remote: SdesCrypto, options: SdesSessionOptions = {}): SrtpSession {
  const suite = local.suite.toUpperCase();
  if (remote.suite.toUpperCase() !== suite) throw new RangeError(`local suite ${local.suite} and remote suite ${remote.suite} differ`);
  if (!isSrtpSuiteName(suite)) throw new RangeError(`crypto suite ${JSON.stringify(local.suite.slice(0, 64))} is not implemented`);
  const hint = remote.sessionParams?.windowSizeHint;
  const configured = options.replayWindowSize ?? DEFAULT_REPLAY_WINDOW_SIZE;
  const replayWindowSize = hint !== undefined && hint > configured ? Math.min(hint, MAX_REPLAY_WINDOW_SIZE) : configured;
  return new SrtpSession({
    suite,
    outbound: masterKeyOf(suite, local, 'local'),
    inbound: masterKeyOf(suite, remote, 'remote'),
    replayWindowSize,
    maxSsrcs: options.maxSsrcs,
  });
}

function masterKeyOf(suite: SrtpSuiteName, crypto: SdesCrypto, side: string): SrtpMasterKey {
  if (crypto.keyParams.length !== 1) throw new RangeError(`${side} crypto attribute has ${crypto.keyParams.length} keys, exactly one is supported`);
  const key = crypto.keyParams[0]!;
  if (key.method.toLowerCase() !== 'inline' || !key.keySalt) throw new RangeError(`${side} crypto attribute has no inline key`);
  return { ...splitKeySalt(suite, key.keySalt), ...(key.mki ? { mki: mkiBytes(key.mki) } : {}) };
}
