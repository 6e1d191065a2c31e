/**
 * test/helpers/mutator.ts, the flood tests' packet mutator: mutants depend only on (seed, kind,
 * index), stay within their size limits, differ from their seeds, and include what the packet-aware
 * operators make (a STUN attribute repeated with the length repaired, a SIP header line repeated).
 */
import { expect } from 'chai';
import { serializeRtp } from '../../lib/rtp/packet.js';
import { buildCnameSdes, buildReceiverReport, buildRtcpCompound } from '../../lib/rtp/rtcp.js';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';
import { PacketMutator, type MutationSeeds } from '../helpers/mutator.js';

const TID = Buffer.from('0123456789ab0123456789ab', 'hex');

function seeds(): MutationSeeds {
  const invite = [
    'INVITE sip:bob@127.0.0.1:5070 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKm1;rport', 'Max-Forwards: 70',
    'To: <sip:bob@127.0.0.1>', 'From: <sip:a@127.0.0.2>;tag=1', 'Call-ID: m1@127.0.0.2', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\r\n');
  return {
    sip: [Buffer.from(invite)],
    stun: [new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: TID }).addUsername('a:b').addPriority(1).encode({ fingerprint: true })],
    rtp: [serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 7, payload: Buffer.alloc(160, 0xff) })],
    rtcp: [buildRtcpCompound([buildReceiverReport(7), buildCnameSdes(7, 'x@y')])],
  };
}

describe('flood mutator (test/helpers/mutator.ts)', () => {
  it('is deterministic in (seed, kind, index) and varies with each', () => {
    const a = new PacketMutator(5, seeds());
    const b = new PacketMutator(5, seeds());
    const c = new PacketMutator(6, seeds());
    for (const kind of ['sip', 'stun', 'rtp', 'rtcp', 'garbage'] as const) {
      const fromA = Array.from({ length: 50 }, (_, i) => a.mutant(kind, i).toString('hex'));
      expect(Array.from({ length: 50 }, (_, i) => b.mutant(kind, i).toString('hex')), kind).to.deep.equal(fromA);
      expect(new Set(fromA).size, `${kind}: distinct mutants`).to.be.greaterThan(40);
      expect(Array.from({ length: 50 }, (_, i) => c.mutant(kind, i).toString('hex')), `${kind}: another seed`).to.not.deep.equal(fromA);
    }
  });

  it('keeps mutants within the size limits, and rarely returns a seed unchanged', () => {
    const s = seeds();
    const m = new PacketMutator(1, s, { maxSipLength: 2000, maxMediaLength: 600 });
    for (const kind of ['sip', 'stun', 'rtp', 'rtcp', 'garbage'] as const) {
      let unchanged = 0;
      for (let i = 0; i < 2000; i++) {
        const out = m.mutant(kind, i);
        expect(out.length, `${kind} #${i}`).to.be.at.most(kind === 'sip' ? 2000 : 600);
        if (kind !== 'garbage' && s[kind].some((x) => x.equals(out))) unchanged++;
      }
      expect(unchanged, `${kind}: seeds returned unchanged`).to.be.lessThan(200);
    }
  });

  it('makes STUN messages with an attribute repeated (length field repaired) and SIP messages with a header repeated', () => {
    const m = new PacketMutator(3, seeds());
    let repeatedAttribute = 0;
    let repeatedHeader = 0;
    for (let i = 0; i < 3000; i++) {
      const stun = m.mutant('stun', i);
      if (stun.length >= 20 && stun.readUInt16BE(2) === stun.length - 20) {
        try {
          const types = StunMessage.decode(stun).attributes.map((x) => x.type);
          if (new Set(types).size < types.length) repeatedAttribute++;
        } catch {
          // Not decodable: other operators.
        }
      }
      const head = m.mutant('sip', i).toString('latin1').split('\r\n\r\n')[0]!.split('\r\n');
      if (head.filter((l) => l.startsWith('Call-ID:')).length > 1 || head.filter((l) => l.startsWith('CSeq:')).length > 1) repeatedHeader++;
    }
    expect(repeatedAttribute, 'STUN mutants with a repeated attribute').to.be.greaterThan(20);
    expect(repeatedHeader, 'SIP mutants with a repeated Call-ID or CSeq').to.be.greaterThan(10);
  });
});
