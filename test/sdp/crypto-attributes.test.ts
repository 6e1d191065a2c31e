import { expect } from 'chai';
import { catchParseError } from '../helpers/parse-error.js';
import { ParseError } from '../../lib/base/errors.js';
import {
  formatCryptoAttribute,
  maskCryptoKeys,
  parseCryptoAttribute,
  parseCryptoAttributes,
  selectCryptoAnswer,
  type CryptoAttribute,
} from '../../lib/sdp/crypto-attributes.js';

/** RFC 4568 §4 / §8.1 example keys: 30 octets each (40 base64 characters). */
const KEY_A = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';
const KEY_B = 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj';

describe('sdp/crypto-attributes (RFC 4568)', () => {
  describe('parse and format (§9.1)', () => {
    it('reads the RFC example line: tag, suite, key||salt, lifetime 2^20, MKI 1:4', () => {
      const a = parseCryptoAttribute(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4`);
      expect(a.tag).to.equal(1);
      expect(a.suite).to.equal('AES_CM_128_HMAC_SHA1_80');
      expect(a.usable).to.equal(true);
      expect(a.keyParams).to.have.length(1);
      const [key] = a.keyParams;
      expect(key!.method).to.equal('inline');
      expect(key!.keySalt!.equals(Buffer.from(KEY_A, 'base64'))).to.equal(true);
      expect(key!.keySalt!.length).to.equal(30);
      expect(key!.lifetime).to.equal(1048576n);
      expect(key!.mki).to.deep.equal({ value: 1n, length: 4 });
      expect(a.sessionParams).to.deep.equal({});
      expect(formatCryptoAttribute(a)).to.equal(`crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4`);
    });

    const roundTrips: Array<[name: string, value: string]> = [
      ['bare key, _32 suite', `crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`],
      ['MKI without lifetime', `crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|7:1`],
      ['decimal lifetime that is not a power of two', `crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1000000`],
      ['two keys', `crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4;inline:${KEY_B}|2^20|2:4`],
      ['every session parameter', `crypto:6 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=23 UNENCRYPTED_SRTP UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP FEC_ORDER=FEC_SRTP FEC_KEY=inline:${KEY_B}|2^20|1:4 WSH=128 -X_OPTIONAL X_MANDATORY=1`],
      ['largest tag and a 128-octet MKI length', `crypto:999999999 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A}|2^48|12345678901234567890:128`],
    ];
    for (const [name, value] of roundTrips) {
      it(`round trips: ${name}`, () => {
        expect(formatCryptoAttribute(parseCryptoAttribute(value))).to.equal(value);
        expect(formatCryptoAttribute(parseCryptoAttribute(`a=${value}`))).to.equal(value);
      });
    }

    it('reads the session parameters into fields', () => {
      const a = parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=23 UNENCRYPTED_SRTCP FEC_ORDER=SRTP_FEC FEC_KEY=inline:${KEY_B} WSH=256 -FOO`);
      expect(a.sessionParams.kdr).to.equal(23);
      expect(a.sessionParams.unencryptedSrtcp).to.equal(true);
      expect(a.sessionParams.unencryptedSrtp).to.equal(undefined);
      expect(a.sessionParams.fecOrder).to.equal('SRTP_FEC');
      expect(a.sessionParams.fecKey![0]!.keySalt!.equals(Buffer.from(KEY_B, 'base64'))).to.equal(true);
      expect(a.sessionParams.windowSizeHint).to.equal(256);
      expect(a.sessionParams.extensions).to.deep.equal(['-FOO']);
    });

    it('is tolerant of tabs, runs of white space and case in ABNF literals', () => {
      const a = parseCryptoAttribute(`crypto:1\t aes_cm_128_hmac_sha1_32   INLINE:${KEY_A}|2^20  kdr=1  wsh=64`);
      expect(a.usable).to.equal(true);
      expect(a.suite).to.equal('aes_cm_128_hmac_sha1_32');
      expect(a.keyParams[0]!.method).to.equal('INLINE');
      expect(a.sessionParams).to.include({ kdr: 1, windowSizeHint: 64 });
    });

    it('keeps lines with unknown suites, flagged unusable and without a key length check', () => {
      const key46 = Buffer.alloc(46, 7).toString('base64');
      const a = parseCryptoAttribute(`crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${key46}`);
      expect(a.usable).to.equal(false);
      expect(a.keyParams[0]!.keySalt!.length).to.equal(46);
      const b = parseCryptoAttribute(`crypto:2 F8_128_HMAC_SHA1_80 inline:${KEY_A}`);
      expect(b.usable).to.equal(false);
      const c = parseCryptoAttribute('crypto:3 FUTURE_SUITE uri:https://example.com/key');
      expect(c.usable).to.equal(false);
      expect(c.keyParams[0]).to.deep.equal({ method: 'uri', keyInfo: 'https://example.com/key' });
      expect(formatCryptoAttribute(c)).to.equal('crypto:3 FUTURE_SUITE uri:https://example.com/key');
    });

    const key29 = Buffer.alloc(29, 1).toString('base64');
    const key31 = Buffer.alloc(31, 1).toString('base64');
    const invalid: Array<[name: string, value: string, where: string]> = [
      ['empty', '', 'tag'],
      ['non-digit tag', `crypto:x AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`, 'tag'],
      ['ten-digit tag', `crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`, 'tag'],
      ['missing suite', 'crypto:1', 'crypto-suite'],
      ['suite with a dash', `crypto:1 AES-CM inline:${KEY_A}`, 'crypto-suite'],
      ['missing key-params', 'crypto:1 AES_CM_128_HMAC_SHA1_80', 'key-params'],
      ['key-param without method', `crypto:1 AES_CM_128_HMAC_SHA1_80 ${KEY_A}`, 'key-params'],
      ['empty method', `crypto:1 AES_CM_128_HMAC_SHA1_80 :${KEY_A}`, 'key-params'],
      ['method with a dot', `crypto:1 AES_CM_128_HMAC_SHA1_80 in.line:${KEY_A}`, 'key-method'],
      ['key not base64', 'crypto:1 AES_CM_128_HMAC_SHA1_80 inline:not*base64', 'key-salt'],
      ['empty key', 'crypto:1 AES_CM_128_HMAC_SHA1_80 inline:|2^20', 'key-salt'],
      ['base64 of no octets, unknown suite (make fuzz)', 'crypto:7 1 inline:W=', 'key-salt'],
      ['29-octet key||salt', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key29}`, 'key-salt'],
      ['31-octet key||salt', `crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${key31}`, 'key-salt'],
      ['wrong length in a second key', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1:1;inline:${key29}|2:1`, 'key-salt'],
      ['lifetime with letters', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^x`, 'lifetime'],
      ['lifetime 2^65', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^65`, 'lifetime'],
      ['lifetime 2^99999', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^99999`, 'lifetime'],
      ['lifetime 0', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|0`, 'lifetime'],
      ['two lifetimes', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|2^10`, 'lifetime'],
      ['MKI before lifetime', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1:4|2^20`, 'mki'],
      ['MKI length 0', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1:0`, 'mki'],
      ['MKI length 129', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1:129`, 'mki'],
      ['MKI value too large for its length', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|256:1`, 'mki'],
      ['MKI without value', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|:4`, 'mki'],
      ['too many | fields', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4|x`, 'key-params'],
      ['KDR=25', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=25`, 'session-param'],
      ['KDR=abc', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=abc`, 'session-param'],
      ['WSH=63', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} WSH=63`, 'session-param'],
      ['FEC_ORDER=OTHER', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} FEC_ORDER=OTHER`, 'session-param'],
      ['bad FEC_KEY', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} FEC_KEY=inline:${key29}`, 'key-salt'],
      ['KDR twice', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=1 KDR=2`, 'session-param'],
      ['lone dash', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} -`, 'session-param'],
      ['non-ASCII session parameter', `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} WSHé`, 'session-param'],
    ];
    for (const [name, value, where] of invalid) {
      it(`rejects ${name} (ParseError at ${where}) without quoting key material`, () => {
        const e = catchParseError(() => parseCryptoAttribute(value));
        expect(e.where).to.equal(where);
        expect(e.message).to.not.equal('');
        for (const secret of [KEY_A, KEY_B, key29, key31]) expect(e.message).to.not.include(secret.slice(0, 12));
      });
    }

    it('formatting refuses attributes that would not parse back', () => {
      const good = parseCryptoAttribute(`crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`);
      const bad: CryptoAttribute[] = [
        { ...good, tag: 1e10 },
        { ...good, suite: 'AES CM' },
        { ...good, keyParams: [] },
        { ...good, keyParams: [{ method: 'inline', keySalt: Buffer.alloc(29) }] },
        { ...good, keyParams: [{ method: 'inline', keySalt: Buffer.alloc(30), mki: { value: 256n, length: 1 } }] },
        { ...good, keyParams: [{ method: 'inline', keySalt: Buffer.alloc(30), lifetime: 0n }] },
        { ...good, sessionParams: { windowSizeHint: 32 } },
        { ...good, sessionParams: { kdr: 30 } },
      ];
      for (const attribute of bad) expect(() => formatCryptoAttribute(attribute)).to.throw(RangeError);
    });
  });

  describe('parseCryptoAttributes (one media description)', () => {
    it('keeps the good lines, lists bad and duplicate-tag lines with keys masked', () => {
      const { attributes, errors } = parseCryptoAttributes([
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}x`,
        `a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`,
      ]);
      expect(attributes.map((a) => a.tag)).to.deep.equal([1, 3]);
      expect(errors.map((e) => e.error.where)).to.deep.equal(['key-salt', 'tag']);
      expect(errors[0]!.line).to.equal('a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:***');
      expect(errors[1]!.line).to.equal('a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:***');
    });
  });

  describe('maskCryptoKeys', () => {
    it('replaces every inline key in an SDP body, keeping lifetime, MKI and everything else', () => {
      const sdp = [
        'v=0', 'm=audio 49170 RTP/SAVP 0',
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|2^20|1:4;inline:${KEY_B}|2^20|2:4 FEC_KEY=INLINE:${KEY_B}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`, '',
      ].join('\r\n');
      const masked = maskCryptoKeys(sdp);
      expect(masked).to.not.include(KEY_A);
      expect(masked).to.not.include(KEY_B);
      expect(masked).to.include('a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***|2^20|1:4;inline:***|2^20|2:4 FEC_KEY=INLINE:***\r\n');
      expect(masked).to.include('a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:***\r\n');
      expect(masked.startsWith('v=0\r\nm=audio 49170 RTP/SAVP 0\r\n')).to.equal(true);
    });
  });

  describe('selectCryptoAnswer (§7.1.2)', () => {
    const offer = (lines: string[]) => parseCryptoAttributes(lines).attributes;

    it('takes the first offered line it supports, keeps its tag and suite, answers with its own key', () => {
      const offered = offer([
        `a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${Buffer.alloc(46, 3).toString('base64')}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A}|2^31 WSH=512`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_B}`,
      ]);
      const result = selectCryptoAnswer(offered);
      if (!result.ok) expect.fail(JSON.stringify(result.skipped));
      expect(result.offer.tag).to.equal(2);
      expect(result.answer.tag).to.equal(2);
      expect(result.answer.suite).to.equal('AES_CM_128_HMAC_SHA1_32');
      expect(result.answer.keyParams).to.have.length(1);
      const key = result.answer.keyParams[0]!.keySalt!;
      expect(key.length).to.equal(30);
      expect(key.equals(Buffer.from(KEY_A, 'base64'))).to.equal(false);
      expect(result.answer.sessionParams).to.deep.equal({});
      expect(result.offer.sessionParams.windowSizeHint).to.equal(512);
      expect(result.skipped).to.deep.equal([{ tag: 1, suite: 'AES_256_CM_HMAC_SHA1_80', reason: 'crypto-suite not implemented' }]);
      const line = formatCryptoAttribute(result.answer);
      expect(line).to.match(/^crypto:2 AES_CM_128_HMAC_SHA1_32 inline:[A-Za-z0-9+/]{40}$/);
      expect(parseCryptoAttribute(line).keyParams[0]!.keySalt!.equals(key)).to.equal(true);
      const again = selectCryptoAnswer(offered);
      expect(again.ok && again.answer.keyParams[0]!.keySalt!.equals(key)).to.equal(false); // a fresh random key each time
    });

    it('passes over lines whose parameters it cannot honour, saying why', () => {
      const offered = offer([
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=0`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} UNENCRYPTED_SRTP`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} UNENCRYPTED_SRTCP`,
        `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} UNAUTHENTICATED_SRTP`,
        `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}|1:1;inline:${KEY_B}|2:1`,
        `a=crypto:6 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} FEC_KEY=inline:${KEY_B}`,
        `a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} NEW_THING`,
        `a=crypto:8 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} -NEW_THING FEC_ORDER=FEC_SRTP`,
      ]);
      const result = selectCryptoAnswer(offered);
      if (!result.ok) expect.fail(JSON.stringify(result.skipped));
      expect(result.answer.tag).to.equal(8);
      expect(result.skipped.map((s) => s.tag)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
      expect(result.skipped.map((s) => s.reason)).to.satisfy((reasons: string[]) =>
        /KDR/.test(reasons[0]!) && /UNENCRYPTED_SRTP/.test(reasons[1]!) && /UNENCRYPTED_SRTCP/.test(reasons[2]!) &&
        /UNAUTHENTICATED_SRTP/.test(reasons[3]!) && /master keys/.test(reasons[4]!) && /FEC_KEY/.test(reasons[5]!) && /NEW_THING/.test(reasons[6]!));
    });

    it('restricts to the suites the caller accepts and uses the caller key; no match gives ok: false', () => {
      const offered = offer([`a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A}`, `a=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:${KEY_B}`]);
      const keySalt = Buffer.alloc(30, 0x42);
      const result = selectCryptoAnswer(offered, { suites: ['AES_CM_128_HMAC_SHA1_80'], keySalt });
      expect(result.ok && result.answer.tag).to.equal(9);
      expect(result.ok && result.answer.keyParams[0]!.keySalt!.equals(keySalt)).to.equal(true);
      expect(() => selectCryptoAnswer(offered, { keySalt: Buffer.alloc(16) })).to.throw(RangeError);
      const none = selectCryptoAnswer(offer([`a=crypto:1 F8_128_HMAC_SHA1_80 inline:${KEY_A}`]));
      expect(none.ok).to.equal(false);
      expect(none.skipped).to.have.length(1);
      expect(selectCryptoAnswer([]).ok).to.equal(false);
    });
  });
});
