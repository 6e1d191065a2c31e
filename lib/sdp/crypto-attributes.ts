/**
 * SDP Security Descriptions for media streams (SDES), RFC 4568: the `a=crypto` attribute syntax
 * (§9.1), the key/salt length each known suite fixes (§6.2), the answerer's choice of one offered
 * line (§7.1.2), and a log mask for key material.
 *
 * ```
 * crypto-attribute = "crypto:" tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
 * tag              = 1*9DIGIT
 * crypto-suite     = 1*(ALPHA / DIGIT / "_")
 * key-params       = key-param *(";" key-param)
 * key-param        = key-method ":" key-info
 * key-method       = "inline" / key-method-ext
 * srtp-key-info    = key-salt ["|" lifetime] ["|" mki]          (for "inline")
 * key-salt         = 1*(base64)                                 ; key || salt, base64 (RFC 3548 §3)
 * lifetime         = ["2^"] 1*(DIGIT)                           ; packets
 * mki              = mki-value ":" mki-length                   ; decimal value, length 1..128 octets
 * session-param    = "KDR=" 1*2DIGIT / "UNENCRYPTED_SRTP" / "UNENCRYPTED_SRTCP" / "UNAUTHENTICATED_SRTP"
 *                  / "FEC_ORDER=" ("FEC_SRTP" / "SRTP_FEC") / "FEC_KEY=" key-params / "WSH=" 2*DIGIT
 *                  / srtp-session-extension                     ; ["-"] 1*VCHAR
 * ```
 * A line that breaks this grammar throws ParseError naming the field (`where`); messages never
 * contain key material. Suites this module does not know are kept with `usable: false` (their key
 * length is not checked); the two AES_CM_128 suites must carry exactly 30 octets (§6.2.1, §6.2.2).
 * ABNF literals are case-insensitive, so `INLINE:` and `kdr=` are read too; names are written in
 * the RFC's spelling.
 */
import { randomBytes } from 'node:crypto';
import { ParseError } from '../base/errors.js';

/**
 * Suites whose lines are usable here, with their key||salt length in octets (RFC 4568 §6.2.1
 * AES_CM_128_HMAC_SHA1_80, §6.2.2 AES_CM_128_HMAC_SHA1_32: 128-bit key + 112-bit salt = 30).
 * lib/srtp/suites.ts implements exactly these.
 */
export const SDES_SUITES: Readonly<Record<string, { readonly keySaltLength: number }>> = Object.freeze({
  AES_CM_128_HMAC_SHA1_80: Object.freeze({ keySaltLength: 30 }),
  AES_CM_128_HMAC_SHA1_32: Object.freeze({ keySaltLength: 30 }),
});

/** Master Key Identifier of one key (RFC 4568 §6.1): the value carried in every packet, `length` octets. */
export interface CryptoMki {
  value: bigint;
  /** 1..128 octets. */
  length: number;
}

/** One key-param: a master key and its optional lifetime and MKI. */
export interface CryptoKeyParam {
  /** `inline` (the only method RFC 4568 defines for SRTP), or an extension method as written. */
  method: string;
  /** inline: the decoded key || salt. */
  keySalt?: Buffer;
  /** Extension methods: key-info verbatim (not interpreted). */
  keyInfo?: string;
  /** Master key lifetime in packets (RFC 4568 §6.1; `2^20` reads as 1048576n). */
  lifetime?: bigint;
  mki?: CryptoMki;
}

/** Session parameters (RFC 4568 §6.3); absent fields were not in the line. */
export interface CryptoSessionParams {
  /** KDR=n: key derivation rate 2^n, n in 0..24. Absent means rate 0 (derive once). */
  kdr?: number;
  unencryptedSrtp?: boolean;
  unencryptedSrtcp?: boolean;
  unauthenticatedSrtp?: boolean;
  fecOrder?: 'FEC_SRTP' | 'SRTP_FEC';
  /** FEC_KEY=key-params: master keys for FEC packets. */
  fecKey?: CryptoKeyParam[];
  /** WSH=n: window size hint, the replay window the sender suggests for its stream (>= 64). */
  windowSizeHint?: number;
  /** srtp-session-extension tokens as written; a leading "-" marks one a receiver may ignore. */
  extensions?: string[];
}

