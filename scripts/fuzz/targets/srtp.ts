/**
 * Fuzz targets for SRTP and SRTCP unprotect (RFC 3711 §3.3, §3.4; lib/srtp/srtp-context.ts) and
 * for the SDES `a=crypto` attribute (RFC 4568 §9.1; lib/sdp/crypto-attributes.ts).
 *
 * Unprotect documents no exception for packet content: every refusal is a result
 * `{ ok: false, reason, detail }` counted in `stats.dropped[reason]` (a StateError only for a
 * wiring mistake, an outbound context). So these targets treat ANY exception as a finding
 * (`isTyped` is false), and check that each refusal names a known reason, says why, and is
 * counted exactly once; an accepted packet is one RTP/RTCP packet shorter by MKI and tag, and the
 * same bytes a second time are refused as `replayed`.
 *
 * Byte 0 of an input picks the context (suite _80 or _32, with or without a 4-octet MKI); the rest
 * is the packet. Seeds and structured inputs are RTP/RTCP packets protected by the project's own
 * code, so they authenticate; `fixup` re-protects a mutant's bytes as if they were the plaintext,
 * so half the mutants get past the tag check and exercise index estimation, the replay window and
 * decryption with arbitrary headers.
 */
import fc from 'fast-check';
import { parseRtp } from '../../../lib/rtp/packet.js';
import { parseRtcpCompound } from '../../../lib/rtp/rtcp.js';
import {
  formatCryptoAttribute, maskCryptoKeys, parseCryptoAttribute, parseCryptoAttributes, selectCryptoAnswer,
} from '../../../lib/sdp/crypto-attributes.js';
import { SRTP_DROP_REASONS, SrtpContext, type SrtpResult } from '../../../lib/srtp/srtp-context.js';
import type { SrtpSuiteName } from '../../../lib/srtp/suites.js';
import { attempt, InvariantError, type FuzzTarget, type Verdict } from '../engine.js';
import { rtcpPacket, rtcpSeeds, rtpPacket, rtpSeeds } from './media.js';

const MASTER_KEY = Buffer.from('E1F97A0D3E018BE0D64FA32C06DE4139', 'hex'); // RFC 3711 Appendix B.2
const MASTER_SALT = Buffer.from('0EC675AD498AFEEBB6960B3AABE6', 'hex');
const MKI = Buffer.from([0, 0, 0, 1]);

interface Config { suite: SrtpSuiteName; mki?: Buffer }
const CONFIGS: Config[] = [
  { suite: 'AES_CM_128_HMAC_SHA1_80' },
  { suite: 'AES_CM_128_HMAC_SHA1_32' },
  { suite: 'AES_CM_128_HMAC_SHA1_80', mki: MKI },
  { suite: 'AES_CM_128_HMAC_SHA1_32', mki: MKI },
];

function configOf(input: Buffer): Config {
  return CONFIGS[(input[0] ?? 0) % CONFIGS.length]!;
}

function context(config: Config, direction: 'inbound' | 'outbound'): SrtpContext {
  return new SrtpContext({ direction, suite: config.suite, masterKey: MASTER_KEY, masterSalt: MASTER_SALT, mki: config.mki });
}

/** `[config byte] + protected packet`; the plaintext itself when the project's protect refuses it. */
function protectedInput(index: number, plain: Buffer, rtcp: boolean): Buffer {
  const r = rtcp ? context(CONFIGS[index]!, 'outbound').protectRtcp(plain) : context(CONFIGS[index]!, 'outbound').protectRtp(plain);
  return Buffer.concat([Buffer.from([index]), r.ok ? r.packet : plain]);
}

/** Re-protects a mutant (config byte kept, MKI and tag cut off, the rest taken as plaintext). */
function reprotect(rtcp: boolean) {
  return (input: Buffer): Buffer => {
    if (input.length < 2) return input;
    const config = configOf(input);
    const trailer = (config.mki?.length ?? 0) + (rtcp ? 4 + 10 : config.suite.endsWith('_80') ? 10 : 4);
    const body = input.subarray(1, Math.max(1, input.length - trailer));
    const plain = Buffer.from(body);
    if (rtcp && plain.length >= 1) plain[0] = (plain[0]! & 0x3f) | 0x80; // version 2, or protect refuses it
    return protectedInput((input[0] ?? 0) % CONFIGS.length, plain, rtcp);
  };
}

