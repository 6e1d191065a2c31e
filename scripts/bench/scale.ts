/**
 * Benchmarks of issue 14 beyond one SIPp run against one process:
 *  - `scale-out`: calls/s sustained for SUSTAIN_S (60) seconds with zero failed calls by two
 *    `icephone answer` processes behind kamailio's dispatcher (scripts/deploy/kamailio-dispatcher.cfg
 *    as it is, as test/e2e/dispatcher.test.ts runs it), against one process in the same run (the
 *    sipp-load row when it ran, else measured here the same way); target >= 1.5x.
 *  - `per-call-cpu`: one answerer at 60% of the one-process sustained rate for BENCH_DRIFT_S
 *    seconds (default 300): its CPU per call in the last minute against the first (target within
 *    10%). The minute is a fifth of the run when BENCH_DRIFT_S is below 300. The run follows a
 *    warm-up of one such window at the same rate on the same process, so that its first minute
 *    compares a warm process with a warm process (a cold process's first minute holds V8's
 *    compilation and heap growth, once per process, and was 13-15% dearer than the fifth); a second
 *    row gives the cold figure: the warm-up's window against the run's last.
 *  - `rss-after-load`: the same process's RSS before the run and after it, once every call has
 *    ended and the transaction timers have run out (Timer J/D, 32 s) (target within 20%); and the
 *    same after a full garbage collection (the process runs with `--expose-gc` and the bench-only
 *    preload gc-on-signal.mjs: SIGWINCH runs gc()), which tells retained memory from garbage.
 *  - `kill-mid-run`: two instances behind the dispatcher, one SIGKILLed while it holds calls:
 *    the calls SIPp counts failed, against the calls that instance had in progress (plus those
 *    the balancer routed to it before its OPTIONS probe noticed); the calls after all succeed.
 * All calls: scenarios/sipp-load-uac.xml (direct) or scenarios/sipp-dispatch-uac.xml (through the
 * balancer), 1 s hold, the answerer sending RTP (tone:440) at 50 packets/s to SIPp's media port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePortPair, freeUdpPort } from '../../test/helpers/ports.js';
import { ROOT, TINY, icephoneCommand, procUsage, ratio, round, sleep, type BenchRow } from './common.js';
import { sipp, startAnswerer } from './sipp-load.js';

const CONFIG = join(ROOT, 'scripts', 'deploy', 'kamailio-dispatcher.cfg');
const DISPATCH_SCENARIO = join(ROOT, 'scenarios', 'sipp-dispatch-uac.xml');
const HOLD_MS = TINY ? 200 : 1000;
const SUSTAIN_S = TINY ? 2 : 60;
const PROBE_S = TINY ? 2 : 10;
const PROBE_INTERVAL_S = 1;

/** RSS after asking the answerer (started with gc-on-signal.mjs) for a full collection and letting V8 give pages back. */
async function rssAfterFullGc(pid: number): Promise<number> {
  // Three collections 2 s apart: V8 gives freed pages back over several.
  for (let i = 0; i < 3; i++) {
    try { process.kill(pid, 'SIGWINCH'); } catch { return 0; }
    await sleep(2000);
  }
  return procUsage(pid)?.rssBytes ?? 0;
}

/** Run length of the per-call CPU benchmark in seconds: BENCH_DRIFT_S, default 300 (the issue's 5 minutes). */
export function driftSeconds(): number {
  const env = Number(process.env.BENCH_DRIFT_S);
  if (Number.isFinite(env) && env >= 10) return Math.round(env);
  return TINY ? 10 : 300;
}

