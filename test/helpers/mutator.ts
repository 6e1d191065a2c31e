/**
 * Deterministic mutants of real packets, for flood tests (issue 13: "tens of thousands of
 * datagrams mutated from real SIP, STUN, RTP and RTCP packets").
 *
 * The byte- and line-level operators are the fuzz engine's (scripts/fuzz/engine.ts `Mutator`:
 * bit flips, interesting bytes/u16/u32, deleted and inserted ranges, dictionary tokens, a range
 * repeated many times, truncation, splices with another seed, duplicated/deleted/swapped lines for
 * SIP), with the fuzz targets' dictionaries and length repairs (Content-Length, the STUN message
 * length, the RTCP length word), so that many mutants get past the framing checks. On top of
 * those, packet-aware ones the engine lacks:
 *  - a STUN attribute duplicated (RFC 8489 §14: TLVs; the message length repaired), or an RTCP
 *    packet of a compound repeated (RFC 3550 §6.1);
 *  - a length field set to a wrong value on purpose (STUN message length, RTCP length word, SIP
 *    Content-Length), mutated otherwise or not;
 *  - and, for `garbage`, random bytes of random length (1..1400), with the first byte steered into
 *    each RFC 7983 range (STUN 0-3, ChannelData 64-79, RTP/RTCP 128-191, anything).
 *
 * Mutant `index` of a kind depends only on (seed, kind, index), so a failure replays from the seed
 * the test prints.
 */
import { Mutator, Rng, hashString, type FuzzTarget } from '../../scripts/fuzz/engine.js';
import { rtcpTarget, rtpTarget, stunTarget } from '../../scripts/fuzz/targets/media.js';
import { sipDatagramTarget } from '../../scripts/fuzz/targets/sip.js';

export type PacketKind = 'sip' | 'stun' | 'rtp' | 'rtcp' | 'garbage';

/** Real packets of each kind (at least one each) that mutants are made from. */
export interface MutationSeeds {
  sip: Buffer[];
  stun: Buffer[];
  rtp: Buffer[];
  rtcp: Buffer[];
}

export interface PacketMutatorOptions {
  /** Longest SIP mutant, bytes (default 8192). */
  maxSipLength?: number;
  /** Longest mutant of the other kinds, bytes (default 1400: what fits an Ethernet frame). */
  maxMediaLength?: number;
}

/** How often (out of 16) a mutant gets a packet-aware operator instead of the engine's. */
const PACKET_AWARE_SHARE = 4;

export class PacketMutator {
  private readonly mutators: Record<Exclude<PacketKind, 'garbage'>, Mutator>;
  private readonly maxMedia: number;
  private readonly maxSip: number;

  /** @throws Error when a kind has no seed packet. */
  constructor(readonly seed: number, private readonly seeds: MutationSeeds, opts: PacketMutatorOptions = {}) {
    for (const kind of ['sip', 'stun', 'rtp', 'rtcp'] as const) if (seeds[kind].length === 0) throw new Error(`PacketMutator: no ${kind} seed packet`);
    this.maxMedia = opts.maxMediaLength ?? 1400;
    this.maxSip = opts.maxSipLength ?? 8192;
    const limited = (target: FuzzTarget, maxLength: number): FuzzTarget => ({ ...target, maxLength });
    this.mutators = {
      sip: new Mutator(limited(sipDatagramTarget, this.maxSip), seeds.sip),
      stun: new Mutator(limited(stunTarget, this.maxMedia), seeds.stun),
      rtp: new Mutator(limited(rtpTarget, this.maxMedia), seeds.rtp),
      rtcp: new Mutator(limited(rtcpTarget, this.maxMedia), seeds.rtcp),
    };
  }

  /** Mutant number `index` of `kind` (never the seed itself unchanged, except by chance). */
  mutant(kind: PacketKind, index: number): Buffer {
    const rng = new Rng(this.seed, hashString(kind), index);
    if (kind === 'garbage') return garbage(rng, this.maxMedia);
    const seed = rng.pick(this.seeds[kind]);
    if (rng.below(16) < PACKET_AWARE_SHARE) {
      const out = this.packetAware(kind, seed, rng);
      // Sometimes the engine's operators on top (they cut to the limit themselves).
      if (rng.chance(0.3)) return this.mutators[kind].mutate(out, rng);
      const max = kind === 'sip' ? this.maxSip : this.maxMedia;
      return out.length > max ? out.subarray(0, max) : out;
    }
    return this.mutators[kind].mutate(seed, rng);
  }

  private packetAware(kind: Exclude<PacketKind, 'garbage'>, seed: Buffer, rng: Rng): Buffer {
    switch (kind) {
      case 'sip':
        return rng.chance(0.5) ? duplicateSipHeader(seed, rng) : wrongContentLength(seed, rng);
      case 'stun':
        return rng.chance(0.5) ? duplicateStunAttribute(seed, rng) : wrongLength(seed, 2, rng);
      case 'rtcp':
        return rng.chance(0.5) ? repeatRtcpPacket(seed, rng, this.maxMedia) : wrongLength(seed, 2, rng);
      case 'rtp':
        // RTP has no length field: the CSRC count and the extension length play that part (RFC 3550 §5.1, §5.3.1).
        return wrongRtpCounts(seed, rng);
    }
  }
}