export interface CryptoAttribute {
  /** 1..999999999, unique within the media description. */
  tag: number;
  /** crypto-suite as written. */
  suite: string;
  /** The suite is one of SDES_SUITES (compared case-insensitively): lib/srtp can run it. */
  usable: boolean;
  /** At least one. */
  keyParams: CryptoKeyParam[];
  sessionParams: CryptoSessionParams;
}

const TAG = /^[0-9]{1,9}$/;
const SUITE = /^[A-Za-z0-9_]+$/;
const METHOD = /^[A-Za-z0-9_]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_INFO = /^[\x21-\x3a\x3c-\x7e]+$/;
const VCHAR = /^[\x21-\x7e]+$/;
const MAX_LIFETIME_EXPONENT = 64;
const MAX_MKI_LENGTH = 128;

function quote(s: string): string {
  const cut = s.length > 48 ? `${s.slice(0, 48)}…` : s;
  return JSON.stringify(cut);
}

/** The SDES_SUITES entry for a suite name, case-insensitively. */
function knownSuite(suite: string): { readonly keySaltLength: number } | undefined {
  const upper = suite.toUpperCase();
  return Object.prototype.hasOwnProperty.call(SDES_SUITES, upper) ? SDES_SUITES[upper] : undefined;
}

/**
 * Parses one crypto attribute: `a=crypto:…`, `crypto:…` or the bare value (RFC 4568 §9.1).
 * @throws ParseError with `where` one of tag, crypto-suite, key-params, key-method, key-salt,
 *   lifetime, mki, session-param.
 */
export function parseCryptoAttribute(value: string): CryptoAttribute {
  if (typeof value !== 'string') throw new ParseError('crypto attribute is not a string', 'tag');
  let text = value.trim();
  if (text.startsWith('a=')) text = text.slice(2);
  if (/^crypto:/i.test(text)) text = text.slice('crypto:'.length);
  const fields = text.split(/[ \t]+/).filter((f) => f.length > 0);
  const [tagText, suite, keyParamsText, ...sessionTokens] = fields;

  if (tagText === undefined || !TAG.test(tagText)) throw new ParseError(`tag ${quote(tagText ?? '')} is not 1-9 digits`, 'tag');
  const tag = Number(tagText);
  if (suite === undefined) throw new ParseError('missing crypto-suite', 'crypto-suite');
  if (!SUITE.test(suite)) throw new ParseError(`crypto-suite ${quote(suite)} is not letters, digits and "_"`, 'crypto-suite');
  if (keyParamsText === undefined) throw new ParseError('missing key-params', 'key-params');
  const known = knownSuite(suite);
  const keyParams = parseKeyParams(keyParamsText, known);
  const sessionParams = parseSessionParams(sessionTokens, known);
  return { tag, suite, usable: known !== undefined, keyParams, sessionParams };
}

function parseKeyParams(text: string, known: { keySaltLength: number } | undefined): CryptoKeyParam[] {
  const parts = text.split(';');
  return parts.map((part, i) => parseKeyParam(part, known, parts.length > 1 ? ` ${i + 1} of ${parts.length}` : ''));
}

