import { expect } from 'chai';
import { classifyPacket, isRtcp, PacketDemux } from '../../lib/net/demux.js';
import type { TransportAddress } from '../../lib/net/socket.js';

const from: TransportAddress = { address: '192.0.2.1', port: 1234, family: 'IPv4' };

describe('RFC 7983 demultiplexing', () => {
  it('classifies by the first byte', () => {
    const table: Array<[number, string]> = [
      [0, 'stun'], [3, 'stun'], [4, 'unknown'], [15, 'unknown'], [16, 'zrtp'], [19, 'zrtp'], [20, 'dtls'], [63, 'dtls'],
      [64, 'channel-data'], [79, 'channel-data'], [80, 'unknown'], [127, 'unknown'], [128, 'rtp'], [191, 'rtp'], [192, 'unknown'], [255, 'unknown'],
    ];
    for (const [b, kind] of table) expect(classifyPacket(Buffer.from([b, 0, 0, 0])), `byte ${b}`).to.equal(kind);
    expect(classifyPacket(Buffer.alloc(0))).to.equal('unknown');
  });

  it('tells RTCP from RTP by packet type 192..223 (RFC 5761 §4)', () => {
    expect(isRtcp(Buffer.from([0x80, 200]))).to.equal(true);
    expect(isRtcp(Buffer.from([0x80, 0]))).to.equal(false);
    expect(isRtcp(Buffer.from([0x80, 224]))).to.equal(false);
  });

  it('routes to handlers, counts and drops the rest without throwing', () => {
    const seen: string[] = [];
    const drops: string[] = [];
    const demux = new PacketDemux({
      stun: () => seen.push('stun'),
      rtp: () => seen.push('rtp'),
    }, (_d, _f, reason) => drops.push(reason));
    demux.handle(Buffer.alloc(20), from);
    demux.handle(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), from);
    demux.handle(Buffer.from([0x40, 0, 0, 0]), from); // no ChannelData handler
    demux.handle(Buffer.from([0x00, 1]), from); // STUN too short
    demux.handle(Buffer.from([0x80, 1]), from); // RTP too short
    demux.handle(Buffer.from([0xff]), from);
    demux.handle(Buffer.alloc(0), from);
    expect(seen).to.deep.equal(['stun', 'rtp']);
    expect(demux.counters).to.deep.equal({ stun: 1, channelData: 0, rtp: 1, dropped: 5 });
    expect(drops).to.have.length(5);
  });

  it('counts a throwing handler as a drop', () => {
    const demux = new PacketDemux({ rtp: () => { throw new Error('boom'); } });
    expect(() => demux.handle(Buffer.alloc(12, 0x80), from)).to.not.throw();
    expect(demux.counters.dropped).to.equal(1);
  });
});
