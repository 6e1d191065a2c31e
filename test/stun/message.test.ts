import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import { ParseError } from '../../lib/base/errors.js';
import { bytesToIp, decodeErrorCode, encodeErrorCode, ipToBytes } from '../../lib/stun/attributes.js';
import { shortTermKey, verifyFingerprint, verifyMessageIntegrity, verifyMessageIntegritySha256 } from '../../lib/stun/integrity.js';
import {
  MAGIC_COOKIE, StunAttr, StunMessage, StunMethod, crc32, decodeMessageType, describeStun, encodeMessageType,
  isStunPacket, newTransactionId, padTo64, type StunClass,
} from '../../lib/stun/message.js';
import { ALL_VECTORS, SAMPLE_REQUEST, hex } from './vectors.js';

const TID = hex('00112233 44556677 8899aabb');

function binding(messageClass: StunClass = 'request', legacy = false): StunMessage {
  return new StunMessage({ method: StunMethod.Binding, messageClass, legacy });
}

/** Re-decodes an encoded message. */
function roundTrip(m: StunMessage, opts?: Parameters<StunMessage['encode']>[0]): StunMessage {
  return StunMessage.decode(m.encode(opts));
}

describe('STUN message codec', () => {
  describe('message type (RFC 8489 §5)', () => {
    const table: Array<[number, StunClass, number]> = [
      [StunMethod.Binding, 'request', 0x0001],
      [StunMethod.Binding, 'indication', 0x0011],
      [StunMethod.Binding, 'success', 0x0101],
      [StunMethod.Binding, 'error', 0x0111],
      [StunMethod.Allocate, 'request', 0x0003],
      [StunMethod.Allocate, 'error', 0x0113],
      [StunMethod.Refresh, 'success', 0x0104],
      [StunMethod.Send, 'indication', 0x0016],
      [StunMethod.Data, 'indication', 0x0017],
      [StunMethod.CreatePermission, 'request', 0x0008],
      [StunMethod.ChannelBind, 'success', 0x0109],
      [0xfff, 'error', 0x3fff],
      [0x080, 'request', 0x0200],
    ];
    for (const [method, cls, type] of table) {
      it(`method 0x${method.toString(16)} ${cls} <-> 0x${type.toString(16).padStart(4, '0')}`, () => {
        expect(encodeMessageType(method, cls)).to.equal(type);
        expect(decodeMessageType(type)).to.deep.equal({ method, messageClass: cls });
        const m = roundTrip(new StunMessage({ method, messageClass: cls, transactionId: TID }));
        expect([m.method, m.messageClass]).to.deep.equal([method, cls]);
      });
    }
    it('rejects methods outside 12 bits', () => {
      expect(() => new StunMessage({ method: 0x1000, messageClass: 'request' })).to.throw(RangeError);
      expect(() => new StunMessage({ method: -1, messageClass: 'request' })).to.throw(RangeError);
    });
  });

  describe('header', () => {
    it('writes magic cookie, 12-byte transaction ID and a consistent length', () => {
      const bytes = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: TID }).add(0x8022, Buffer.from('abcde')).encode();
      expect(bytes.readUInt32BE(4)).to.equal(MAGIC_COOKIE);
      expect(bytes.subarray(8, 20)).to.deep.equal(TID);
      expect(bytes.readUInt16BE(2)).to.equal(bytes.length - 20);
      expect(bytes.length).to.equal(20 + 4 + 8);
      expect(bytes.subarray(29)).to.deep.equal(Buffer.alloc(3)); // zero padding
      expect(isStunPacket(bytes)).to.equal(true);
    });
    it('generates random transaction IDs of the right size', () => {
      expect(binding().transactionId.length).to.equal(12);
      expect(newTransactionId().length).to.equal(12);
      expect(newTransactionId(true).length).to.equal(16);
      expect(newTransactionId()).to.not.deep.equal(newTransactionId());
    });
    it('rejects a transaction ID of the wrong length', () => {
      expect(() => new StunMessage({ method: 1, messageClass: 'request', transactionId: Buffer.alloc(16) })).to.throw(RangeError);
      expect(() => new StunMessage({ method: 1, messageClass: 'request', transactionId: Buffer.alloc(12), legacy: true })).to.throw(RangeError);
    });
    it('add/get/has: first occurrence wins (RFC 8489 §14)', () => {
      const m = binding().add(0x8022, Buffer.from('one')).add(0x8022, Buffer.from('two'));
      expect(m.get(0x8022)!.toString()).to.equal('one');
      expect(m.has(0x8022)).to.equal(true);
      expect(m.has(StunAttr.USERNAME)).to.equal(false);
      expect(m.get(StunAttr.USERNAME)).to.equal(undefined);
      expect(roundTrip(m).attributes.map((a) => a.value.toString())).to.deep.equal(['one', 'two']);
    });
    it('describeStun names method, class, tid prefix and attributes', () => {
      const m = new StunMessage({ method: StunMethod.Allocate, messageClass: 'error', transactionId: TID }).addErrorCode(401, 'Unauthenticated');
      expect(describeStun(m)).to.equal('Allocate error response tid=00112233… 401 Unauthenticated [ERROR-CODE]');
      expect(describeStun(binding('success', true))).to.contain('(RFC 3489)');
      expect(describeStun(new StunMessage({ method: 0x0ab, messageClass: 'indication', transactionId: TID }))).to.match(/^method 0x0ab indication/);
    });
  });

  describe('typed helpers round trip', () => {
    const addresses = [
      { address: '192.0.2.1', port: 32853 },
      { address: '0.0.0.0', port: 0 },
      { address: '255.255.255.255', port: 65535 },
      { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 },
      { address: '::1', port: 1 },
      { address: '::', port: 3478 },
      { address: 'fe80::1:2:3:4', port: 9 },
      { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 },
      // IPv4-mapped goes on the wire as family 0x02 and is read back as the IPv4 address it maps (base/address.ts).
      { address: '::ffff:192.0.2.9', port: 5060, decoded: '192.0.2.9' },
      // Other spellings are read back canonical (issue 10).
      { address: '2001:DB8:0:0:0:0:0:0002', port: 3478, decoded: '2001:db8::2' },
    ];
    for (const { decoded, ...a } of addresses) {
      const address = decoded ?? a.address;
      const expected = { address, port: a.port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
      it(`XOR and plain address ${a.address} port ${a.port}`, () => {
        for (const type of [StunAttr.XOR_MAPPED_ADDRESS, StunAttr.XOR_PEER_ADDRESS, StunAttr.XOR_RELAYED_ADDRESS]) {
          const m = roundTrip(binding('success').addXorAddress(type, a));
          expect(m.getXorAddress(type)).to.deep.equal(expected);
          // The XOR form really differs from the plain one (cookie/tid applied).
          expect(m.get(type)!.subarray(2, 4).readUInt16BE(0)).to.equal(a.port ^ 0x2112);
          expect(m.get(type)![1], 'family octet as sent').to.equal(a.address.includes(':') ? 0x02 : 0x01);
        }
        const plain = roundTrip(binding('success').addMappedAddress(StunAttr.MAPPED_ADDRESS, a).addMappedAddress(StunAttr.ALTERNATE_SERVER, a));
        expect(plain.getMappedAddress()).to.deep.equal(expected);
        expect(plain.getMappedAddress(StunAttr.ALTERNATE_SERVER)).to.deep.equal(expected);
        expect(plain.getXorMappedAddress()).to.equal(undefined);
        expect(plain.reflexiveAddress()).to.deep.equal(expected);
      });
    }
    it('XOR-MAPPED-ADDRESS value depends on the transaction ID for IPv6', () => {
      const a = { address: '2001:db8::1', port: 1234 };
      const one = new StunMessage({ method: 1, messageClass: 'success', transactionId: Buffer.alloc(12, 1) }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, a);
      const two = new StunMessage({ method: 1, messageClass: 'success', transactionId: Buffer.alloc(12, 2) }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, a);
      expect(one.get(StunAttr.XOR_MAPPED_ADDRESS)).to.not.deep.equal(two.get(StunAttr.XOR_MAPPED_ADDRESS));
      expect(one.getXorMappedAddress()!.address).to.equal('2001:db8::1');
    });
    it('reads the pre-RFC 0x8020 XOR-MAPPED-ADDRESS', () => {
      const m = roundTrip(binding('success').addXorAddress(StunAttr.XOR_MAPPED_ADDRESS_OLD, { address: '198.51.100.7', port: 4000 }));
      expect(m.getXorMappedAddress()).to.deep.equal({ address: '198.51.100.7', port: 4000, family: 'IPv4' });
    });
    it('rejects bad addresses and ports when encoding', () => {
      expect(() => binding().addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: 'example.com', port: 1 })).to.throw(RangeError);
      expect(() => binding().addMappedAddress(StunAttr.MAPPED_ADDRESS, { address: '1.2.3.4', port: 65536 })).to.throw(RangeError);
      expect(() => binding().addMappedAddress(StunAttr.MAPPED_ADDRESS, { address: '1.2.3.4', port: 1.5 })).to.throw(RangeError);
    });

    for (const username of ['evtj:h6vY', 'a', 'ufragA:ufragB', '\u30de\u30c8\u30ea\u30c3\u30af\u30b9', 'x'.repeat(513)]) {
      it(`USERNAME ${JSON.stringify(username.slice(0, 20))} (${Buffer.byteLength(username)} bytes)`, () => {
        expect(roundTrip(binding().addUsername(username)).getUsername()).to.equal(username);
      });
    }

    for (const p of [0, 1, 0x6e0001ff, 0x7effffff, 0xffffffff]) {
      it(`PRIORITY ${p}`, () => {
        expect(roundTrip(binding().addPriority(p)).getPriority()).to.equal(p);
      });
    }
    it('PRIORITY out of range throws RangeError', () => {
      expect(() => binding().addPriority(-1)).to.throw(RangeError);
      expect(() => binding().addPriority(2 ** 32)).to.throw(RangeError);
      expect(() => binding().addPriority(1.5)).to.throw(RangeError);
    });

    for (const t of [0n, 1n, 0x932ff9b151263b36n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn]) {
      it(`ICE-CONTROLLING / ICE-CONTROLLED tie-breaker 0x${t.toString(16)}`, () => {
        const m = roundTrip(binding().addIceControlling(t).addIceControlled(t ^ 0xffffffffffffffffn));
        expect(m.getIceControlling()).to.equal(t);
        expect(m.getIceControlled()).to.equal(t ^ 0xffffffffffffffffn);
      });
    }
    it('tie-breaker out of range throws RangeError', () => {
      expect(() => binding().addIceControlling(-1n)).to.throw(RangeError);
      expect(() => binding().addIceControlled(2n ** 64n)).to.throw(RangeError);
    });

    it('USE-CANDIDATE', () => {
      const m = roundTrip(binding().addUseCandidate());
      expect(m.has(StunAttr.USE_CANDIDATE)).to.equal(true);
      expect(m.get(StunAttr.USE_CANDIDATE)!.length).to.equal(0);
      expect(roundTrip(binding()).has(StunAttr.USE_CANDIDATE)).to.equal(false);
    });

    const errors: Array<[number, string | undefined, string]> = [
      [300, undefined, 'Try Alternate'],
      [400, 'Bad Request', 'Bad Request'],
      [401, undefined, 'Unauthenticated'],
      [420, undefined, 'Unknown Attribute'],
      [438, 'Stale Nonce', 'Stale Nonce'],
      [487, undefined, 'Role Conflict'],
      [599, '', ''],
      [699, 'r\u00e9ason \u00fcnicode', 'r\u00e9ason \u00fcnicode'],
    ];
    for (const [code, reason, expected] of errors) {
      it(`ERROR-CODE ${code}`, () => {
        const m = roundTrip(binding('error').addErrorCode(code, reason));
        expect(m.getErrorCode()).to.deep.equal({ code, reason: expected });
        const value = m.get(StunAttr.ERROR_CODE)!;
        expect([value[0], value[1], value[2], value[3]]).to.deep.equal([0, 0, Math.floor(code / 100), code % 100]);
      });
    }
    it('ERROR-CODE outside 300..699 throws RangeError', () => {
      for (const code of [0, 200, 299, 700, 401.5]) expect(() => binding('error').addErrorCode(code, 'x')).to.throw(RangeError);
      expect(() => encodeErrorCode(800)).to.throw(RangeError);
      expect(decodeErrorCode(encodeErrorCode(508))).to.deep.equal({ code: 508, reason: 'Insufficient Capacity' });
    });

    it('UNKNOWN-ATTRIBUTES', () => {
      for (const list of [[], [0x0030], [0x0030, 0x7f00], [0x0001, 0x0002, 0x0003]]) {
        expect(roundTrip(binding('error').addUnknownAttributes(list)).getUnknownAttributes()).to.deep.equal(list);
      }
      expect(binding('error').getUnknownAttributes()).to.deep.equal([]);
    });

    it('unknownComprehensionRequired lists unknown 0x0000-0x7fff types once, in order', () => {
      const m = roundTrip(binding().addUsername('a:b').add(0x7f01, Buffer.alloc(1)).add(0xff01, Buffer.alloc(2)).add(0x0030, Buffer.alloc(0)).add(0x7f01, Buffer.alloc(0)));
      expect(m.unknownComprehensionRequired()).to.deep.equal([0x7f01, 0x0030]);
      expect(m.unknownComprehensionRequired([0x0030])).to.deep.equal([0x7f01]);
      expect(roundTrip(binding().addPriority(1).addUseCandidate().addIceControlling(1n)).unknownComprehensionRequired()).to.deep.equal([]);
    });

    it('generic attributes: every value length 0..9 pads to 4 and survives', () => {
      const m = binding();
      for (let n = 0; n < 10; n++) m.add(0x8000 + 0x100 + n, randomBytes(n));
      const back = roundTrip(m);
      expect(back.attributes).to.deep.equal(m.attributes);
    });
  });

  describe('MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const key = shortTermKey('a-password-of-22-chars');
    it('appends them last, in order, and all verify', () => {
      const m = roundTrip(binding().addUsername('u:v').addPriority(7), { integrityKey: key, integritySha256Key: key, fingerprint: true });
      expect(m.attributes.map((a) => a.type).slice(-3)).to.deep.equal([StunAttr.MESSAGE_INTEGRITY, StunAttr.MESSAGE_INTEGRITY_SHA256, StunAttr.FINGERPRINT]);
      expect(verifyMessageIntegrity(m, key)).to.equal(true);
      expect(verifyMessageIntegritySha256(m, key)).to.equal(true);
      expect(verifyFingerprint(m)).to.equal(true);
      expect(verifyMessageIntegrity(m, shortTermKey('wrong'))).to.equal(false);
      expect(verifyMessageIntegritySha256(m, shortTermKey('wrong'))).to.equal(false);
    });
    it('each one alone', () => {
      const a = roundTrip(binding(), { integrityKey: key });
      expect([verifyMessageIntegrity(a, key), verifyMessageIntegritySha256(a, key), verifyFingerprint(a)]).to.deep.equal([true, false, false]);
      const b = roundTrip(binding(), { integritySha256Key: key });
      expect([verifyMessageIntegrity(b, key), verifyMessageIntegritySha256(b, key), verifyFingerprint(b)]).to.deep.equal([false, true, false]);
      const c = roundTrip(binding(), { fingerprint: true });
      expect([verifyMessageIntegrity(c, key), verifyMessageIntegritySha256(c, key), verifyFingerprint(c)]).to.deep.equal([false, false, true]);
    });
    it('the FINGERPRINT matches a hand computation (length includes FINGERPRINT, XOR 0x5354554e)', () => {
      const bytes = binding().encode({ fingerprint: true });
      const prefix = Buffer.from(bytes.subarray(0, 20));
      expect(prefix.readUInt16BE(2)).to.equal(8);
      expect(bytes.readUInt32BE(24)).to.equal((crc32(prefix) ^ 0x5354554e) >>> 0);
      expect(crc32(Buffer.from('123456789'))).to.equal(0xcbf43926); // CRC-32/ISO-HDLC check value
    });
    it('messages without raw bytes do not verify', () => {
      const m = binding();
      m.add(StunAttr.MESSAGE_INTEGRITY, Buffer.alloc(20)).add(StunAttr.FINGERPRINT, Buffer.alloc(4));
      expect(verifyMessageIntegrity(m, key)).to.equal(false);
      expect(verifyFingerprint(m)).to.equal(false);
    });
    it('encode drops stale integrity/fingerprint attributes and regenerates only what is asked', () => {
      const decoded = StunMessage.decode(SAMPLE_REQUEST);
      const plain = StunMessage.decode(decoded.encode());
      expect(plain.has(StunAttr.MESSAGE_INTEGRITY)).to.equal(false);
      expect(plain.has(StunAttr.FINGERPRINT)).to.equal(false);
      expect(plain.getUsername()).to.equal('evtj:h6vY');
    });
    it('verifies a truncated (16-byte) MESSAGE-INTEGRITY-SHA256', () => {
      const base = Buffer.from(binding().addUsername('u:v').encode());
      base.writeUInt16BE(base.length - 20 + 20, 2);
      const mac = createHmac('sha256', key).update(base).digest().subarray(0, 16);
      const bytes = Buffer.concat([base, hex('00 1c 00 10'), mac]);
      const m = StunMessage.decode(bytes);
      expect(verifyMessageIntegritySha256(m, key)).to.equal(true);
      bytes[bytes.length - 1] ^= 1;
      expect(verifyMessageIntegritySha256(StunMessage.decode(bytes), key)).to.equal(false);
    });
    it('ignores attributes after MESSAGE-INTEGRITY (except -SHA256/FINGERPRINT) and after FINGERPRINT (RFC 8489 §14.5, §14.7)', () => {
      const signed = binding().addPriority(5).encode({ integrityKey: key });
      const extra = hex('80 22 00 04 61 62 63 64'); // SOFTWARE "abcd"
      const afterMi = Buffer.concat([signed, extra]);
      afterMi.writeUInt16BE(afterMi.length - 20, 2);
      const m = StunMessage.decode(afterMi);
      expect(m.has(StunAttr.SOFTWARE)).to.equal(false);
      expect(m.attributes.map((a) => a.type)).to.deep.equal([StunAttr.PRIORITY, StunAttr.MESSAGE_INTEGRITY]);
      expect(verifyMessageIntegrity(m, key)).to.equal(true);

      const fp = binding().encode({ fingerprint: true });
      const afterFp = Buffer.concat([fp, extra]);
      afterFp.writeUInt16BE(afterFp.length - 20, 2);
      expect(StunMessage.decode(afterFp).attributes.map((a) => a.type)).to.deep.equal([StunAttr.FINGERPRINT]);
    });
  });

  describe('malformed input', () => {
    const good = new StunMessage({ method: 1, messageClass: 'request', transactionId: TID }).addUsername('abc').encode();
    const header = (length: number, type = 0x0001) => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(type, 0);
      h.writeUInt16BE(length, 2);
      h.writeUInt32BE(MAGIC_COOKIE, 4);
      TID.copy(h, 8);
      return h;
    };
    const withAttr = (type: number, value: Buffer, declared = value.length) => {
      const pad = (4 - (value.length % 4)) % 4;
      const body = Buffer.concat([Buffer.from([type >> 8, type & 0xff, declared >> 8, declared & 0xff]), value, Buffer.alloc(pad)]);
      return Buffer.concat([header(body.length), body]);
    };
    const cases: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['1 byte', Buffer.from([0])],
      ['19 bytes', good.subarray(0, 19)],
      ['top bit set (RTP-like)', Buffer.concat([Buffer.from([0x80]), good.subarray(1)])],
      ['second bit set (ChannelData-like)', Buffer.concat([Buffer.from([0x40]), good.subarray(1)])],
      ['length not a multiple of 4', Buffer.concat([header(2), Buffer.alloc(2)])],
      ['length larger than datagram', Buffer.concat([header(8), Buffer.alloc(4)])],
      ['length smaller than datagram', Buffer.concat([header(0), Buffer.alloc(4)])],
      ['truncated by 4 bytes', good.subarray(0, good.length - 4)],
      ['attribute header only, value overruns', Buffer.concat([header(4), hex('00 06 00 04')])],
      ['attribute length 0xffff', Buffer.concat([header(8), hex('80 22 ff ff 00 00 00 00')])],
      ['attribute overruns by one byte', withAttr(0x8022, Buffer.alloc(8), 9)],
      ['second attribute overruns', Buffer.concat([header(12), hex('80 22 00 00 80 22 00 05 00 00 00 00')])],
      ['XOR-MAPPED-ADDRESS family 3', withAttr(StunAttr.XOR_MAPPED_ADDRESS, hex('00 03 a1 47 e1 12 a6 43'))],
      ['XOR-MAPPED-ADDRESS IPv4 with 20 bytes', withAttr(StunAttr.XOR_MAPPED_ADDRESS, Buffer.concat([hex('00 01 a1 47'), Buffer.alloc(16)]))],
      ['XOR-MAPPED-ADDRESS IPv6 with 8 bytes', withAttr(StunAttr.XOR_MAPPED_ADDRESS, hex('00 02 a1 47 e1 12 a6 43'))],
      ['MAPPED-ADDRESS 3 bytes', withAttr(StunAttr.MAPPED_ADDRESS, hex('00 01 00'))],
      ['PRIORITY 8 bytes', withAttr(StunAttr.PRIORITY, Buffer.alloc(8))],
      ['PRIORITY 2 bytes', withAttr(StunAttr.PRIORITY, Buffer.alloc(2))],
      ['ICE-CONTROLLING 4 bytes', withAttr(StunAttr.ICE_CONTROLLING, Buffer.alloc(4))],
      ['ICE-CONTROLLED 12 bytes', withAttr(StunAttr.ICE_CONTROLLED, Buffer.alloc(12))],
      ['USE-CANDIDATE 4 bytes', withAttr(StunAttr.USE_CANDIDATE, Buffer.alloc(4))],
      ['MESSAGE-INTEGRITY 16 bytes', withAttr(StunAttr.MESSAGE_INTEGRITY, Buffer.alloc(16))],
      ['MESSAGE-INTEGRITY-SHA256 12 bytes', withAttr(StunAttr.MESSAGE_INTEGRITY_SHA256, Buffer.alloc(12))],
      ['MESSAGE-INTEGRITY-SHA256 36 bytes', withAttr(StunAttr.MESSAGE_INTEGRITY_SHA256, Buffer.alloc(36))],
      ['FINGERPRINT 8 bytes', withAttr(StunAttr.FINGERPRINT, Buffer.alloc(8))],
      ['ERROR-CODE 3 bytes', withAttr(StunAttr.ERROR_CODE, hex('00 00 04'))],
      ['ERROR-CODE class 2', withAttr(StunAttr.ERROR_CODE, hex('00 00 02 00'))],
      ['ERROR-CODE number 100', withAttr(StunAttr.ERROR_CODE, hex('00 00 04 64'))],
      ['UNKNOWN-ATTRIBUTES odd length', withAttr(StunAttr.UNKNOWN_ATTRIBUTES, hex('00 30 00'))],
      ['LIFETIME 2 bytes', withAttr(StunAttr.LIFETIME, Buffer.alloc(2))],
    ];
    for (const [name, bytes] of cases) {
      it(`${name}: throws ParseError, isStunPacket agrees on framing`, () => {
        expect(() => StunMessage.decode(bytes)).to.throw(ParseError);
        try {
          StunMessage.decode(bytes);
        } catch (e) {
          expect((e as Error).message.length).to.be.greaterThan(10);
        }
      });
    }
    it('the valid baseline decodes', () => {
      expect(StunMessage.decode(good).getUsername()).to.equal('abc');
      expect(StunMessage.decode(withAttr(StunAttr.PRIORITY, Buffer.alloc(4))).getPriority()).to.equal(0);
    });
    it('isStunPacket: RFC 7983 first byte, header size, length consistency', () => {
      for (const [, v] of ALL_VECTORS) expect(isStunPacket(v)).to.equal(true);
      expect(isStunPacket(good)).to.equal(true);
      for (const [name, bytes] of cases.slice(0, 9)) expect(isStunPacket(bytes), name).to.equal(false);
      expect(isStunPacket(hex('80 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'))).to.equal(false); // RTP
      expect(isStunPacket(hex('40 00 00 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'))).to.equal(false); // ChannelData
      expect(isStunPacket(Buffer.concat([hex('00 01 00 00'), randomBytes(16)]))).to.equal(true); // RFC 3489 form
    });
    it('fuzz: bit flips of every vector bit, random TLV soup and random bytes only ever throw ParseError', () => {
      const probe = (bytes: Buffer) => {
        let m: StunMessage;
        try {
          m = StunMessage.decode(bytes);
        } catch (e) {
          expect(e).to.be.instanceOf(ParseError);
          return;
        }
        // A decoded message never makes a typed getter or verifier throw.
        m.getUsername(); m.getPriority(); m.getIceControlled(); m.getIceControlling(); m.getErrorCode();
        m.getUnknownAttributes(); m.getXorMappedAddress(); m.getMappedAddress(); m.reflexiveAddress();
        m.getXorAddress(StunAttr.XOR_PEER_ADDRESS); m.getXorAddress(StunAttr.XOR_RELAYED_ADDRESS); m.unknownComprehensionRequired();
        verifyMessageIntegrity(m, Buffer.from('k')); verifyMessageIntegritySha256(m, Buffer.from('k')); verifyFingerprint(m);
        describeStun(m);
        m.encode({ integrityKey: Buffer.from('k'), fingerprint: true });
      };
      for (const [, v] of ALL_VECTORS) {
        for (let bit = 0; bit < v.length * 8; bit++) {
          const b = Buffer.from(v);
          b[bit >> 3] ^= 1 << (bit & 7);
          probe(b);
        }
      }
      for (let i = 0; i < 3000; i++) {
        const body = randomBytes(4 * Math.floor(Math.random() * 12));
        // Bias attribute types towards known ones so value checks are exercised.
        for (let at = 0; at + 4 <= body.length; at += 4 + 4 * Math.floor(Math.random() * 3)) {
          const known = Object.values(StunAttr);
          body.writeUInt16BE(known[Math.floor(Math.random() * known.length)]!, at);
          body.writeUInt16BE(Math.floor(Math.random() * 24), at + 2);
        }
        probe(Buffer.concat([header(body.length), body]));
        probe(randomBytes(Math.floor(Math.random() * 64)));
      }
    });
  });

  describe('RFC 3489 legacy form', () => {
    it('encodes without magic cookie, 16-byte transaction ID, and decodes as legacy', () => {
      const m = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', legacy: true }).addUsername('abcd');
      expect(m.transactionId.length).to.equal(16);
      expect(m.transactionId.readUInt32BE(0)).to.not.equal(MAGIC_COOKIE);
      const bytes = m.encode();
      expect(bytes.subarray(4, 20)).to.deep.equal(m.transactionId);
      expect(isStunPacket(bytes)).to.equal(true);
      const back = StunMessage.decode(bytes);
      expect(back.legacy).to.equal(true);
      expect(back.transactionId).to.deep.equal(m.transactionId);
      expect(back.getUsername()).to.equal('abcd');
    });
    it('decodes a hand-made RFC 3489 Binding Request with CHANGE-REQUEST', () => {
      const bytes = hex('00 01 00 08  0123456789abcdef fedcba9876543210  00 03 00 04 00 00 00 06');
      const m = StunMessage.decode(bytes);
      expect(m.legacy).to.equal(true);
      expect(m.method).to.equal(StunMethod.Binding);
      expect(m.messageClass).to.equal('request');
      expect(m.transactionId).to.deep.equal(hex('0123456789abcdef fedcba9876543210'));
      expect(m.get(StunAttr.CHANGE_REQUEST)).to.deep.equal(hex('00 00 00 06'));
      expect(m.encode()).to.deep.equal(bytes);
    });
    it('decodes an RFC 3489 Binding Response (0x0101) with MAPPED-, SOURCE- and CHANGED-ADDRESS', () => {
      const tid = newTransactionId(true);
      const m = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: tid, legacy: true })
        .addMappedAddress(StunAttr.MAPPED_ADDRESS, { address: '198.51.100.1', port: 40000 })
        .addMappedAddress(StunAttr.SOURCE_ADDRESS, { address: '203.0.113.1', port: 3478 })
        .addMappedAddress(StunAttr.CHANGED_ADDRESS, { address: '203.0.113.2', port: 3479 });
      const bytes = m.encode();
      expect(bytes.readUInt16BE(0)).to.equal(0x0101);
      const back = StunMessage.decode(bytes);
      expect(back.legacy).to.equal(true);
      expect(back.getXorMappedAddress()).to.equal(undefined);
      expect(back.reflexiveAddress()).to.deep.equal({ address: '198.51.100.1', port: 40000, family: 'IPv4' });
      expect(back.getMappedAddress(StunAttr.CHANGED_ADDRESS)).to.deep.equal({ address: '203.0.113.2', port: 3479, family: 'IPv4' });
    });
    it('Binding Error Response (0x0111) with ERROR-CODE and padded UNKNOWN-ATTRIBUTES', () => {
      const m = new StunMessage({ method: StunMethod.Binding, messageClass: 'error', legacy: true }).addErrorCode(420, 'Unknown Attribute').addUnknownAttributes([0x0030]);
      const bytes = m.encode();
      expect(bytes.readUInt16BE(0)).to.equal(0x0111);
      const back = StunMessage.decode(bytes);
      expect(back.get(StunAttr.UNKNOWN_ATTRIBUTES)).to.deep.equal(hex('00 30 00 30')); // RFC 3489 §11.2.10 even count
      expect(back.getUnknownAttributes()).to.deep.equal([0x0030]);
      expect(back.getErrorCode()).to.deep.equal({ code: 420, reason: 'Unknown Attribute' });
    });
    it('XOR addresses in legacy messages XOR with the 128-bit transaction ID', () => {
      const tid = hex('0102030405060708090a0b0c0d0e0f10');
      const m = new StunMessage({ method: 1, messageClass: 'success', transactionId: tid, legacy: true })
        .addXorAddress(StunAttr.XOR_MAPPED_ADDRESS_OLD, { address: '10.0.0.1', port: 5000 })
        .addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '2001:db8::9', port: 5001 });
      // port 0x1388 ^ 0x0102, address 0a000001 ^ 01020304
      expect(m.get(StunAttr.XOR_MAPPED_ADDRESS_OLD)).to.deep.equal(hex('00 01 12 8a 0b 02 03 05'));
      const back = StunMessage.decode(m.encode());
      expect(back.getXorMappedAddress()).to.deep.equal({ address: '2001:db8::9', port: 5001, family: 'IPv6' });
      expect(back.getXorAddress(StunAttr.XOR_MAPPED_ADDRESS_OLD)).to.deep.equal({ address: '10.0.0.1', port: 5000, family: 'IPv4' });
    });
    it('MESSAGE-INTEGRITY: RFC 3489 §11.2.8 form (input zero-padded to 64 bytes) is written and verified', () => {
      const key = Buffer.from('legacy-password');
      const m = new StunMessage({ method: 1, messageClass: 'request', legacy: true }).addUsername('L1:R1');
      const bytes = m.encode({ integrityKey: key });
      const prefix = bytes.subarray(0, bytes.length - 24);
      expect(bytes.subarray(bytes.length - 20)).to.deep.equal(createHmac('sha1', key).update(padTo64(prefix)).digest());
      expect(prefix.length % 64).to.not.equal(0); // the padding mattered
      const back = StunMessage.decode(bytes);
      expect(verifyMessageIntegrity(back, key)).to.equal(true);
      expect(verifyMessageIntegrity(back, Buffer.from('other'))).to.equal(false);
      // A draft-era peer that hashes RFC 5389-style (no padding) is accepted too.
      const unpadded = StunMessage.decode(m.encode({ integrityKey: key, legacyIntegrityPadding: false }));
      expect(verifyMessageIntegrity(unpadded, key)).to.equal(true);
    });
  });

  describe('IP text helpers', () => {
    const canonical: Array<[string, string]> = [
      ['192.0.2.1', '192.0.2.1'],
      ['2001:0DB8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:0:2:3:0:0:4', '1::2:3:0:0:4'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::ffff:c000:0201', '::ffff:192.0.2.1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ];
    for (const [input, output] of canonical) {
      it(`${input} -> ${output}`, () => {
        expect(bytesToIp(ipToBytes(input))).to.equal(output);
      });
    }
    for (const bad of ['', '1.2.3', '256.1.1.1', '1.2.3.4.5', '1::2::3', '12345::', 'hello', '1:2:3:4:5:6:7:8:9', ':::', '1:2:3:4:5:6:7', '::g', '01.2.3.4x']) {
      it(`rejects ${JSON.stringify(bad)}`, () => {
        expect(() => ipToBytes(bad)).to.throw(RangeError);
      });
    }
  });
});