function parseKeyParam(text: string, known: { keySaltLength: number } | undefined, which: string): CryptoKeyParam {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ParseError(`key-param${which} is not key-method ":" key-info`, 'key-params');
  const method = text.slice(0, colon);
  const info = text.slice(colon + 1);
  if (!METHOD.test(method)) throw new ParseError(`key-method ${quote(method)} is not letters, digits and "_"`, 'key-method');
  if (method.toLowerCase() !== 'inline') {
    if (!KEY_INFO.test(info)) throw new ParseError(`key-info of key-method ${quote(method)} is empty or not visible characters`, 'key-params');
    return { method, keyInfo: info };
  }

  const [keySaltText, ...rest] = info.split('|');
  if (keySaltText === undefined || !BASE64.test(keySaltText) || keySaltText.length % 4 === 1) {
    throw new ParseError(`inline key-salt${which} is not base64`, 'key-salt');
  }
  const keySalt = Buffer.from(keySaltText, 'base64');
  // `W=` passes the base64 check and decodes to nothing (make fuzz, sdp-crypto): no key at all.
  if (keySalt.length === 0) throw new ParseError(`inline key-salt${which} decodes to no octets`, 'key-salt');
  if (known && keySalt.length !== known.keySaltLength) {
    throw new ParseError(`inline key-salt${which} is ${keySalt.length} octets, the suite needs ${known.keySaltLength}`, 'key-salt');
  }
  const param: CryptoKeyParam = { method, keySalt };
  if (rest.length > 2) throw new ParseError(`inline key-info${which} has more than lifetime and MKI after the key`, 'key-params');
  rest.forEach((field, i) => {
    if (field.includes(':')) {
      if (i !== rest.length - 1) throw new ParseError(`MKI${which} must come after the lifetime`, 'mki');
      param.mki = parseMki(field);
    } else {
      if (i !== 0) throw new ParseError(`second lifetime${which}`, 'lifetime');
      param.lifetime = parseLifetime(field);
    }
  });
  return param;
}

/** lifetime = ["2^"] 1*(DIGIT), bounded to 2^64 packets so a hostile exponent cannot blow up a bigint. */
function parseLifetime(text: string): bigint {
  const m = /^(2\^)?([0-9]+)$/.exec(text);
  if (!m) throw new ParseError(`lifetime ${quote(text)} is not ["2^"] digits`, 'lifetime');
  let packets: bigint;
  if (m[1]) {
    if (m[2]!.length > 3 || Number(m[2]) > MAX_LIFETIME_EXPONENT) throw new ParseError(`lifetime ${quote(text)} exceeds 2^${MAX_LIFETIME_EXPONENT}`, 'lifetime');
    packets = 1n << BigInt(m[2]!);
  } else {
    if (m[2]!.length > 20) throw new ParseError(`lifetime ${quote(text)} exceeds 2^${MAX_LIFETIME_EXPONENT}`, 'lifetime');
    packets = BigInt(m[2]!);
    if (packets > 1n << BigInt(MAX_LIFETIME_EXPONENT)) throw new ParseError(`lifetime ${quote(text)} exceeds 2^${MAX_LIFETIME_EXPONENT}`, 'lifetime');
  }
  if (packets === 0n) throw new ParseError('lifetime of 0 packets', 'lifetime');
  return packets;
}

/** mki = mki-value ":" mki-length; the value must fit in mki-length (1..128) octets. */
function parseMki(text: string): CryptoMki {
  const m = /^([0-9]{1,309}):([0-9]{1,3})$/.exec(text);
  if (!m) throw new ParseError(`MKI ${quote(text)} is not value ":" length`, 'mki');
  const length = Number(m[2]);
  if (length < 1 || length > MAX_MKI_LENGTH) throw new ParseError(`MKI length ${length} is not in 1..${MAX_MKI_LENGTH}`, 'mki');
  const value = BigInt(m[1]!);
  if (value >= 1n << BigInt(8 * length)) throw new ParseError(`MKI value ${quote(m[1]!)} does not fit in ${length} octets`, 'mki');
  return { value, length };
}

