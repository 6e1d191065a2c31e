import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { StateError } from '../../lib/base/errors.js';
import { estimateIndex, SrtpContext, type SrtpResult } from '../../lib/srtp/srtp-context.js';
import { SrtpSession } from '../../lib/srtp/srtp-session.js';
import { SRTP_SUITE_NAMES, type SrtpSuiteName } from '../../lib/srtp/suites.js';
import { hex, referenceSrtp, rtpPacket } from './reference.js';

const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');

function pair(suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80', extra: { replayWindowSize?: number; maxSsrcs?: number } = {}) {
  const sender = new SrtpContext({ direction: 'outbound', suite, masterKey, masterSalt, ...extra });
  const receiver = new SrtpContext({ direction: 'inbound', suite, masterKey, masterSalt, ...extra });
  return { sender, receiver };
}

function ok(result: SrtpResult): Extract<SrtpResult, { ok: true }> {
  if (!result.ok) expect.fail(`expected ok, got ${result.reason}: ${result.detail}`);
  return result;
}

function dropped(result: SrtpResult): string {
  if (result.ok) expect.fail('expected the packet to be dropped');
  expect(result.detail).to.be.a('string').and.not.equal('');
  return result.reason;
}

describe('srtp/srtp-context: SRTP (RFC 3711 §3.3)', () => {
  for (const suite of SRTP_SUITE_NAMES) {
    it(`${suite}: round trip keeps the header clear, encrypts the payload, appends the tag`, () => {
      const { sender, receiver } = pair(suite);
      const tagLength = suite.endsWith('_80') ? 10 : 4;
      for (const sequence of [1000, 1001, 1002]) {
        const plain = rtpPacket({ sequence });
        const sent = ok(sender.protectRtp(plain));
        expect(sent.packet.length).to.equal(plain.length + tagLength);
        expect(sent.packet.subarray(0, 12).equals(plain.subarray(0, 12))).to.equal(true);
        expect(sent.packet.subarray(12, plain.length).equals(plain.subarray(12))).to.equal(false);
        expect(sent.index).to.equal(sequence);
        const back = ok(receiver.unprotectRtp(sent.packet));
        expect(back.packet.equals(plain)).to.equal(true);
        expect(back.index).to.equal(sequence);
        expect(back.ssrc).to.equal(0x11223344);
      }
      expect(sender.stats.rtp).to.equal(3);
      expect(receiver.stats.rtp).to.equal(3);
    });
  }

  it('protect output equals an independent node:crypto computation (keystream XOR + HMAC-SHA1), before and after a ROC increment', () => {
    for (const suite of SRTP_SUITE_NAMES) {
      const { sender } = pair(suite);
      const tagLength = suite.endsWith('_80') ? 10 : 4;
      const first = rtpPacket({ sequence: 65535, ssrc: 0xcafebabe, payload: Buffer.alloc(172 - 12, 0xd5) });
      expect(ok(sender.protectRtp(first)).packet.toString('hex')).to.equal(referenceSrtp(masterKey, masterSalt, first, 12, 65535, tagLength).toString('hex'));
      const second = rtpPacket({ sequence: 0, ssrc: 0xcafebabe, payload: Buffer.alloc(172 - 12, 0x55) });
      const sent = ok(sender.protectRtp(second));
      expect(sent.index).to.equal(65536);
      expect(sent.packet.toString('hex')).to.equal(referenceSrtp(masterKey, masterSalt, second, 12, 65536, tagLength).toString('hex'));
    }
  });

  it('CSRCs and the header extension stay clear but authenticated', () => {
    const { sender, receiver } = pair();
    const plain = rtpPacket({ sequence: 7, csrcs: [0x01020304, 0x05060708], extension: { profile: 0xbede, data: hex('10aa0000') } });
    const headerLength = 12 + 8 + 8;
    const sent = ok(sender.protectRtp(plain));
    expect(sent.packet.toString('hex')).to.equal(referenceSrtp(masterKey, masterSalt, plain, headerLength, 7, 10).toString('hex'));
    const tampered = Buffer.from(sent.packet);
    tampered[13]! ^= 0x01; // inside the first CSRC
    expect(dropped(receiver.unprotectRtp(tampered))).to.equal('authentication-failed');
    expect(ok(receiver.unprotectRtp(sent.packet)).packet.equals(plain)).to.equal(true);
  });

  it('an empty payload (header-only packet) round trips', () => {
    const { sender, receiver } = pair();
    const plain = rtpPacket({ sequence: 9, payload: Buffer.alloc(0) });
    const sent = ok(sender.protectRtp(plain));
    expect(sent.packet.length).to.equal(22);
    expect(ok(receiver.unprotectRtp(sent.packet)).packet.equals(plain)).to.equal(true);
  });

  it('the rollover counter follows seq 65535 → 0 on both sides (RFC 3711 §3.3.1)', () => {
    const { sender, receiver } = pair();
    const sequences = [65533, 65534, 65535, 0, 1, 2];
    const expected = [65533, 65534, 65535, 65536, 65537, 65538];
    sequences.forEach((sequence, i) => {
      const plain = rtpPacket({ sequence });
      const sent = ok(sender.protectRtp(plain));
      expect(sent.index, `sender index for ${sequence}`).to.equal(expected[i]);
      const back = ok(receiver.unprotectRtp(sent.packet));
      expect(back.index, `receiver index for ${sequence}`).to.equal(expected[i]);
      expect(back.packet.equals(plain)).to.equal(true);
    });
  });

  it('a packet from before the wrap that arrives after it is still accepted once, with the old ROC', () => {
    const { sender, receiver } = pair();
    const packets = new Map<number, Buffer>();
    for (const sequence of [65534, 65535, 0, 1]) packets.set(sequence, ok(sender.protectRtp(rtpPacket({ sequence }))).packet);
    expect(ok(receiver.unprotectRtp(packets.get(65534)!)).index).to.equal(65534);
    expect(ok(receiver.unprotectRtp(packets.get(0)!)).index).to.equal(65536);
    expect(ok(receiver.unprotectRtp(packets.get(65535)!)).index).to.equal(65535);
    expect(ok(receiver.unprotectRtp(packets.get(1)!)).index).to.equal(65537);
    expect(dropped(receiver.unprotectRtp(packets.get(65535)!))).to.equal('replayed');
  });

  it('out-of-order packets within the window are accepted once; replays and packets behind the window are rejected', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', { replayWindowSize: 64 });
    const packets: Buffer[] = [];
    for (let sequence = 0; sequence <= 200; sequence++) packets.push(ok(sender.protectRtp(rtpPacket({ sequence }))).packet);
    ok(receiver.unprotectRtp(packets[200]!));
    ok(receiver.unprotectRtp(packets[150]!));
    ok(receiver.unprotectRtp(packets[199]!));
    expect(dropped(receiver.unprotectRtp(packets[150]!))).to.equal('replayed');
    expect(dropped(receiver.unprotectRtp(packets[200]!))).to.equal('replayed');
    expect(dropped(receiver.unprotectRtp(packets[100]!))).to.equal('too-old');
    ok(receiver.unprotectRtp(packets[137]!)); // 200 - 137 = 63: the oldest slot in a 64-packet window
    expect(dropped(receiver.unprotectRtp(packets[136]!))).to.equal('too-old');
    expect(receiver.stats.dropped).to.include({ replayed: 2, 'too-old': 2 });
  });

  it('a larger window is configurable and accepts older packets', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', { replayWindowSize: 1024 });
    const packets: Buffer[] = [];
    for (let sequence = 0; sequence <= 1000; sequence++) packets.push(ok(sender.protectRtp(rtpPacket({ sequence }))).packet);
    ok(receiver.unprotectRtp(packets[1000]!));
    ok(receiver.unprotectRtp(packets[0]!));
    expect(dropped(receiver.unprotectRtp(packets[0]!))).to.equal('replayed');
  });

  it('a flipped bit anywhere in header, payload or tag is rejected, and does not disturb the state', () => {
    for (const suite of SRTP_SUITE_NAMES) {
      const { sender, receiver } = pair(suite);
      const sent = ok(sender.protectRtp(rtpPacket({ sequence: 500 }))).packet;
      for (let bit = 0; bit < sent.length * 8; bit += 3) {
        const tampered = Buffer.from(sent);
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        const result = receiver.unprotectRtp(tampered);
        expect(result.ok, `${suite} bit ${bit}`).to.equal(false);
      }
      expect(ok(receiver.unprotectRtp(sent)).index).to.equal(500);
    }
  });

  it('a forged packet far ahead moves neither the ROC nor the window', () => {
    const { sender, receiver } = pair();
    ok(receiver.unprotectRtp(ok(sender.protectRtp(rtpPacket({ sequence: 65000 }))).packet));
    const forged = rtpPacket({ sequence: 100 }); // would be ROC 1 if accepted
    const forgedSrtp = Buffer.concat([forged, randomBytes(10)]);
    expect(dropped(receiver.unprotectRtp(forgedSrtp))).to.equal('authentication-failed');
    const next = ok(receiver.unprotectRtp(ok(sender.protectRtp(rtpPacket({ sequence: 65001 }))).packet));
    expect(next.index).to.equal(65001);
  });

  it('a packet under another master key fails authentication', () => {
    const other = new SrtpContext({ direction: 'outbound', suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: randomBytes(16), masterSalt });
    const { receiver } = pair();
    expect(dropped(receiver.unprotectRtp(ok(other.protectRtp(rtpPacket({ sequence: 1 }))).packet))).to.equal('authentication-failed');
  });

  it('truncated and malformed packets give typed results, never exceptions', () => {
    const { sender, receiver } = pair();
    const sent = ok(sender.protectRtp(rtpPacket({ sequence: 42 }))).packet;
    for (let length = 0; length < 22; length++) {
      expect(dropped(receiver.unprotectRtp(sent.subarray(0, length))), `length ${length}`).to.equal('truncated');
    }
    expect(dropped(sender.protectRtp(Buffer.alloc(11, 0x80)))).to.equal('truncated');
    const v1 = Buffer.from(sent);
    v1[0] = 0x40;
    expect(dropped(receiver.unprotectRtp(v1))).to.equal('malformed');
    expect(dropped(sender.protectRtp(Buffer.from(v1.subarray(0, 172))))).to.equal('malformed');
    // CC = 15 claims 60 octets of CSRCs that run into the tag.
    const shortCsrc = Buffer.concat([rtpPacket({ sequence: 1, payload: Buffer.alloc(20) }), Buffer.alloc(10)]);
    shortCsrc[0] = 0x8f;
    expect(dropped(receiver.unprotectRtp(shortCsrc))).to.equal('truncated');
    // Header extension length larger than the packet.
    const longExtension = rtpPacket({ sequence: 2, extension: { profile: 0xbede, data: Buffer.alloc(4) }, payload: Buffer.alloc(0) });
    longExtension.writeUInt16BE(0xffff, 14);
    expect(dropped(sender.protectRtp(longExtension))).to.equal('truncated');
    // Every truncation of a valid packet, and random garbage: dropped, no throw.
    for (let length = 22; length < sent.length; length++) expect(receiver.unprotectRtp(sent.subarray(0, length)).ok).to.equal(false);
    for (let i = 0; i < 300; i++) {
      const garbage = randomBytes(i % 200);
      expect(receiver.unprotectRtp(garbage).ok).to.equal(false);
      expect(() => receiver.unprotectRtcp(garbage)).not.to.throw();
      expect(() => sender.protectRtp(garbage)).not.to.throw();
    }
    expect(ok(receiver.unprotectRtp(sent)).index).to.equal(42);
  });

  it('an index before the first packet (estimated ROC -1) is too old', () => {
    const { sender, receiver } = pair();
    ok(receiver.unprotectRtp(ok(sender.protectRtp(rtpPacket({ sequence: 10 }))).packet));
    const other = pair().sender;
    expect(dropped(receiver.unprotectRtp(ok(other.protectRtp(rtpPacket({ sequence: 65000 }))).packet))).to.equal('too-old');
  });

  it('protecting the same SSRC and index twice is refused (keystream reuse)', () => {
    const { sender } = pair();
    ok(sender.protectRtp(rtpPacket({ sequence: 5 })));
    expect(dropped(sender.protectRtp(rtpPacket({ sequence: 5, payload: Buffer.alloc(160, 1) })))).to.equal('index-reused');
    ok(sender.protectRtp(rtpPacket({ sequence: 4 }))); // late but unused: allowed
    ok(sender.protectRtp(rtpPacket({ sequence: 5, ssrc: 0x99 }))); // another SSRC has its own indices
    expect(sender.stats.dropped['index-reused']).to.equal(1);
  });

  it('an MKI is carried between payload and tag and must match on receipt', () => {
    const mki = hex('00000001');
    const sender = new SrtpContext({ direction: 'outbound', suite: 'AES_CM_128_HMAC_SHA1_32', masterKey, masterSalt, mki });
    const receiver = new SrtpContext({ direction: 'inbound', suite: 'AES_CM_128_HMAC_SHA1_32', masterKey, masterSalt, mki });
    const stranger = new SrtpContext({ direction: 'inbound', suite: 'AES_CM_128_HMAC_SHA1_32', masterKey, masterSalt, mki: hex('00000002') });
    const plain = rtpPacket({ sequence: 77 });
    const sent = ok(sender.protectRtp(plain)).packet;
    expect(sent.length).to.equal(plain.length + 4 + 4);
    expect(sent.subarray(plain.length, plain.length + 4).equals(mki)).to.equal(true);
    // Without the MKI the packet is the same as the reference: the MKI is not authenticated (RFC 3711 §3.1).
    const withoutMki = Buffer.concat([sent.subarray(0, plain.length), sent.subarray(plain.length + 4)]);
    expect(withoutMki.toString('hex')).to.equal(referenceSrtp(masterKey, masterSalt, plain, 12, 77, 4).toString('hex'));
    expect(dropped(stranger.unprotectRtp(sent))).to.equal('unknown-mki');
    expect(ok(receiver.unprotectRtp(sent)).packet.equals(plain)).to.equal(true);
    expect(() => new SrtpContext({ direction: 'inbound', suite: 'AES_CM_128_HMAC_SHA1_32', masterKey, masterSalt, mki: Buffer.alloc(0) })).to.throw(RangeError);
  });

  it('state is bounded: a new SSRC beyond maxSsrcs is dropped and counted', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', { maxSsrcs: 2 });
    const unlimited = new SrtpContext({ direction: 'outbound', suite: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt });
    for (const ssrc of [1, 2]) ok(receiver.unprotectRtp(ok(sender.protectRtp(rtpPacket({ sequence: 1, ssrc }))).packet));
    expect(dropped(sender.protectRtp(rtpPacket({ sequence: 1, ssrc: 3 })))).to.equal('ssrc-limit');
    expect(dropped(receiver.unprotectRtp(ok(unlimited.protectRtp(rtpPacket({ sequence: 1, ssrc: 3 }))).packet))).to.equal('ssrc-limit');
    expect(receiver.ssrcCount).to.equal(2);
    expect(receiver.stats.dropped['ssrc-limit']).to.equal(1);
    // Unauthenticated packets never create state.
    const fresh = pair().receiver;
    for (let ssrc = 100; ssrc < 200; ssrc++) fresh.unprotectRtp(Buffer.concat([rtpPacket({ sequence: 1, ssrc }), Buffer.alloc(10)]));
    expect(fresh.ssrcCount).to.equal(0);
  });

  it('a context refuses the other direction with StateError, and bad options with RangeError', () => {
    const { sender, receiver } = pair();
    expect(() => receiver.protectRtp(rtpPacket({ sequence: 1 }))).to.throw(StateError);
    expect(() => sender.unprotectRtp(rtpPacket({ sequence: 1 }))).to.throw(StateError);
    expect(() => receiver.protectRtcp(Buffer.alloc(8))).to.throw(StateError);
    expect(() => sender.unprotectRtcp(Buffer.alloc(30))).to.throw(StateError);
    const base = { direction: 'inbound' as const, masterKey, masterSalt };
    expect(() => new SrtpContext({ ...base, suite: 'F8_128_HMAC_SHA1_80' as SrtpSuiteName })).to.throw(RangeError);
    expect(() => new SrtpContext({ ...base, suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(30) })).to.throw(RangeError);
    expect(() => new SrtpContext({ ...base, suite: 'AES_CM_128_HMAC_SHA1_80', replayWindowSize: 32 })).to.throw(RangeError);
    expect(() => new SrtpContext({ ...base, suite: 'AES_CM_128_HMAC_SHA1_80', maxSsrcs: 0 })).to.throw(RangeError);
  });

  it('SrtpSession pairs an outbound and an inbound context, with one key or one per direction', () => {
    const ours = { masterKey: randomBytes(16), masterSalt: randomBytes(14) };
    const theirs = { masterKey: randomBytes(16), masterSalt: randomBytes(14) };
    const alice = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', outbound: ours, inbound: theirs });
    const bob = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', outbound: theirs, inbound: ours });
    const plain = rtpPacket({ sequence: 3 });
    expect(ok(bob.unprotectRtp(ok(alice.protectRtp(plain)).packet)).packet.equals(plain)).to.equal(true);
    expect(ok(alice.unprotectRtp(ok(bob.protectRtp(plain)).packet)).packet.equals(plain)).to.equal(true);
    expect(dropped(alice.unprotectRtp(ok(alice.protectRtp(rtpPacket({ sequence: 4 }))).packet))).to.equal('authentication-failed');
    const loop = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_32', outbound: ours });
    expect(ok(loop.unprotectRtp(ok(loop.protectRtp(plain)).packet)).packet.equals(plain)).to.equal(true);
    expect(alice.outbound.direction).to.equal('outbound');
    expect(alice.inbound.direction).to.equal('inbound');
  });
});

describe('srtp/srtp-context: index estimation (RFC 3711 Appendix A)', () => {
  const table: Array<[roc: number, highest: number, sequence: number, index: number]> = [
    [0, 100, 101, 101],
    [0, 100, 50, 50],
    [0, 100, 65000, -536], // ROC - 1 with ROC 0
    [1, 100, 65000, 65000], // ROC - 1: a late packet from before the wrap
    [0, 65000, 10, 65536 + 10], // ROC + 1: the wrap
    [0, 65000, 40000, 40000],
    [3, 32768, 0, 3 * 65536], // s_l - 32768 > SEQ is false at the boundary
    [3, 32769, 0, 4 * 65536],
    [2, 32767, 65535, 2 * 65536 + 65535], // SEQ - s_l = 32768 is not > 32768
    [0xffffffff, 65535, 0, 2 ** 48], // would pass 2^48: refused by the context
  ];
  for (const [roc, highest, sequence, index] of table) {
    it(`ROC ${roc}, s_l ${highest}, SEQ ${sequence} → ${index}`, () => {
      expect(estimateIndex(roc, highest, sequence)).to.equal(index);
    });
  }
});
