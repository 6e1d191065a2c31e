/**
 * The fuzz engine: inputs by index (seeds, mutants of seeds, fast-check structured values and
 * their mutants), one run per input with its time measured, and the verdict of each run against
 * the parser's documented contract (issue 13):
 *
 *  - a return, or a typed parse error (`ParseError`, lib/base/errors.ts) is fine;
 *  - any other exception (TypeError, RangeError, a plain Error...) is a crash;
 *  - an input that takes more than `slowMs` (100 ms) is a slow input, after two more runs agree
 *    (the machine is shared: one descheduled run is not a finding).
 *
 * Input `i` of a run depends only on (seed, target, i), so any finding is replayed with
 * `scripts/fuzz/run.ts --only TARGET --seed S --replay I`. Crashes are minimised (ddmin over
 * bytes: the smallest input that still throws the same exception at the same place).
 * No I/O, no timers: run.ts wraps this in worker threads (hang watchdog), test/fuzz runs it in process.
 */
import fc from 'fast-check';
import { ParseError } from '../../lib/base/errors.js';

// ------------------------------------------------------------------------------------- targets

/** What one run of a target did with its input. */
export type Verdict = 'accepted' | 'rejected';

export interface FuzzTarget {
  /** Short name for `--only`, kebab-case. */
  name: string;
  /** The parsers exercised, and what they are documented to throw. */
  about: string;
  /** `text` targets decode their input as UTF-8 (what the SIP stack hands to the SDP code); findings print as JSON strings. */
  kind: 'bytes' | 'text';
  /** Seed inputs: fixtures and messages built with the project's own encoders. Called once per run. */
  seeds(): Buffer[];
  /** Structured generator of whole inputs (fast-check), when the format has one. */
  structured?: () => fc.Arbitrary<Buffer>;
  /** Tokens the mutator inserts (field names, separators, boundary numbers). */
  dictionary?: string[] | Buffer[];
  /** Applied to half the mutants: repairs length fields so mutants get past the framing checks. */
  fixup?: (input: Buffer, rng: Rng) => Buffer;
  /** Largest input made (default 64 KiB: one UDP datagram). */
  maxLength?: number;
  /**
   * Runs the parsers on one input. Returns 'rejected' when the entry point refused the input with a
   * typed error (or its documented "no" value), 'accepted' otherwise; throws whatever the parsers
   * threw when it is not typed.
   */
  run(input: Buffer): Verdict;
  /** Applied to every generated input (not to seeds): keeps them in the target's input space. */
  normalize?: (input: Buffer) => Buffer;
  /** One-time set-up before the first input (so it is not timed as part of one). */
  prepare?: () => void;
  /** The typed errors this target's parsers document (default: `ParseError`). */
  isTyped?: (e: unknown) => boolean;
}

export function isParseError(e: unknown): boolean {
  return e instanceof ParseError;
}

/**
 * Calls `fn`; a typed parse error becomes `undefined` (the caller counts a rejection), anything
 * else propagates. For the later steps of a pipeline (getters after a decode, a table after a parse).
 */
export function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ParseError) return undefined;
    throw e;
  }
}

/** An internal consistency check of a pipeline failed (e.g. a parsed value its own formatter refuses). Untyped on purpose: a finding. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

// ------------------------------------------------------------------------------------- random

/** sfc32: small, fast, good enough for mutation choices; deterministic from its seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    for (const s of seeds) h = Math.imul(h ^ (s >>> 0), 0x85ebca6b) ^ (h >>> 13);
    this.a = h ^ 0xdeadbeef;
    this.b = Math.imul(h, 0xc2b2ae35) ^ 0x41c64e6d;
    this.c = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform 32-bit unsigned. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** Integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** 32-bit FNV-1a of a string (target names into seeds). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ------------------------------------------------------------------------------------- streams

/** How much of a stream modes 1, 2 and 3 cut into reads of at most 1, 4 and 64 bytes (see `streamReads`). */
export const SMALL_READS_PREFIX = [0, 2048, 2048, 16384] as const;

