/**
 * SRTP throughput: protect + unprotect of 172-octet RTP packets (12-octet header + 160 octets of
 * G.711, one 20 ms frame) with AES_CM_128_HMAC_SHA1_80, against a plain copy of the same packets
 * in the same run (two Buffer copies per packet, one per direction, as an unencrypted path would
 * allocate). Every unprotected packet is checked against the original, so a broken build fails
 * here rather than reporting a fast wrong answer.
 *
 *   npx tsx scripts/bench/srtp.ts            # one line on stdout, about 5 s
 *   SRTP_BENCH_MS=500 npx tsx scripts/bench/srtp.ts
 *
 * SRTP_BENCH_MS is the measuring time of each of the two loops (default 2000, at most 4000 so the
 * whole run stays under 10 s).
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SrtpSession } from '../../lib/srtp/srtp-session.js';

export interface SrtpBenchResult {
  srtpPacketsPerSecond: number;
  copyPacketsPerSecond: number;
  /** srtp / copy. */
  ratio: number;
  packetLength: number;
  measureMs: number;
}

const PACKET_LENGTH = 172;

function packet(): Buffer {
  const p = Buffer.alloc(PACKET_LENGTH);
  p[0] = 0x80;
  p[1] = 0; // PCMU
  p.writeUInt32BE(0x5eed5eed, 8);
  randomBytes(PACKET_LENGTH - 12).copy(p, 12);
  return p;
}

/** Runs `step` in batches until `ms` have passed; returns steps per second. */
function rate(ms: number, step: () => void): number {
  let n = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < ms) {
    for (let i = 0; i < 256; i++) step();
    n += 256;
    now = performance.now();
  }
  return (n * 1000) / (now - t0);
}

/** Measures both loops for `measureMs` each (after a short warm-up of each). */
export function benchSrtp(measureMs = 2000): SrtpBenchResult {
  const keys = { masterKey: randomBytes(16), masterSalt: randomBytes(14) };
  const session = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', outbound: keys });
  const plain = packet();
  let sequence = 0;
  let checked = 0;
  const srtpStep = () => {
    plain.writeUInt16BE(sequence, 2);
    plain.writeUInt32BE((sequence * 160) >>> 0, 4);
    sequence = (sequence + 1) & 0xffff;
    const sent = session.protectRtp(plain);
    if (!sent.ok) throw new Error(`protect failed: ${sent.reason} ${sent.detail}`);
    const received = session.unprotectRtp(sent.packet);
    if (!received.ok) throw new Error(`unprotect failed: ${received.reason} ${received.detail}`);
    if ((checked++ & 1023) === 0 && !received.packet.equals(plain)) throw new Error('unprotected packet differs from the original');
  };
  let sink = 0;
  const copyStep = () => {
    plain.writeUInt16BE(sequence, 2);
    sequence = (sequence + 1) & 0xffff;
    const out = Buffer.from(plain);
    const back = Buffer.from(out);
    sink ^= back[2]!;
  };
  const warmUp = Math.min(300, measureMs / 4);
  rate(warmUp, srtpStep);
  const srtpPacketsPerSecond = rate(measureMs, srtpStep);
  rate(warmUp, copyStep);
  const copyPacketsPerSecond = rate(measureMs, copyStep);
  if (sink < 0) throw new Error('unreachable');
  return { srtpPacketsPerSecond, copyPacketsPerSecond, ratio: srtpPacketsPerSecond / copyPacketsPerSecond, packetLength: PACKET_LENGTH, measureMs };
}

/** The one line the script prints. */
export function formatSrtpBench(r: SrtpBenchResult): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  return `srtp: ${r.packetLength}-octet RTP, AES_CM_128_HMAC_SHA1_80 protect+unprotect ${n(r.srtpPacketsPerSecond)} packets/s ` +
    `(${(1e6 / r.srtpPacketsPerSecond).toFixed(1)} µs/packet); plain copy ${n(r.copyPacketsPerSecond)} packets/s; ` +
    `srtp/copy ${r.ratio.toFixed(4)}; ${(r.measureMs / 1000).toFixed(1)} s per loop, node ${process.version}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const requested = Number(process.env.SRTP_BENCH_MS ?? 2000);
  const ms = Number.isFinite(requested) && requested > 0 ? Math.min(requested, 4000) : 2000;
  process.stdout.write(`${formatSrtpBench(benchSrtp(ms))}\n`);
}