function parseSessionParams(tokens: string[], known: { keySaltLength: number } | undefined): CryptoSessionParams {
  const params: CryptoSessionParams = {};
  const seen = new Set<string>();
  const once = (name: string) => {
    if (seen.has(name)) throw new ParseError(`session parameter ${name} appears twice`, 'session-param');
    seen.add(name);
  };
  for (const token of tokens) {
    const upper = token.toUpperCase();
    const eq = upper.indexOf('=');
    const name = eq < 0 ? upper : upper.slice(0, eq);
    const argument = eq < 0 ? '' : token.slice(eq + 1);
    if (eq >= 0 && ['KDR', 'FEC_ORDER', 'FEC_KEY', 'WSH'].includes(name)) {
      once(name);
      if (name === 'KDR') {
        if (!/^[0-9]{1,2}$/.test(argument) || Number(argument) > 24) throw new ParseError(`KDR=${quote(argument)} is not 0..24`, 'session-param');
        params.kdr = Number(argument);
      } else if (name === 'FEC_ORDER') {
        const order = argument.toUpperCase();
        if (order !== 'FEC_SRTP' && order !== 'SRTP_FEC') throw new ParseError(`FEC_ORDER=${quote(argument)} is not FEC_SRTP or SRTP_FEC`, 'session-param');
        params.fecOrder = order;
      } else if (name === 'FEC_KEY') {
        params.fecKey = parseKeyParams(argument, known);
      } else {
        if (!/^[0-9]{2,9}$/.test(argument) || Number(argument) < 64) throw new ParseError(`WSH=${quote(argument)} is not a window of at least 64`, 'session-param');
        params.windowSizeHint = Number(argument);
      }
    } else if (eq < 0 && (name === 'UNENCRYPTED_SRTP' || name === 'UNENCRYPTED_SRTCP' || name === 'UNAUTHENTICATED_SRTP')) {
      once(name);
      if (name === 'UNENCRYPTED_SRTP') params.unencryptedSrtp = true;
      else if (name === 'UNENCRYPTED_SRTCP') params.unencryptedSrtcp = true;
      else params.unauthenticatedSrtp = true;
    } else {
      if (!VCHAR.test(token) || token === '-') throw new ParseError(`session parameter ${quote(token)} is not visible characters`, 'session-param');
      (params.extensions ??= []).push(token);
    }
  }
  return params;
}

/** One line `parseCryptoAttributes` could not use. */
export interface CryptoLineError {
  /** The line with key material masked (maskCryptoKeys). */
  line: string;
  error: ParseError;
}

/**
 * Parses the crypto attributes of one media description. Lines that fail, and lines repeating an
 * earlier tag (RFC 4568 §4: tags are unique per media description), are left out and listed in
 * `errors`, so one bad line does not cost the others.
 */
export function parseCryptoAttributes(values: readonly string[]): { attributes: CryptoAttribute[]; errors: CryptoLineError[] } {
  const attributes: CryptoAttribute[] = [];
  const errors: CryptoLineError[] = [];
  const tags = new Set<number>();
  for (const value of values) {
    try {
      const attribute = parseCryptoAttribute(value);
      if (tags.has(attribute.tag)) throw new ParseError(`tag ${attribute.tag} already used in this media description`, 'tag');
      tags.add(attribute.tag);
      attributes.push(attribute);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      errors.push({ line: maskCryptoKeys(String(value)), error: e });
    }
  }
  return { attributes, errors };
}

/**
 * Writes the attribute value (what follows `a=`): `crypto:1 AES_CM_128_HMAC_SHA1_80
 * inline:<base64>|2^20|1:4 WSH=128`. A lifetime that is a power of two is written `2^n`.
 * @throws RangeError if a field would not survive parseCryptoAttribute.
 */
