/**
 * `make bench`: runs the benchmarks of the performance issues, prints one table and writes
 * bench/results.json (BENCH_OUT overrides the path). BENCH_TINY=1 runs each once at a tiny size
 * (what test/bench/bench.test.ts does under `make test`), BENCH_ONLY=name,name picks benchmarks
 * (sip-parse, sipp-load, scale-out, per-call-cpu, kill-mid-run, concurrent-calls, answer-to-media,
 * media-paths: the stun-responder, rtp-path and srtp-path rows; trickle-setup: call setup with
 * trickle ICE off/half/full, healthy and with a dead first TURN server; per-call-cpu also writes the
 * rss-after-load row; gateway-bridge: bridged calls through one icephone gateway). BENCH_DRIFT_S=N runs per-call-cpu for N seconds instead of 300.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { benchParse } from './parse.js';
import { benchSippLoad } from './sipp-load.js';
import { benchConcurrent } from './concurrent.js';
import { benchAnswerToMedia } from './answer-media.js';
import { benchMediaPaths } from './media-echo.js';
import { benchGateway } from './gateway.js';
import { benchDrift, benchKillMidRun, benchScaleOut } from './scale.js';
import { benchTrickleSetup } from './trickle-setup.js';
import { ROOT, TINY, type BenchRow } from './common.js';

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Each gets the rows measured so far in this run (scale-out and per-call-cpu use sipp-load's rate). */
const BENCHMARKS: Array<[string, (prior: BenchRow[]) => Promise<BenchRow[]>]> = [
  ['sip-parse', () => benchParse()],
  ['sipp-load', () => benchSippLoad(log)],
  ['scale-out', (prior) => benchScaleOut(log, prior)],
  ['per-call-cpu', (prior) => benchDrift(log, prior)],
  ['kill-mid-run', () => benchKillMidRun(log)],
  ['concurrent-calls', () => benchConcurrent(log)],
  ['answer-to-media', () => benchAnswerToMedia(log)],
  ['media-paths', () => benchMediaPaths()],
  ['gateway-bridge', () => benchGateway(log)],
  ['trickle-setup', () => benchTrickleSetup(log)],
];

/** The `cpu` line of /proc/stat: [steal jiffies, all jiffies], or undefined off Linux. */
function cpuJiffies(): [number, number] | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return [f[7] ?? 0, all];
  } catch {
    return undefined;
  }
}

/**
 * Share of the machine's CPU time the hypervisor gave to others (steal) between two readings, in
 * %. On these shared 2-core machines it has been seen from 0 to 60% within minutes: an absolute
 * rate measured under 40% steal is not comparable with one at 0%; ratios within a row are.
 */
function stealPct(a: [number, number] | undefined, b: [number, number] | undefined): number | undefined {
  if (!a || !b || b[1] <= a[1]) return undefined;
  return Math.round(((b[0] - a[0]) / (b[1] - a[1])) * 100);
}

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}

/** The table as Markdown (also what the README's Performance section shows). */
export function table(rows: BenchRow[]): string {
  const lines = ['| benchmark | metric | value | baseline (same run) | ratio | target | met | CPU steal |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const met = r.met === true ? 'yes' : r.met === false ? '**no**' : '-';
    lines.push(`| ${r.benchmark} | ${r.metric}${r.note ? ` (${r.note})` : ''} | ${fmt(r.value)} ${r.unit} | ${r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '-'} | ${r.baseline?.ratio ?? '-'} | ${r.target ?? '-'} | ${met} | ${r.stealPct === undefined ? '-' : `${r.stealPct}%`} |`);
  }
  return lines.join('\n');
}

export async function runBenchmarks(): Promise<{ rows: BenchRow[]; failures: string[] }> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const rows: BenchRow[] = [];
  const failures: string[] = [];
  for (const [name, fn] of BENCHMARKS) {
    if (only && !only.includes(name)) continue;
    log(`bench: ${name}${TINY ? ' (tiny)' : ''}...`);
    const before = cpuJiffies();
    let got: BenchRow[];
    try {
      got = await fn(rows);
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      failures.push(`${name}: ${msg}`);
      got = [{ benchmark: name, metric: 'failed to run', value: null, unit: '', note: msg }];
    }
    const steal = stealPct(before, cpuJiffies());
    if (steal !== undefined) log(`bench: ${name}: CPU steal ${steal}% of the machine's time during it`);
    rows.push(...got.map((r) => ({ ...r, stealPct: steal })));
  }
  return { rows, failures };
}

if (process.argv[1] && /run\.(ts|js)$/.test(process.argv[1])) {
  const started = new Date();
  const { rows, failures } = await runBenchmarks();
  const out = process.env.BENCH_OUT ?? join(ROOT, 'bench', TINY ? 'results-tiny.json' : 'results.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({
    date: started.toISOString(), tiny: TINY, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, rows, failures,
  }, null, 2) + '\n');
  process.stdout.write(table(rows) + '\n');
  log(`bench: wrote ${out}`);
  process.exit(failures.length ? 1 : 0);
}