/**
 * Inputs of stream targets (TCP): byte 0 says how the rest is cut into reads, as a peer that
 * controls its segments (or a slow link) can make the socket deliver it: 0 all at once; 1 one byte
 * per read and 2 one to 4 bytes per read, for the first 2 KiB; 3 one to 64 bytes per read for the
 * first 16 KiB; 4 one to 512 (modes 1-3 go on like 4 after their prefix); 5 one byte per read
 * and 6 one to 64 bytes per read, throughout. Sizes come from a PRNG seeded by the input, so the
 * cut is part of the input and a finding replays exactly.
 *
 * Why the bounds: both framers (SipStreamFramer, StunStreamFramer) copy and rescan all the bytes
 * they hold on every read, so small reads of a 64 KiB stream take 0.2-0.6 s one byte at a time and
 * up to ~110 ms 1-64 bytes at a time (an open finding, test/fixtures/fuzz/regressions.json);
 * unbounded, they made a 10^6 run take hours, and the 1-64 case sits at the 100 ms limit.
 * Generated inputs get modes 0-4 (`normalizeStream`); modes 5 and 6 are for seeds. Lift the bounds when
 * the framers buffer in linear time.
 */
export function* streamReads(input: Buffer): Generator<Buffer> {
  const stream = input.subarray(1);
  const mode = input.length === 0 ? 0 : input[0]! % 7;
  const rng = new Rng(stream.length, input[0] ?? 0, stream[stream.length >> 1] ?? 0);
  for (let at = 0; at < stream.length;) {
    let max = [stream.length, 1, 4, 64, 512, 1, 64][mode]!;
    if (mode >= 1 && mode <= 3 && at >= SMALL_READS_PREFIX[mode]!) max = 512;
    const n = Math.max(1, Math.min(stream.length - at, mode === 0 ? stream.length : rng.between(1, max)));
    yield stream.subarray(at, at + n);
    at += n;
  }
}

/** What generated inputs of a stream target are passed through: byte 0 mapped to modes 0-4. */
export function normalizeStream(input: Buffer): Buffer {
  if (input.length === 0 || input[0]! % 7 < 5) return input;
  const out = Buffer.from(input);
  out[0] = out[0]! % 5;
  return out;
}

/** Seeds for a stream target: each stream with each way of cutting it (see `streamReads`). */
export function streamSeeds(streams: Buffer[]): Buffer[] {
  return streams.flatMap((s) => [0, 1, 2, 3, 4].map((mode) => Buffer.concat([Buffer.from([mode]), s])));
}

// ------------------------------------------------------------------------------------- mutation

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x3d, 0x2f, 0x3c, 0x3e, 0x22, 0x2c, 0x40, 0x5b, 0x5d, 0x25, 0x5c];
const INTERESTING_U16 = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4fff, 0x5000, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x2112a442];
/** Text every text format can choke on: boundary numbers, separators, encodings. */
const COMMON_TOKENS = [
  '\r\n', '\r\n\r\n', '\n', '\r', '\t', ' ', '  ', ':', ';', '=', ',', '/', '"', '\\', '<', '>', '[', ']', '%', '%00', '\0',
  '0', '-1', '1.0', '0.0', '1e9', '65535', '65536', '4294967295', '4294967296', '2147483648', '99999999999999999999', 'NaN', 'Infinity',
  '::', '::1', '[::1]', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', 'a.b.c.d.e', '\u00ff', '\u00e9', '\ufffd', '\u{1f600}', '\ufeff',
];

/**
 * Mutants: 1 to 8 stacked operations (bit flip, interesting byte/u16/u32, random byte, delete,
 * insert random bytes or a dictionary token, duplicate a range many times, truncate, splice with
 * another pool input, copy a range over another, and line-level duplicate/delete/swap/insert for
 * text), then, for half of them, the target's length fix-up.
 */
export class Mutator {
  private readonly dictionary: Buffer[];