function garbage(rng: Rng, max: number): Buffer {
  const out = Buffer.alloc(rng.between(1, max));
  for (let i = 0; i < out.length; i++) out[i] = rng.below(256);
  const ranges: Array<[number, number]> = [[0, 3], [64, 79], [128, 191], [0, 255]];
  const [lo, hi] = rng.pick(ranges);
  out[0] = rng.between(lo, hi);
  return out;
}

/** One header line of a SIP message repeated 1..50 times (Via, Call-ID, CSeq, Content-Length... twice). */
function duplicateSipHeader(b: Buffer, rng: Rng): Buffer {
  const text = b.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return b;
  const lines = text.slice(0, end).split('\r\n');
  if (lines.length < 2) return b;
  const i = rng.between(1, lines.length - 1);
  const times = rng.chance(0.8) ? 1 : rng.between(2, 50);
  lines.splice(i, 0, ...Array<string>(times).fill(lines[i]!));
  return Buffer.from(lines.join('\r\n') + text.slice(end), 'latin1');
}

/** Content-Length set to something other than the body's length (or the header dropped). */
function wrongContentLength(b: Buffer, rng: Rng): Buffer {
  const text = b.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return b;
  const body = text.length - end - 4;
  const value = rng.pick([String(body + rng.between(1, 100)), String(Math.max(0, body - rng.between(1, 100))), '0', '-1', '4294967296', '99999999999', 'abc', '']);
  const head = text.slice(0, end);
  const replaced = /(^|\r\n)(content-length|l)[ \t]*:[^\r\n]*/i.test(head)
    ? head.replace(/(^|\r\n)(content-length|l)[ \t]*:[^\r\n]*/i, value === '' ? '' : `$1$2: ${value}`)
    : `${head}\r\nContent-Length: ${value}`;
  return Buffer.from(replaced + text.slice(end), 'latin1');
}

/** A whole attribute of a STUN message (RFC 8489 §14) inserted again elsewhere; the length field repaired. */
function duplicateStunAttribute(b: Buffer, rng: Rng): Buffer {
  if (b.length < 24) return b;
  const starts: Array<[number, number]> = [];
  for (let at = 20; at + 4 <= b.length;) {
    const len = 4 + b.readUInt16BE(at + 2);
    const padded = len + ((4 - (len % 4)) % 4);
    if (at + padded > b.length) break;
    starts.push([at, padded]);
    at += padded;
  }
  if (starts.length === 0) return b;
  const [from, len] = rng.pick(starts);
  const attribute = b.subarray(from, from + len);
  const [to] = rng.pick([...starts, [b.length, 0] as [number, number]]);
  const times = rng.chance(0.8) ? 1 : rng.between(2, 40);
  const out = Buffer.concat([b.subarray(0, to), ...Array<Buffer>(times).fill(attribute), b.subarray(to)]);
  out.writeUInt16BE(Math.min(0xffff, out.length - 20), 2);
  return out;
}

/** The 16-bit length at `offset` (STUN message length, RTCP length word) set wrong: off by a little, zero, or huge. */
function wrongLength(b: Buffer, offset: number, rng: Rng): Buffer {
  if (b.length < offset + 2) return b;
  const out = Buffer.from(b);
  const now = out.readUInt16BE(offset);
  const value = rng.pick([now + rng.between(1, 8), Math.max(0, now - rng.between(1, 8)), 0, 0xffff, rng.below(0x10000)]);
  out.writeUInt16BE(value & 0xffff, offset);
  return out;
}

/** The first RTCP packet of a compound repeated (a compound of dozens of reports, RFC 3550 §6.1), capped at `max`. */
function repeatRtcpPacket(b: Buffer, rng: Rng, max: number): Buffer {
  if (b.length < 4) return b;
  const len = Math.min(b.length, 4 * (b.readUInt16BE(2) + 1));
  const first = b.subarray(0, len);
  const times = Math.max(1, Math.min(rng.between(2, 60), Math.floor((max - b.length) / len)));
  return Buffer.concat([b, ...Array<Buffer>(times).fill(first)]).subarray(0, max);
}

/** RTP's implicit lengths wrong: a CSRC count beyond the packet, or an extension length beyond it (RFC 3550 §5.1, §5.3.1). */
function wrongRtpCounts(b: Buffer, rng: Rng): Buffer {
  if (b.length < 12) return b;
  const out = Buffer.from(b);
  if (rng.chance(0.5)) {
    out[0] = (out[0]! & 0xf0) | rng.below(16);
    return out;
  }
  // X bit and an extension header right after the fixed header and CSRCs.
  out[0] = out[0]! | 0x10;
  const at = 12 + 4 * (out[0]! & 0x0f);
  if (at + 4 > out.length) return out;
  out.writeUInt16BE(0xbede, at);
  out.writeUInt16BE(rng.pick([0, 1, 0xffff, rng.below(0x10000), Math.floor((out.length - at) / 4)]), at + 2);
  return out;
}