/** The checks both targets share: a refusal is a known, explained, counted reason. */
function checkResult(ctx: SrtpContext, r: SrtpResult): void {
  if (r.ok) return;
  if (!SRTP_DROP_REASONS.includes(r.reason)) throw new InvariantError(`unknown drop reason ${JSON.stringify(r.reason)}`);
  if (typeof r.detail !== 'string' || r.detail.length === 0) throw new InvariantError(`drop reason ${r.reason} without a detail`);
  const dropped = ctx.stats.dropped;
  const total = SRTP_DROP_REASONS.reduce((n, reason) => n + dropped[reason], 0);
  if (dropped[r.reason] !== 1 || total !== 1) throw new InvariantError(`refusal ${r.reason} counted ${dropped[r.reason]} times (${total} in all)`);
}

function runUnprotect(input: Buffer, rtcp: boolean): Verdict {
  const config = configOf(input);
  const packet = input.subarray(1);
  const ctx = context(config, 'inbound');
  const r = rtcp ? ctx.unprotectRtcp(packet) : ctx.unprotectRtp(packet);
  checkResult(ctx, r);
  if (!r.ok) return 'rejected';
  const trailer = (config.mki?.length ?? 0) + (rtcp ? 4 : 0) + (config.suite.endsWith('_80') || rtcp ? 10 : 4);
  if (r.packet.length !== packet.length - trailer) {
    throw new InvariantError(`unprotected ${r.packet.length} octets from ${packet.length}, expected ${packet.length - trailer}`);
  }
  if (rtcp) attempt(() => parseRtcpCompound(r.packet));
  else attempt(() => parseRtp(r.packet));
  // RFC 3711 §3.3.2: the same packet again is a replay, and is counted as one.
  const again = rtcp ? ctx.unprotectRtcp(packet) : ctx.unprotectRtp(packet);
  if (again.ok || again.reason !== 'replayed') throw new InvariantError(`the same packet twice was ${again.ok ? 'accepted' : again.reason}, not replayed`);
  if ((rtcp ? ctx.stats.rtcp : ctx.stats.rtp) !== 1) throw new InvariantError('accepted packet not counted once');
  return 'accepted';
}

export const srtpTarget: FuzzTarget = {
  name: 'srtp',
  about: 'lib/srtp/srtp-context.ts SrtpContext.unprotectRtp (four suite/MKI contexts): never throws, every refusal a known reason counted once, a replay refused',
  kind: 'bytes',
  seeds: () => rtpSeeds().flatMap((p) => CONFIGS.map((_, i) => protectedInput(i, p, false))),
  structured: () => fc.tuple(fc.integer({ min: 0, max: CONFIGS.length - 1 }), rtpPacket).map(([i, p]) => protectedInput(i, p, false)),
  fixup: reprotect(false),
  maxLength: 1500,
  isTyped: () => false,
  run: (input) => runUnprotect(input, false),
};

export const srtcpTarget: FuzzTarget = {
  name: 'srtcp',
  about: 'lib/srtp/srtp-context.ts SrtpContext.unprotectRtcp (E flag, 31-bit index, MKI, 80-bit tag): never throws, every refusal a known reason counted once, a replay refused',
  kind: 'bytes',
  seeds: () => rtcpSeeds().flatMap((p) => CONFIGS.map((_, i) => protectedInput(i, p, true))),
  structured: () => fc.tuple(fc.integer({ min: 0, max: CONFIGS.length - 1 }), fc.array(rtcpPacket, { minLength: 1, maxLength: 3 }))
    .map(([i, ps]) => protectedInput(i, Buffer.concat(ps), true)),
  fixup: reprotect(true),
  maxLength: 1500,
  isTyped: () => false,
  run: (input) => runUnprotect(input, true),
};

// ------------------------------------------------------------------------------------- a=crypto

const KEY_A = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz'; // RFC 4568 §9.1
const KEY_B = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';

const CRYPTO_SEEDS = [
  `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4`,
  `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`,
  `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|7:1`,
  `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1000000`,
  `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4;inline:${KEY_B}|2^20|2:4`,
  `a=crypto:6 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=23 UNENCRYPTED_SRTP UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP FEC_ORDER=FEC_SRTP FEC_KEY=inline:${KEY_B}|2^20|1:4 WSH=128 -X_OPTIONAL X_MANDATORY=1`,
  `a=crypto:999999999 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A}|2^48|12345678901234567890:128`,
  `a=crypto:7 F8_128_HMAC_SHA1_80 inline:${KEY_A}`,
];