  constructor(private readonly target: FuzzTarget, private readonly pool: Buffer[]) {
    const own = (target.dictionary ?? []).map((t) => (typeof t === 'string' ? Buffer.from(t, 'utf8') : t));
    this.dictionary = [...own, ...(target.kind === 'text' ? COMMON_TOKENS.map((t) => Buffer.from(t, 'utf8')) : [])];
  }

  get maxLength(): number {
    return this.target.maxLength ?? 65536;
  }

  mutate(input: Buffer, rng: Rng): Buffer {
    let out: Buffer = Buffer.from(input);
    let ops = 1;
    while (ops < 8 && rng.chance(0.5)) ops++;
    for (let k = 0; k < ops; k++) out = this.once(out, rng);
    if (this.target.fixup && rng.chance(0.5)) out = this.target.fixup(out, rng);
    return out.length > this.maxLength ? out.subarray(0, this.maxLength) : out;
  }

  private once(b: Buffer, rng: Rng): Buffer {
    const n = b.length;
    const at = () => rng.below(n + 1);
    const lines = this.target.kind === 'text';
    switch (rng.below(lines ? 16 : 12)) {
      case 0: { // flip one bit
        if (n === 0) return b;
        const c = Buffer.from(b);
        const i = rng.below(n);
        c[i] = c[i]! ^ (1 << rng.below(8));
        return c;
      }
      case 1: { // interesting byte
        if (n === 0) return Buffer.from([rng.pick(INTERESTING_BYTES)]);
        const c = Buffer.from(b);
        c[rng.below(n)] = rng.pick(INTERESTING_BYTES);
        return c;
      }
      case 2: { // random byte
        if (n === 0) return b;
        const c = Buffer.from(b);
        c[rng.below(n)] = rng.below(256);
        return c;
      }
      case 3: { // delete a range (short, or up to half)
        if (n === 0) return b;
        const i = rng.below(n);
        const len = Math.min(n - i, rng.chance(0.8) ? rng.between(1, 8) : rng.between(1, Math.max(1, n >> 1)));
        return Buffer.concat([b.subarray(0, i), b.subarray(i + len)]);
      }
      case 4: { // insert random bytes
        const i = at();
        const ins = Buffer.alloc(rng.between(1, 16));
        for (let k = 0; k < ins.length; k++) ins[k] = rng.below(256);
        return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
      }
      case 5: { // insert a dictionary token
        if (this.dictionary.length === 0) return this.once(b, rng);
        const i = at();
        return Buffer.concat([b.subarray(0, i), rng.pick(this.dictionary), b.subarray(i)]);
      }
      case 6: { // duplicate a range many times (length blow-ups, quadratic paths)
        if (n === 0) return b;
        const i = rng.below(n);
        const len = Math.min(n - i, rng.between(1, 64));
        const times = rng.chance(0.7) ? rng.between(2, 16) : rng.between(16, 2048);
        const chunk = b.subarray(i, i + len);
        const reps = Math.max(1, Math.min(times, Math.floor((this.maxLength - n) / Math.max(1, len))));
        return Buffer.concat([b.subarray(0, i), ...Array<Buffer>(reps).fill(chunk), b.subarray(i)]);
      }
      case 7: // truncate
        return b.subarray(0, at());
      case 8: { // splice with another pool input
        const other = rng.pick(this.pool);
        return Buffer.concat([b.subarray(0, at()), other.subarray(rng.below(other.length + 1))]);
      }
      case 9: { // interesting u16 (big endian)
        if (n < 2) return this.once(b, rng);
        const c = Buffer.from(b);
        c.writeUInt16BE(rng.chance(0.8) ? rng.pick(INTERESTING_U16) : rng.below(0x10000), rng.below(n - 1));
        return c;
      }
      case 10: { // interesting u32, or a value near the length
        if (n < 4) return this.once(b, rng);
        const c = Buffer.from(b);
        const v = rng.chance(0.5) ? rng.pick(INTERESTING_U32) : (n + rng.between(-24, 24)) >>> 0;
        c.writeUInt32BE(v >>> 0, rng.below(n - 3));
        return c;
      }
      case 11: { // copy a range over another place
        if (n < 2) return b;
        const c = Buffer.from(b);
        const from = rng.below(n);
        const len = Math.min(n - from, rng.between(1, 32));
        b.copy(c, rng.below(n), from, from + len);
        return c;
      }
      default:
        return this.lineOp(b, rng);
    }
  }

