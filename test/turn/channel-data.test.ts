import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { padForStream, StunStreamFramer } from '../../lib/net/tcp-stream.js';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';
import { decodeChannelData, encodeChannelData, isChannelData, isValidChannelNumber } from '../../lib/turn/channel-data.js';

describe('turn/channel-data (RFC 8656 §12.4)', () => {
  it('encodes the header: channel number, then the data length', () => {
    const out = encodeChannelData(0x4001, Buffer.from('abcde'));
    expect(out.toString('hex')).to.equal('40010005' + Buffer.from('abcde').toString('hex'));
  });

  it('pads to a multiple of 4 only when asked (TCP/TLS, §12.5), keeping the length field', () => {
    for (const [n, padded] of [[0, 4], [1, 8], [3, 8], [4, 8], [5, 12]] as const) {
      const out = encodeChannelData(0x4000, Buffer.alloc(n, 0xaa), true);
      expect(out.length, `data ${n}`).to.equal(padded);
      expect(out.readUInt16BE(2)).to.equal(n);
      expect(out.subarray(4 + n).every((b) => b === 0)).to.equal(true);
      expect(encodeChannelData(0x4000, Buffer.alloc(n), false).length).to.equal(4 + n);
    }
  });

  it('round-trips and ignores trailing padding', () => {
    const data = Buffer.from('hello');
    const decoded = decodeChannelData(encodeChannelData(0x4fff, data, true));
    expect(decoded.channel).to.equal(0x4fff);
    expect(decoded.data.equals(data)).to.equal(true);
  });

  const cases: Array<[string, string, boolean]> = [
    ['empty data', '40000000', true],
    ['first byte 0x7f', '7fff0001aa', true],
    ['first byte 0x3f (STUN range)', '3fff0000', false],
    ['first byte 0x80 (RTP range)', '80000000', false],
    ['shorter than the header', '4000', false],
    ['length overruns', '40000005aabb', false],
  ];
  for (const [name, hex, ok] of cases) {
    it(`isChannelData: ${name} → ${ok}`, () => {
      expect(isChannelData(Buffer.from(hex, 'hex'))).to.equal(ok);
      if (!ok) expect(() => decodeChannelData(Buffer.from(hex, 'hex'))).to.throw(ParseError);
    });
  }

  it('accepts only channel numbers 0x4000..0x4FFF for binding', () => {
    expect(isValidChannelNumber(0x4000)).to.equal(true);
    expect(isValidChannelNumber(0x4fff)).to.equal(true);
    expect(isValidChannelNumber(0x3fff)).to.equal(false);
    expect(isValidChannelNumber(0x5000)).to.equal(false);
    expect(() => encodeChannelData(0x5000, Buffer.alloc(1))).to.throw(RangeError);
    expect(() => encodeChannelData(0x4000, Buffer.alloc(70000))).to.throw(RangeError);
  });
});

describe('net/tcp-stream framing (STUN and padded ChannelData on a stream)', () => {
  const stun = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' }).addUsername('abc').encode();
  const cd1 = encodeChannelData(0x4000, Buffer.from('xyz'), true);
  const cd2 = encodeChannelData(0x4001, Buffer.from('12345678'), true);
  const stream = Buffer.concat([stun, cd1, cd2, stun]);

  it('splits a stream delivered in one chunk, removing ChannelData padding', () => {
    const frames = new StunStreamFramer().push(stream);
    expect(frames.map((f) => f.kind)).to.deep.equal(['message', 'message', 'message', 'message']);
    const data = frames.map((f) => (f.kind === 'message' ? f.data : Buffer.alloc(0)));
    expect(data[0]!.equals(stun)).to.equal(true);
    expect(data[1]!.toString('hex')).to.equal('40000003' + Buffer.from('xyz').toString('hex'));
    expect(decodeChannelData(data[2]!).data.toString()).to.equal('12345678');
    expect(data[3]!.equals(stun)).to.equal(true);
  });

  it('reassembles a stream delivered one byte at a time', () => {
    const framer = new StunStreamFramer();
    const frames = [];
    for (let i = 0; i < stream.length; i++) frames.push(...framer.push(stream.subarray(i, i + 1)));
    expect(frames).to.have.length(4);
    expect(framer.pending).to.equal(0);
  });

  it('fails the stream on a first byte that is neither STUN nor ChannelData', () => {
    const framer = new StunStreamFramer();
    const frames = framer.push(Buffer.concat([stun, Buffer.from('80000000', 'hex')]));
    expect(frames.map((f) => f.kind)).to.deep.equal(['message', 'error']);
    expect(framer.push(stun)).to.deep.equal([]);
  });

  it('fails on a STUN length that is not a multiple of 4', () => {
    const bad = Buffer.from(stun);
    bad.writeUInt16BE(5, 2);
    expect(new StunStreamFramer().push(bad)[0]!.kind).to.equal('error');
  });

  it('padForStream pads ChannelData only', () => {
    expect(padForStream(encodeChannelData(0x4000, Buffer.from('a'))).length).to.equal(8);
    expect(padForStream(stun)).to.equal(stun);
  });
});