export function formatCryptoAttribute(attribute: CryptoAttribute): string {
  const { tag, suite, keyParams, sessionParams } = attribute;
  if (!Number.isInteger(tag) || tag < 0 || tag > 999_999_999) throw new RangeError(`cannot write crypto attribute: tag ${tag} is not 0..999999999`);
  if (!SUITE.test(suite)) throw new RangeError(`cannot write crypto attribute: crypto-suite ${quote(suite)}`);
  const known = knownSuite(suite);
  let line = `crypto:${tag} ${suite} ${formatKeyParams(keyParams, known)}`;
  const p = sessionParams;
  if (p.kdr !== undefined) {
    if (!Number.isInteger(p.kdr) || p.kdr < 0 || p.kdr > 24) throw new RangeError(`cannot write crypto attribute: KDR ${p.kdr}`);
    line += ` KDR=${p.kdr}`;
  }
  if (p.unencryptedSrtp) line += ' UNENCRYPTED_SRTP';
  if (p.unencryptedSrtcp) line += ' UNENCRYPTED_SRTCP';
  if (p.unauthenticatedSrtp) line += ' UNAUTHENTICATED_SRTP';
  if (p.fecOrder !== undefined) line += ` FEC_ORDER=${p.fecOrder}`;
  if (p.fecKey !== undefined) line += ` FEC_KEY=${formatKeyParams(p.fecKey, known)}`;
  if (p.windowSizeHint !== undefined) {
    if (!Number.isInteger(p.windowSizeHint) || p.windowSizeHint < 64 || p.windowSizeHint > 999_999_999) {
      throw new RangeError(`cannot write crypto attribute: WSH ${p.windowSizeHint}`);
    }
    line += ` WSH=${p.windowSizeHint}`;
  }
  for (const extension of p.extensions ?? []) {
    if (!VCHAR.test(extension)) throw new RangeError(`cannot write crypto attribute: session extension ${quote(extension)}`);
    line += ` ${extension}`;
  }
  return line;
}

function formatKeyParams(keyParams: readonly CryptoKeyParam[], known: { keySaltLength: number } | undefined): string {
  if (keyParams.length === 0) throw new RangeError('cannot write crypto attribute: no key-params');
  return keyParams.map((k) => {
    if (!METHOD.test(k.method)) throw new RangeError(`cannot write crypto attribute: key-method ${quote(k.method)}`);
    if (k.method.toLowerCase() !== 'inline') {
      if (k.keyInfo === undefined || !KEY_INFO.test(k.keyInfo)) throw new RangeError(`cannot write crypto attribute: key-info of ${quote(k.method)}`);
      return `${k.method}:${k.keyInfo}`;
    }
    if (!k.keySalt || k.keySalt.length === 0) throw new RangeError('cannot write crypto attribute: inline key without key-salt');
    if (known && k.keySalt.length !== known.keySaltLength) {
      throw new RangeError(`cannot write crypto attribute: key-salt is ${k.keySalt.length} octets, the suite needs ${known.keySaltLength}`);
    }
    let text = `inline:${k.keySalt.toString('base64')}`;
    if (k.lifetime !== undefined) {
      if (k.lifetime < 1n || k.lifetime > 1n << BigInt(MAX_LIFETIME_EXPONENT)) throw new RangeError(`cannot write crypto attribute: lifetime ${k.lifetime}`);
      const isPowerOfTwo = (k.lifetime & (k.lifetime - 1n)) === 0n;
      text += isPowerOfTwo ? `|2^${k.lifetime.toString(2).length - 1}` : `|${k.lifetime}`;
    }
    if (k.mki !== undefined) {
      const { value, length } = k.mki;
      if (!Number.isInteger(length) || length < 1 || length > MAX_MKI_LENGTH || value < 0n || value >= 1n << BigInt(8 * length)) {
        throw new RangeError(`cannot write crypto attribute: MKI ${value}:${length}`);
      }
      text += `|${value}:${length}`;
    }
    return text;
  }).join(';');
}

/**
 * Replaces inline key material with `***` in any text (one line or a whole SDP body), for logs
 * and traces: `inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4` becomes
 * `inline:***|2^20|1:4`. FEC_KEY keys are masked the same way.
 */
export function maskCryptoKeys(text: string): string {
  return text.replace(/(inline:)[A-Za-z0-9+/=]+/gi, '$1***');
}

/** Why an offered crypto line was passed over. */
export interface CryptoSkip {
  tag: number;
  suite: string;
  reason: string;
}