  /** Line-level operations for text formats (SIP headers, SDP lines). */
  private lineOp(b: Buffer, rng: Rng): Buffer {
    const text = b.toString('latin1');
    const sep = text.includes('\r\n') ? '\r\n' : '\n';
    const lines = text.split(sep);
    const i = rng.below(lines.length);
    switch (rng.below(4)) {
      case 0: { // duplicate a line, sometimes many times
        const times = rng.chance(0.8) ? rng.between(1, 4) : rng.between(5, 500);
        lines.splice(i, 0, ...Array<string>(times).fill(lines[i]!));
        break;
      }
      case 1:
        lines.splice(i, 1);
        break;
      case 2: {
        const j = rng.below(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        break;
      }
      default: { // a line of another pool input
        const other = rng.pick(this.pool).toString('latin1').split(/\r?\n/);
        lines.splice(i, 0, rng.pick(other));
      }
    }
    return Buffer.from(lines.join(sep), 'latin1');
  }
}

// ------------------------------------------------------------------------------------- inputs

/** How inputs are made, by index: pool first (verbatim), then a fixed cycle of 10 (see `inputAt`). */
const STRUCTURED_BATCH = 256;

/**
 * Every input of one (target, seed) run, by index. `pool` is the regression seeds, then the
 * target's seeds, deduplicated. For i >= pool.length, by i mod 10: 0-5 a mutant of a pool input,
 * 6-7 a structured value, 8-9 a mutant of a structured value (all mutants when the target has no
 * structured generator).
 */
export class InputSource {
  readonly pool: Buffer[];
  private readonly mutator: Mutator;
  private readonly arbitrary: fc.Arbitrary<Buffer> | undefined;
  private batchIndex = -1;
  private batch: Buffer[] = [];

  constructor(readonly target: FuzzTarget, readonly seed: number, extraSeeds: Buffer[] = []) {
    const seen = new Set<string>();
    this.pool = [];
    for (const s of [...extraSeeds, ...target.seeds()]) {
      const key = s.toString('latin1');
      if (seen.has(key)) continue;
      seen.add(key);
      this.pool.push(s);
    }
    if (this.pool.length === 0) this.pool.push(Buffer.alloc(0));
    this.mutator = new Mutator(target, this.pool);
    this.arbitrary = target.structured?.();
  }

  at(i: number): Buffer {
    if (i < this.pool.length) return this.pool[i]!;
    const made = this.make(i);
    return this.target.normalize ? this.target.normalize(made) : made;
  }

  private make(i: number): Buffer {
    const rng = new Rng(this.seed, hashString(this.target.name), i);
    const slot = i % 10;
    if (!this.arbitrary || slot < 6) return this.mutator.mutate(rng.pick(this.pool), rng);
    const structured = this.structured(Math.floor(i / 10) * 4 + (slot - 6));
    return slot < 8 ? structured : this.mutator.mutate(structured, rng);
  }

