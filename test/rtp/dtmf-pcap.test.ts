/**
 * The RFC 2833 DTMF captures Debian's sip-tester (SIPp) ships for `play_pcap_audio`, decoded with
 * our own pcap reader and fed to DtmfReceiver at their capture times. Each file carries one digit
 * (its name says which); the test checks that the receiver hears exactly that digit.
 *
 * What the files hold (all ten records, link type Ethernet, 192.168.0.3:49176 -> 192.168.0.1:10000,
 * PT 101, one SSRC): a first report with M and duration 0, six updates 20 ms apart growing by
 * 320 samples, and the final report with E three times back to back with the same sequence
 * number; final duration 2240 samples (280 ms at 8000 Hz, sent in 140 ms: the updates grow twice
 * as fast as real time, which the receiver reports as it is).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { DtmfReceiver, type ReceivedDtmf } from '../../lib/rtp/dtmf-receiver.js';
import { isRtcpPacket, parseRtp } from '../../lib/rtp/packet.js';
import { parsePcap, readPcapFile } from '../helpers/pcap.js';

const SIPP_PCAP_DIR = '/usr/share/sip-tester';
const TELEPHONE_EVENT_PT = 101;

/** The digit a file's name promises: dtmf_2833_<digit>.pcap, with pound and star spelled out. */
function digitOfName(name: string): string {
  const key = /^dtmf_2833_(.+)\.pcap$/.exec(name)![1]!;
  return key === 'pound' ? '#' : key === 'star' ? '*' : key.toUpperCase();
}

/** Replays the file's telephone-event packets into a receiver at their capture times. */
function hear(path: string): { heard: ReceivedDtmf[]; packets: number; duplicates: number } {
  const capture = readPcapFile(path);
  const clock = new ManualClock();
  const receiver = new DtmfReceiver({ clock });
  const heard: ReceivedDtmf[] = [];
  receiver.on('dtmf', (d) => heard.push(d));
  const t0 = capture.datagrams[0]?.timeMs ?? 0;
  let packets = 0;
  for (const d of capture.datagrams) {
    if (isRtcpPacket(d.payload)) continue;
    const rtp = parseRtp(d.payload);
    if (rtp.payloadType !== TELEPHONE_EVENT_PT) continue;
    const at = d.timeMs - t0;
    if (at > clock.now()) clock.advance(at - clock.now());
    expect(receiver.receivePacket(rtp), `record ${d.record}`).to.equal(true);
    packets++;
  }
  clock.advance(1000);
  return { heard, packets, duplicates: receiver.stats.duplicates };
}

const files = existsSync(SIPP_PCAP_DIR) ? readdirSync(SIPP_PCAP_DIR).filter((f) => /^dtmf_2833_.+\.pcap$/.test(f)).sort() : [];

describe("DtmfReceiver on SIPp's RFC 2833 captures (sip-tester)", function () {
  before(function () {
    if (files.length === 0) this.skip(); // sip-tester not installed: `bash scripts/install-deps.sh` as root
  });

  for (const name of files) {
    const expected = digitOfName(name);
    it(`${name} carries '${expected}'`, () => {
      const { heard, packets, duplicates } = hear(join(SIPP_PCAP_DIR, name));
      expect(packets).to.equal(10);
      expect(duplicates).to.equal(2);
      expect(heard.map((h) => ({ digit: h.digit, durationMs: h.durationMs, endedBy: h.endedBy, startSeen: h.startSeen }))).to.deep.equal([
        { digit: expected, durationMs: 280, endedBy: 'end-bit', startSeen: true },
      ]);
    });
  }

  it('there are twelve of them: 0-9, pound and star', function () {
    if (files.length === 0) this.skip();
    expect(files.map(digitOfName).sort()).to.deep.equal(['#', '*', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});

describe('pcap reader (test helper)', () => {
  /** A one-record little-endian Ethernet capture of a UDP datagram. */
  function capture(payload: Buffer, opts: { fragment?: number; truncate?: number; bigEndian?: boolean } = {}): Buffer {
    const udp = Buffer.alloc(8 + payload.length);
    udp.writeUInt16BE(5004, 0);
    udp.writeUInt16BE(5006, 2);
    udp.writeUInt16BE(udp.length, 4);
    payload.copy(udp, 8);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + udp.length, 2);
    ip.writeUInt16BE(opts.fragment ?? 0, 6);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from([192, 0, 2, 1, 192, 0, 2, 2]).copy(ip, 12);
    const eth = Buffer.concat([Buffer.alloc(12), Buffer.from([0x81, 0x00, 0x00, 0x05, 0x08, 0x00])]);
    const frame = Buffer.concat([eth, ip, udp]);
    const global = Buffer.alloc(24);
    const record = Buffer.alloc(16);
    const w32 = (b: Buffer, v: number, o: number): number => (opts.bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
    const w16 = (b: Buffer, v: number, o: number): number => (opts.bigEndian ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
    w32(global, 0xa1b2c3d4, 0);
    w16(global, 2, 4);
    w16(global, 4, 6);
    w32(global, 65535, 16);
    w32(global, 1, 20);
    w32(record, 10, 0);
    w32(record, 500_000, 4);
    w32(record, frame.length, 8);
    w32(record, frame.length, 12);
    const file = Buffer.concat([global, record, frame]);
    return opts.truncate ? file.subarray(0, file.length - opts.truncate) : file;
  }

  it('reads a UDP datagram behind an 802.1Q tag, in either byte order', () => {
    for (const bigEndian of [false, true]) {
      const c = parsePcap(capture(Buffer.from('hello'), { bigEndian }));
      expect(c.records).to.equal(1);
      expect(c.datagrams).to.have.length(1);
      expect(c.datagrams[0]).to.deep.include({ timeMs: 10_500, record: 0, source: { address: '192.0.2.1', port: 5004 }, destination: { address: '192.0.2.2', port: 5006 } });
      expect(c.datagrams[0]!.payload.toString()).to.equal('hello');
    }
  });

  it('skips IPv4 fragments', () => {
    expect(parsePcap(capture(Buffer.from('x'), { fragment: 0x2000 })).datagrams).to.have.length(0);
  });

  it('rejects truncated files, other magics and pcapng with a ParseError', () => {
    expect(() => parsePcap(capture(Buffer.from('hello'), { truncate: 3 }))).to.throw(/truncated pcap record 0 data/);
    expect(() => parsePcap(Buffer.alloc(10))).to.throw(/truncated pcap global header/);
    expect(() => parsePcap(Buffer.alloc(24))).to.throw(/not a pcap file/);
    const ng = Buffer.alloc(24);
    ng.writeUInt32LE(0x0a0d0d0a, 0);
    expect(() => parsePcap(ng)).to.throw(/pcapng/);
  });
});