export interface CryptoAnswerOptions {
  /** Suites the answerer accepts (default: all of SDES_SUITES). The offer's order decides among them. */
  suites?: readonly string[];
  /** The answerer's key || salt (default: 30 random octets from node:crypto). */
  keySalt?: Buffer;
}

export type CryptoAnswerResult =
  | { ok: true; answer: CryptoAttribute; offer: CryptoAttribute; skipped: CryptoSkip[] }
  | { ok: false; skipped: CryptoSkip[] };

/**
 * Chooses the crypto line of an answer (RFC 4568 §7.1.2): the first offered line (the offerer lists
 * them in order of preference) whose suite the answerer supports and whose parameters it can honour;
 * the answer keeps that line's tag and suite and carries the answerer's own inline key.
 *
 * Passed over, with the reason in `skipped`: unusable or unaccepted suites, key methods other than
 * inline, more than one master key (MKI-selected keys are not implemented), KDR (any explicit
 * rate: lib/srtp derives once), UNENCRYPTED_SRTP/SRTCP and UNAUTHENTICATED_SRTP (icephone always
 * encrypts and authenticates), FEC_KEY, and session extensions without the "-" that would let
 * them be ignored (RFC 4568 §6.3). WSH and FEC_ORDER are declarative and accepted. `ok: false`
 * means no line fits: the answerer rejects the media stream.
 * @throws RangeError when `options.keySalt` does not have the chosen suite's length.
 */
export function selectCryptoAnswer(offered: readonly CryptoAttribute[], options: CryptoAnswerOptions = {}): CryptoAnswerResult {
  const accepted = new Set((options.suites ?? Object.keys(SDES_SUITES)).map((s) => s.toUpperCase()));
  const skipped: CryptoSkip[] = [];
  const tags = new Set<number>();
  for (const offer of offered) {
    const reason = unanswerable(offer, accepted, tags);
    tags.add(offer.tag);
    if (reason !== undefined) {
      skipped.push({ tag: offer.tag, suite: offer.suite, reason });
      continue;
    }
    const length = knownSuite(offer.suite)!.keySaltLength;
    const keySalt = options.keySalt ?? randomBytes(length);
    if (keySalt.length !== length) throw new RangeError(`answer key-salt is ${keySalt.length} octets, ${offer.suite} needs ${length}`);
    const answer: CryptoAttribute = {
      tag: offer.tag,
      suite: offer.suite,
      usable: true,
      keyParams: [{ method: 'inline', keySalt: Buffer.from(keySalt) }],
      sessionParams: {},
    };
    return { ok: true, answer, offer, skipped };
  }
  return { ok: false, skipped };
}

function unanswerable(offer: CryptoAttribute, accepted: Set<string>, tags: Set<number>): string | undefined {
  if (tags.has(offer.tag)) return `tag ${offer.tag} repeats an earlier line`;
  if (!offer.usable || !knownSuite(offer.suite)) return 'crypto-suite not implemented';
  if (!accepted.has(offer.suite.toUpperCase())) return 'crypto-suite not accepted by this answerer';
  if (offer.keyParams.length !== 1) return `${offer.keyParams.length} master keys (MKI-selected keys are not implemented)`;
  const key = offer.keyParams[0]!;
  if (key.method.toLowerCase() !== 'inline' || !key.keySalt) return `key-method ${quote(key.method)} not implemented`;
  const p = offer.sessionParams;
  if (p.kdr !== undefined) return `KDR=${p.kdr} (key derivation rate 2^${p.kdr}) not implemented`;
  if (p.unencryptedSrtp) return 'UNENCRYPTED_SRTP refused';
  if (p.unencryptedSrtcp) return 'UNENCRYPTED_SRTCP refused';
  if (p.unauthenticatedSrtp) return 'UNAUTHENTICATED_SRTP refused';
  if (p.fecKey) return 'FEC_KEY not implemented';
  const mandatory = (p.extensions ?? []).find((e) => !e.startsWith('-'));
  if (mandatory !== undefined) return `session extension ${quote(mandatory)} not understood`;
  return undefined;
}