  private structured(j: number): Buffer {
    const b = Math.floor(j / STRUCTURED_BATCH);
    if (b !== this.batchIndex) {
      this.batch = fc.sample(this.arbitrary!, { seed: (this.seed ^ Math.imul(hashString(this.target.name), 31) ^ Math.imul(b + 1, 0x9e3779b1)) | 0, numRuns: STRUCTURED_BATCH });
      this.batchIndex = b;
    }
    const v = this.batch[j % STRUCTURED_BATCH]!;
    return v.length > this.mutator.maxLength ? v.subarray(0, this.mutator.maxLength) : v;
  }
}

// ------------------------------------------------------------------------------------- running

export interface Finding {
  target: string;
  kind: 'crash' | 'slow' | 'hang';
  /** Exception class and where it was thrown: findings with the same signature are one bug. */
  signature: string;
  /** `TypeError: Cannot read properties of undefined (reading 'method')` */
  error: string;
  /** First stack frames. */
  stack: string;
  /** How many inputs of the run hit it. */
  count: number;
  /** Index of the first input that hit it (for --replay). */
  index: number;
  seed: number;
  /** The input as found, and minimised (crashes only). */
  input: Buffer;
  minimal?: Buffer;
  /** For slow inputs: the fastest of three runs. */
  ms?: number;
}

export interface TargetReport {
  target: string;
  inputs: number;
  accepted: number;
  rejected: number;
  /** Inputs that threw an untyped exception. */
  crashes: number;
  /** Inputs over the time limit (confirmed). */
  slow: number;
  hangs: number;
  slowestMs: number;
  slowestIndex: number;
  elapsedMs: number;
  findings: Finding[];
}

export interface RunOptions {
  inputs: number;
  seed: number;
  /** First index (a worker restarted after a hang goes on after it). */
  start?: number;
  slowMs?: number;
  /** Regression seeds, run first. */
  extraSeeds?: Buffer[];
  /** Called every `progressEvery` inputs. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
  /**
   * Shared with the runner's hang watchdog: [0] the index about to run, [1] a heartbeat bumped by
   * every extra run of an input (timing confirmations, minimisation), so only a run that never
   * returns stops both.
   */
  progress?: Int32Array;
  /** Minimise crashing inputs (default true). */
  minimise?: boolean;
}

/** `TypeError@node_modules/sip.js/lib/core/messages/parser.js:138` — class and first frame, paths relative to the repository. */
export function signatureOf(e: unknown): { signature: string; error: string; stack: string } {
  if (!(e instanceof Error)) return { signature: `non-Error ${typeof e}`, error: `thrown non-Error: ${String(e)}`, stack: '' };
  const frames = (e.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).map((l) => l.trim().replace(/file:\/\/[^\s)]*?\/(lib|node_modules|scripts|test)\//, '$1/'));
  const first = frames[0] ?? 'no stack';
  const where = /\(?((?:lib|node_modules|scripts|test)\/[^\s)]+?):(\d+):\d+\)?$/.exec(first);
  return {
    signature: `${e.name}@${where ? `${where[1]}:${where[2]}` : first}`,
    error: `${e.name}: ${e.message}`,
    stack: frames.slice(0, 6).join('\n'),
  };
}

/** One input through the target: its verdict, or the untyped exception. */
export function runOne(target: FuzzTarget, input: Buffer): { verdict: Verdict } | { error: unknown } {
  const typed = target.isTyped ?? isParseError;
  try {
    return { verdict: target.run(input) };
  } catch (e) {
    if (typed(e)) return { verdict: 'rejected' };
    return { error: e };
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps this thread (worker or main) for `ms`. */
function pause(ms: number): void {
  Atomics.wait(PAUSE, 0, 0, ms);
}

function timeOne(target: FuzzTarget, input: Buffer): number {
  const t0 = performance.now();
  runOne(target, input);
  return performance.now() - t0;
}

/**
 * ddmin over bytes: removes chunks (halves, quarters, ... single bytes) while the input still
 * throws with `signature`. Bounded by `budgetMs`.
 */
export function minimise(target: FuzzTarget, input: Buffer, signature: string, budgetMs = 5000, beat?: () => void): Buffer {
  const deadline = performance.now() + budgetMs;
  const same = (b: Buffer): boolean => {
    const r = runOne(target, b);
    beat?.();
    return 'error' in r && signatureOf(r.error).signature === signature;
  };
  let best = input;
  let chunk = Math.max(1, best.length >> 1);
  while (chunk >= 1 && performance.now() < deadline) {
    let removed = false;
    for (let i = 0; i + chunk <= best.length && performance.now() < deadline;) {
      const candidate = Buffer.concat([best.subarray(0, i), best.subarray(i + chunk)]);
      if (same(candidate)) {
        best = candidate;
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (!removed) chunk >>= 1;
    else chunk = Math.min(chunk, Math.max(1, best.length >> 1));
  }
  return best;
}

/** Runs `opts.inputs` inputs (from `opts.start`) of one target in this thread. */
export function runTarget(target: FuzzTarget, opts: RunOptions): TargetReport {
  const slowMs = opts.slowMs ?? 100;
  const source = new InputSource(target, opts.seed, opts.extraSeeds);
  const report: TargetReport = {
    target: target.name, inputs: 0, accepted: 0, rejected: 0, crashes: 0, slow: 0, hangs: 0,
    slowestMs: 0, slowestIndex: -1, elapsedMs: 0, findings: [],
  };
  const bySignature = new Map<string, Finding>();
  const beat = opts.progress ? () => Atomics.add(opts.progress!, 1, 1) : () => undefined;
  const retime = (input: Buffer): number => {
    const ms = timeOne(target, input);
    beat();
    return ms;
  };
  const every = opts.progressEvery ?? 10000;
  target.prepare?.();
  const started = performance.now();
  const end = (opts.start ?? 0) + opts.inputs;
  for (let i = opts.start ?? 0; i < end; i++) {
    if (opts.progress) Atomics.store(opts.progress, 0, i);
    const input = source.at(i);
    const t0 = performance.now();
    const result = runOne(target, input);
    let ms = performance.now() - t0;
    report.inputs++;
    if ('verdict' in result) {
      if (result.verdict === 'accepted') report.accepted++;
      else report.rejected++;
    } else {
      report.crashes++;
      const s = signatureOf(result.error);
      const known = bySignature.get(s.signature);
      if (known) known.count++;
      else bySignature.set(s.signature, { target: target.name, kind: 'crash', ...s, count: 1, index: i, seed: opts.seed, input });
    }
    if (ms > slowMs / 10) {
      // The fastest of three runs decides the "slowest" figure (a GC pause lands on some input);
      // a slow finding also needs five more runs spread over a second to agree: on a shared
      // machine a burst of load can slow three runs in a row (seen: 110 ms for a 15 ms input).
      ms = Math.min(ms, retime(input), retime(input));
      for (let k = 0; k < 5 && ms > slowMs; k++) {
        pause(200);
        ms = Math.min(ms, retime(input));
      }
      if (ms > slowMs) {
        report.slow++;
        const known = bySignature.get('slow');
        if (known) {
          known.count++;
          if (ms > known.ms!) Object.assign(known, { index: i, input, ms });
        } else {
          bySignature.set('slow', {
            target: target.name, kind: 'slow', signature: 'slow', error: `input of ${input.length} bytes took ${ms.toFixed(1)} ms (limit ${slowMs} ms)`,
            stack: '', count: 1, index: i, seed: opts.seed, input, ms,
          });
        }
      }
    }
    if (ms > report.slowestMs) {
      report.slowestMs = ms;
      report.slowestIndex = i;
    }
    if (opts.onProgress && (i + 1) % every === 0) opts.onProgress(report.inputs);
  }
  report.elapsedMs = performance.now() - started;
  for (const f of bySignature.values()) {
    if (f.kind === 'crash' && opts.minimise !== false) f.minimal = minimise(target, f.input, f.signature, 5000, beat);
    if (f.kind === 'slow') f.error = `input of ${f.input.length} bytes took ${f.ms!.toFixed(1)} ms (limit ${slowMs} ms)`;
    report.findings.push(f);
  }
  return report;
}

/** An input for a report: JSON string for text targets, hex for bytes (long ones clipped). */
export function showInput(target: Pick<FuzzTarget, 'kind'>, input: Buffer, max = 400): string {
  if (target.kind === 'text') {
    const s = JSON.stringify(input.toString('utf8'));
    return s.length > max ? `${s.slice(0, max)}… (${input.length} bytes)` : s;
  }
  const h = input.toString('hex');
  return h.length > max ? `${h.slice(0, max)}… (${input.length} bytes)` : h;
}