const cryptoLine: fc.Arbitrary<string> = fc.tuple(
  fc.oneof(fc.integer({ min: 0, max: 1_000_000_000 }).map(String), fc.string({ maxLength: 4 })),
  fc.constantFrom('AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'F8_128_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_80', 'aes_cm_128_hmac_sha1_80', 'X'),
  fc.array(fc.tuple(
    fc.oneof(fc.constantFrom(KEY_A, KEY_B, KEY_A.slice(0, 39), `${KEY_A}AAAA`), fc.base64String({ maxLength: 48 })),
    fc.option(fc.oneof(fc.integer({ min: 0, max: 64 }).map((n) => `2^${n}`), fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String))),
    fc.option(fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 70n }), fc.integer({ min: 0, max: 130 })).map(([v, l]) => `${v}:${l}`)),
  ).map(([k, life, mki]) => ['inline:' + k, ...(life !== null ? [life] : []), ...(mki !== null ? [mki] : [])].join('|')), { minLength: 1, maxLength: 3 }).map((ks) => ks.join(';')),
  fc.array(fc.oneof(
    fc.constantFrom('UNENCRYPTED_SRTP', 'UNENCRYPTED_SRTCP', 'UNAUTHENTICATED_SRTP', 'FEC_ORDER=FEC_SRTP', 'FEC_ORDER=SRTP_FEC', '-X', 'X=1'),
    fc.integer({ min: 0, max: 70 }).map((n) => `KDR=${n}`),
    fc.integer({ min: 0, max: 70000 }).map((n) => `WSH=${n}`),
    fc.base64String({ maxLength: 48 }).map((k) => `FEC_KEY=inline:${k}`),
  ), { maxLength: 4 }),
).map(([tag, suite, keys, session]) => [`a=crypto:${tag}`, suite, keys, ...session].join(' '));

function runCrypto(input: Buffer): Verdict {
  const text = input.toString('utf8');
  const lines = text.split(/\r?\n/).filter((l) => /^a=crypto:/i.test(l));
  let rejected = false;
  for (const line of lines) {
    const a = attempt(() => parseCryptoAttribute(line));
    if (!a) {
      rejected = true;
      continue;
    }
    // Accepted values are written again in answers (RFC 4568 §7.1.2): format and parse back, same text.
    const written = formatCryptoAttribute(a);
    const back = attempt(() => parseCryptoAttribute(written));
    if (!back) throw new InvariantError(`crypto accepted but its formatted form is refused: ${JSON.stringify(maskCryptoKeys(written))}`);
    if (formatCryptoAttribute(back) !== written) throw new InvariantError(`crypto format not stable: ${JSON.stringify(maskCryptoKeys(written))}`);
  }
  const { attributes, errors } = parseCryptoAttributes(lines);
  if (attributes.length + errors.length !== lines.length) throw new InvariantError('parseCryptoAttributes lost a line');
  for (const e of errors) if (/inline:(?!\*\*\*)[A-Za-z0-9+/=]+/i.test(e.line)) throw new InvariantError(`key material in an error line: ${e.line.slice(0, 60)}`);
  selectCryptoAnswer(attributes, { keySalt: Buffer.alloc(30, 7) });
  if (/inline:(?!\*\*\*)[A-Za-z0-9+/=]+/i.test(maskCryptoKeys(text))) throw new InvariantError('maskCryptoKeys left key material');
  return rejected || lines.length === 0 ? 'rejected' : 'accepted';
}

export const sdpCryptoTarget: FuzzTarget = {
  name: 'sdp-crypto',
  about: 'lib/sdp/crypto-attributes.ts parseCryptoAttribute (ParseError), format/parse round trip, parseCryptoAttributes, selectCryptoAnswer, maskCryptoKeys',
  kind: 'text',
  seeds: () => [...CRYPTO_SEEDS, CRYPTO_SEEDS.join('\r\n')].map((s) => Buffer.from(s, 'utf8')),
  structured: () => fc.array(cryptoLine, { minLength: 1, maxLength: 4 }).map((ls) => Buffer.from(ls.join('\r\n'), 'utf8')),
  dictionary: ['a=crypto:', 'inline:', '|', ':', ';', '2^', ' ', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'KDR=', 'WSH=', 'FEC_KEY=', 'UNENCRYPTED_SRTP', '-', '=', '\t', '0', '4294967296', '999999999', '1000000000'],
  maxLength: 4096,
  run: runCrypto,
};

export const SRTP_TARGETS: FuzzTarget[] = [srtpTarget, srtcpTarget, sdpCryptoTarget];