function available(...cmds: string[]): string[] {
  return cmds.filter((c) => spawnSync('bash', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
}

/** An answerer whose stderr progress is kept (for "sip: incoming call" counts), and its --json summaries. */
interface Instance {
  port: number;
  child: ChildProcess;
  taken(): number;
  reported(): number;
  exited: Promise<void>;
}

async function startCountedInstance(port: number, rtpBase: number): Promise<Instance> {
  const [cmd, ...args] = icephoneCommand();
  const child = spawn('bash', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"', 'icephone', cmd!, ...args,
    'answer', '--listen', `127.0.0.1:${port}`, '--rtp-ports', `${rtpBase}-${rtpBase + 1999}`, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let taken = 0;
  let reported = 0;
  let errTail = '';
  let outTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    const text = errTail + d.toString();
    const lines = text.split('\n');
    errTail = lines.pop()!;
    for (const l of lines) if (l.startsWith('sip: incoming call')) taken++;
  });
  child.stdout!.on('data', (d: Buffer) => {
    const text = outTail + d.toString();
    const lines = text.split('\n');
    outTail = lines.pop()!;
    for (const l of lines) if (l.startsWith('{')) reported++;
  });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  for (let i = 0; i < 150 && child.exitCode === null; i++) {
    await sleep(100);
    if (spawnSync('bash', ['-c', `ss -uln | grep -q '127.0.0.1:${port} '`]).status === 0) break;
  }
  if (child.exitCode !== null) throw new Error(`icephone answer on ${port} exited at start`);
  return { port, child, taken: () => taken, reported: () => reported, exited };
}

interface Balancer {
  port: number;
  /** INVITEs kamailio logged as dispatched to `instancePort` so far. */
  dispatchedTo(instancePort: number): number;
  stop(): Promise<void>;
}

/** kamailio with scripts/deploy/kamailio-dispatcher.cfg as it is, in front of `instancePorts`. */
async function startBalancer(dir: string, instancePorts: number[]): Promise<Balancer> {
  const port = await freeUdpPort();
  const list = join(dir, 'dispatcher.list');
  writeFileSync(list, instancePorts.map((p) => `1 sip:127.0.0.1:${p} 0 0\n`).join(''));
  const child = spawn('kamailio', [
    '-f', CONFIG, '-DD', '-E', '-m', '256', '-M', '16', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir,
    '-A', `LISTEN=udp:127.0.0.1:${port}`, '-A', `DISPATCHER_LIST="${list}"`, '-A', `PROBE_INTERVAL=${PROBE_INTERVAL_S}`, '-A', 'FR_TIMER=2000',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const counts = new Map<number, number>();
  let tail = '';
  let ready = false;
  const log = createWriteStream(join(dir, 'kamailio.log'));
  child.stderr!.on('data', (d: Buffer) => {
    log.write(d);
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop()!;
    for (const l of lines) {
      if (l.includes('SO_RCVBUF is finally')) ready = true;
      const m = /dispatching INVITE \S+ to sip:127\.0\.0\.1:(\d+)/.exec(l);
      if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
    }
  });
  for (let i = 0; i < 100 && !ready && child.exitCode === null; i++) await sleep(100);
  if (!ready) throw new Error(`kamailio did not start: ${readFileSync(join(dir, 'kamailio.log'), 'utf8').slice(-500)}`);
  // Let the first OPTIONS probe mark both instances up.
  await sleep(PROBE_INTERVAL_S * 1000 + 500);
  return {
    port,
    dispatchedTo: (p) => counts.get(p) ?? 0,
    stop: async () => {
      if (child.exitCode === null) {
        try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
        for (let i = 0; i < 30 && child.exitCode === null; i++) await sleep(100);
        if (child.exitCode === null) try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
      log.end();
    },
  };
}

interface RateRun { rate: number; ok: boolean; reason?: string; cpuPct: number[] }

/** One SIPp run through a fresh balancer in front of two fresh answerers. */
async function runThroughBalancer(rate: number, seconds: number): Promise<RateRun> {
  const dir = mkdtempSync(join(tmpdir(), 'icephone-bench-scale-'));
  const ports = [await freePortPair(), await freePortPair()];
  const rtp = await freeUdpPort();
  const base = Math.min(rtp, 65535 - 4200);
  const answerers = [await startAnswerer(ports[0]!, ['--rtp-ports', `${base}-${base + 1999}`]), await startAnswerer(ports[1]!, ['--rtp-ports', `${base + 2000}-${base + 3999}`])];
  const balancer = await startBalancer(dir, ports);
  try {
    const calls = Math.max(1, Math.round(rate * seconds));
    const before = answerers.map((a) => procUsage(a.pid));
    const t0 = performance.now();
    const r = await sipp({ target: `127.0.0.1:${balancer.port}`, scenario: DISPATCH_SCENARIO, rate, calls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: seconds + HOLD_MS / 1000 + 40 });
    const elapsed = (performance.now() - t0) / 1000;
    const cpuPct = answerers.map((a, i) => {
      const u = procUsage(a.pid);
      const b = before[i];
      return u && b ? round(((u.cpuSec - b.cpuSec) / elapsed) * 100, 0)! : -1;
    });
    const ok = r.code === 0 && r.failed === 0 && r.successful === calls;
    return { rate, ok, cpuPct, reason: ok ? undefined : `sipp exit ${r.code}, ${r.successful}/${calls} successful, ${r.failed} failed` };
  } finally {
    await balancer.stop();
    await Promise.all(answerers.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One process, direct: the same probe-then-sustain procedure as sipp-load, for when that row did not run. */
async function oneProcessRate(log: (s: string) => void): Promise<number> {
  const probes = TINY ? [10] : [50, 100, 200, 300, 400, 500, 650];
  let best = 0;
  for (const rate of probes) {
    const port = await freePortPair();
    const a = await startAnswerer(port);
    const calls = rate * PROBE_S;
    const r = await sipp({ target: `127.0.0.1:${port}`, rate, calls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: PROBE_S + 40 });
    await a.stop();
    const ok = r.code === 0 && r.failed === 0 && r.successful === calls;
    log(`scale-out: one process, probe ${rate}/s: ${ok ? 'clean' : `${r.successful}/${calls}, ${r.failed} failed`}`);
    if (!ok) break;
    best = rate;
  }
  for (const rate of probes.filter((p) => p <= best).reverse()) {
    if (TINY) return rate;
    const port = await freePortPair();
    const a = await startAnswerer(port);
    const calls = rate * SUSTAIN_S;
    const r = await sipp({ target: `127.0.0.1:${port}`, rate, calls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: SUSTAIN_S + 40 });
    await a.stop();
    if (r.code === 0 && r.failed === 0 && r.successful === calls) return rate;
  }
  return 0;
}

/** The one-process sustained rate from the sipp-load row of this run, if it ran. */
/**
 * The one-process sustained rate: from the sipp-load row of this run, else BENCH_ONE_PROCESS_RATE
 * (calls/s, for a BENCH_ONLY subset without sipp-load), else undefined (the caller probes).
 */
function priorOneProcessRate(prior: BenchRow[]): number | undefined {
  const row = prior.find((r) => r.benchmark === 'sipp-load' && r.metric.startsWith('highest rate sustained'));
  if (row && typeof row.value === 'number') return row.value;
  const env = Number(process.env.BENCH_ONE_PROCESS_RATE);
  return Number.isFinite(env) && env > 0 ? env : undefined;
}

export async function benchScaleOut(log: (s: string) => void, prior: BenchRow[]): Promise<BenchRow[]> {
  const missing = available('sipp', 'kamailio');
  if (missing.length) {
    return [{ benchmark: 'scale-out', metric: 'two processes behind kamailio, calls/s sustained', value: null, unit: 'calls/s', target: '>= 1.5x one process', met: null, note: `${missing.join(', ')} not installed` }];
  }
  const fromPrior = priorOneProcessRate(prior);
  const one = fromPrior ?? await oneProcessRate(log);
  // Probe upwards from the one-process rate, then hold the highest clean probe (or the next lower) for SUSTAIN_S.
  const factors = TINY ? [1] : [1, 1.25, 1.5, 1.75, 2];
  const start = Math.max(one, TINY ? 10 : 50);
  const probes = factors.map((f) => Math.round(start * f));
  let best: RateRun | undefined;
  let firstFail: RateRun | undefined;
  for (const rate of probes) {
    const r = await runThroughBalancer(rate, PROBE_S);
    log(`scale-out: two processes, probe ${rate}/s for ${PROBE_S} s: ${r.ok ? 'clean' : r.reason}, answerer CPU ${r.cpuPct.join('%/')}%`);
    if (!r.ok) { firstFail = r; break; }
    best = r;
  }
  // Not even the one-process rate was clean: halve until a probe is (down to 10 calls/s).
  for (let rate = Math.floor(start / 2); !best && !TINY && rate >= 10; rate = Math.floor(rate / 2)) {
    const r = await runThroughBalancer(rate, PROBE_S);
    log(`scale-out: two processes, probe ${rate}/s for ${PROBE_S} s: ${r.ok ? 'clean' : r.reason}`);
    if (r.ok) { best = r; probes.unshift(rate); }
  }
  let sustained: RateRun | undefined;
  const failures: string[] = [];
  for (const rate of best ? probes.filter((p) => p <= best!.rate).reverse() : []) {
    const r = TINY ? best! : await runThroughBalancer(rate, SUSTAIN_S);
    log(`scale-out: two processes, sustain ${rate}/s for ${SUSTAIN_S} s: ${r.ok ? 'clean' : r.reason}`);
    if (r.ok) { sustained = r; break; }
    failures.push(`${rate}/s: ${r.reason}`);
  }
  // No probed rate held for the whole time: step down below the lowest one tried (0.75x, 0.5x,
  // 0.25x of it), so the row reports the rate that does hold rather than 0.
  const lowest = Math.min(...probes);
  for (const f of [0.75, 0.5, 0.25]) {
    if (sustained || TINY) break;
    const rate = Math.max(10, Math.round(lowest * f));
    const r = await runThroughBalancer(rate, SUSTAIN_S);
    log(`scale-out: two processes, sustain ${rate}/s for ${SUSTAIN_S} s: ${r.ok ? 'clean' : r.reason}`);
    if (r.ok) sustained = r;
    else failures.push(`${rate}/s: ${r.reason}`);
  }
  const two = sustained?.rate ?? 0;
  const k = ratio(two, one);
  return [{
    benchmark: 'scale-out', metric: `two processes behind kamailio dispatcher, highest rate sustained ${SUSTAIN_S} s, zero failed calls (hold ${HOLD_MS} ms)`,
    value: two, unit: 'calls/s', baseline: { name: `one process${fromPrior === undefined ? ' (measured here)' : ' (sipp-load row)'}`, value: one, ratio: k },
    target: '>= 1.5x one process', met: TINY ? null : k !== null && k >= 1.5,
    note: [sustained ? `answerer CPU ${sustained.cpuPct.join('% and ')}%` : 'no clean rate', firstFail ? `first failing ${PROBE_S}-s probe ${firstFail.rate}/s: ${firstFail.reason}, CPU ${firstFail.cpuPct.join('%/')}%` : '', failures.length ? `failed ${SUSTAIN_S}-s runs: ${failures.join('; ')}` : ''].filter(Boolean).join('; '),
  }];
}

export async function benchDrift(log: (s: string) => void, prior: BenchRow[]): Promise<BenchRow[]> {
  const missing = available('sipp');
  if (missing.length) {
    return [
      { benchmark: 'per-call-cpu', metric: 'CPU per call, last minute vs first', value: null, unit: '', target: 'within 10%', met: null, note: 'sipp not installed' },
      { benchmark: 'rss-after-load', metric: 'RSS after a load run vs before', value: null, unit: 'MB', target: 'within 20%', met: null, note: 'sipp not installed' },
    ];
  }
  const one = priorOneProcessRate(prior) ?? (TINY ? 10 : await oneProcessRate(log));
  const rate = Math.max(1, Math.round((one || (TINY ? 10 : 50)) * 0.6));
  const seconds = driftSeconds();
  const windowS = Math.min(60, seconds / 5);
  const port = await freePortPair();
  const answerer = await startAnswerer(port, [], ['--expose-gc', '--import', pathToFileURL(join(ROOT, 'scripts', 'bench', 'gc-on-signal.mjs')).href]);
  await sleep(2000);
  const rssBefore = procUsage(answerer.pid)?.rssBytes ?? 0;
  const rssBeforeGc = await rssAfterFullGc(answerer.pid);
  // CPU of the answerer, sampled once a second against the wall clock (epoch seconds, as SIPp's statistics).
  const samples: Array<{ t: number; cpuSec: number }> = [];
  const timer = setInterval(() => {
    const u = procUsage(answerer.pid);
    if (u) samples.push({ t: Date.now() / 1000, cpuSec: u.cpuSec });
  }, 1000);
  const calls = rate * seconds;
  const warmCalls = Math.round(rate * windowS);
  const settleS = TINY ? 3 : 40;
  let rssWarmGc = 0;
  let r;
  let warm;
  try {
    warm = await sipp({ target: `127.0.0.1:${port}`, rate, calls: warmCalls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: windowS + 60 });
    log(`per-call-cpu: warm-up ${rate}/s for ${round(windowS, 0)} s: ${warm.successful}/${warmCalls} successful, ${warm.failed} failed; waiting ${settleS} s for timers`);
    // What the process holds once the warm-up's calls and transactions are gone: the baseline for
    // what the run itself leaves behind (JIT code and caches filled to their bounds come once).
    await sleep(settleS * 1000);
    rssWarmGc = await rssAfterFullGc(answerer.pid);
    r = await sipp({ target: `127.0.0.1:${port}`, rate, calls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: seconds + 60 });
  } finally {
    clearInterval(timer);
  }
  // Every call has ended; wait out the transaction timers (Timer J 64*T1 = 32 s, Timer D 32 s) and sample RSS.
  log(`per-call-cpu: ${rate}/s for ${seconds} s: ${r.successful}/${calls} successful, ${r.failed} failed; waiting ${settleS} s for timers`);
  await sleep(settleS * 1000);
  const rssAfter = procUsage(answerer.pid)?.rssBytes ?? 0;
  const rssAfterGc = await rssAfterFullGc(answerer.pid);
  await answerer.stop();

  // Calls completed (successful + failed) in one SIPp run's timeline, and CPU seconds, by wall-clock instant.
  const callsAt = (timeline: typeof r.timeline, t: number) => {
    let last = { successful: 0, failed: 0 };
    for (const row of timeline) { if (row.t > t) break; last = row; }
    return last.successful + last.failed;
  };
  const cpuAt = (t: number) => {
    let last = samples[0]?.cpuSec ?? 0;
    for (const s of samples) { if (s.t > t) break; last = s.cpuSec; }
    return last;
  };
  const t0 = r.timeline[0]?.t ?? 0;
  const tEnd = t0 + seconds;
  const perCall = (timeline: typeof r.timeline, from: number, to: number) => {
    const n = callsAt(timeline, to) - callsAt(timeline, from);
    return n > 0 ? ((cpuAt(to) - cpuAt(from)) * 1000) / n : null; // CPU ms per call
  };
  const first = perCall(r.timeline, t0, t0 + windowS);
  const last = perCall(r.timeline, tEnd - windowS, tEnd);
  const drift = first && last !== null ? last / first : null;
  const w0 = warm.timeline[0]?.t ?? 0;
  const cold = perCall(warm.timeline, w0, w0 + windowS);
  const coldDrift = cold && last !== null ? last / cold : null;
  const warmClean = warm.code === 0 && warm.failed === 0 && warm.successful === warmCalls;
  // Every window of the run, so that a trend (growth with the calls handled) shows from noise.
  const windows: string[] = [];
  for (let from = t0; from + windowS <= tEnd + 0.5; from += windowS) windows.push(String(round(perCall(r.timeline, from, from + windowS), 2)));
  const rssRatio = rssBefore ? rssAfter / rssBefore : null;
  const rssGcRatio = rssBeforeGc ? rssAfterGc / rssBeforeGc : null;
  const rssRunRatio = rssWarmGc ? rssAfterGc / rssWarmGc : null;
  const clean = r.code === 0 && r.failed === 0 && r.successful === calls;
  const windowName = windowS === 60 ? 'minute' : `${round(windowS, 0)} s`;
  return [
    {
      benchmark: 'per-call-cpu', metric: `answerer CPU per call, last ${windowName} of a ${seconds}-s run at ${rate} calls/s (60% of ${one}/s) vs its first ${windowName} (after a ${windowName} warm-up at that rate)`,
      value: round(last, 2), unit: 'ms/call', baseline: { name: `first ${windowName}`, value: round(first, 2), ratio: drift === null ? null : round(drift, 2) },
      target: 'within 10%', met: TINY || drift === null ? null : Math.abs(drift - 1) <= 0.1,
      note: [`each ${windowName} of the run: ${windows.join(' / ')} ms/call`, clean ? '' : `sipp exit ${r.code}, ${r.successful}/${calls} successful, ${r.failed} failed`].filter(Boolean).join('; '),
    },
    {
      benchmark: 'per-call-cpu', metric: `the same last ${windowName} vs the warm-up's ${windowName}, the process's first calls (cold: V8 still compiling, the heap growing)`,
      value: round(last, 2), unit: 'ms/call', baseline: { name: `warm-up ${windowName}`, value: round(cold, 2), ratio: coldDrift === null ? null : round(coldDrift, 2) },
      note: warmClean ? undefined : `warm-up: sipp exit ${warm.code}, ${warm.successful}/${warmCalls} successful, ${warm.failed} failed`,
    },
    {
      benchmark: 'rss-after-load', metric: `answerer RSS ${settleS} s after that run (${warm.successful + warm.failed + r.successful + r.failed} calls with the warm-up) vs before the warm-up`,
      value: round(rssAfter / 1048576, 0), unit: 'MB', baseline: { name: 'before', value: round(rssBefore / 1048576, 0), ratio: rssRatio === null ? null : round(rssRatio, 2) },
      target: 'within 20%', met: TINY || rssRatio === null ? null : rssRatio <= 1.2,
    },
    {
      benchmark: 'rss-after-load', metric: 'the same, each read after a full garbage collection (SIGWINCH to a bench-only gc() preload)',
      value: round(rssAfterGc / 1048576, 0), unit: 'MB', baseline: { name: 'before', value: round(rssBeforeGc / 1048576, 0), ratio: rssGcRatio === null ? null : round(rssGcRatio, 2) },
      target: 'within 20%', met: TINY || rssGcRatio === null ? null : rssGcRatio <= 1.2,
    },
    {
      benchmark: 'rss-after-load', metric: `the same after the ${seconds}-s run (${r.successful + r.failed} calls) vs after the warm-up (${warm.successful + warm.failed}), both after a full collection: what the calls handled leave behind`,
      value: round(rssAfterGc / 1048576, 0), unit: 'MB', baseline: { name: 'after the warm-up', value: round(rssWarmGc / 1048576, 0), ratio: rssRunRatio === null ? null : round(rssRunRatio, 2) },
    },
  ];
}

export async function benchKillMidRun(log: (s: string) => void): Promise<BenchRow[]> {
  const missing = available('sipp', 'kamailio');
  if (missing.length) {
    return [{ benchmark: 'kill-mid-run', metric: 'failed calls when one of two instances is killed', value: null, unit: 'calls', target: '<= calls in progress there + routed there before the probe', met: null, note: `${missing.join(', ')} not installed` }];
  }
  const rate = TINY ? 10 : 50;
  const seconds = TINY ? 3 : 20;
  const dir = mkdtempSync(join(tmpdir(), 'icephone-bench-kill-'));
  const rtp = await freeUdpPort();
  const base = Math.min(rtp, 65535 - 4200);
  const a = await startCountedInstance(await freePortPair(), base);
  const b = await startCountedInstance(await freePortPair(), base + 2000);
  const balancer = await startBalancer(dir, [a.port, b.port]);
  try {
    const calls = rate * seconds;
    let inProgress = 0;
    let dispatchedAtKill = 0;
    let killedAt = 0;
    const run = sipp({
      target: `127.0.0.1:${balancer.port}`, scenario: DISPATCH_SCENARIO, rate, calls, holdMs: HOLD_MS, sippPort: await freePortPair(), timeoutS: seconds + 60,
      started: () => {
        void (async () => {
          // Kill `a` a third of the way in, while both hold calls.
          const deadline = Date.now() + 60_000;
          while ((a.taken() < Math.max(3, (rate * seconds) / 6) || b.taken() < 3) && Date.now() < deadline) await sleep(20);
          dispatchedAtKill = balancer.dispatchedTo(a.port);
          a.child.kill('SIGKILL');
          killedAt = Date.now();
          await a.exited;
          inProgress = a.taken() - a.reported();
        })();
      },
    });
    const r = await run;
    const routedAfterDeath = balancer.dispatchedTo(a.port) - dispatchedAtKill;
    const bound = inProgress + routedAfterDeath;
    log(`kill-mid-run: ${r.successful}/${calls} successful, ${r.failed} failed; killed instance had ${inProgress} in progress, ${routedAfterDeath} INVITEs routed to it after its death (killed ${killedAt ? 'mid-run' : 'never'})`);
    return [{
      benchmark: 'kill-mid-run', metric: `one of two instances behind kamailio SIGKILLed mid-run (${rate} calls/s, ${seconds} s, probe every ${PROBE_INTERVAL_S} s): failed calls`,
      value: r.failed, unit: 'calls', baseline: { name: 'calls in progress there', value: inProgress, ratio: ratio(r.failed, inProgress) },
      target: '<= in progress + routed there before the probe', met: killedAt ? r.failed <= bound : null,
      note: `${routedAfterDeath} INVITEs routed to it after its death (failed over after FR_TIMER); ${r.successful}/${calls} successful`,
    }];
  } finally {
    await balancer.stop();
    for (const i of [a, b]) if (i.child.exitCode === null) i.child.kill('SIGTERM');
    await Promise.race([Promise.all([a.exited, b.exited]), sleep(5000)]);
    for (const i of [a, b]) if (i.child.exitCode === null) i.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
