/**
 * `make bench`: runs the benchmarks of the performance issues, prints one table and writes
 * bench/results.json (BENCH_OUT overrides the path). BENCH_TINY=1 runs each once at a tiny size
 * (what test/bench/bench.test.ts does under `make test`), BENCH_ONLY=name,name picks benchmarks
 * (sip-parse, sipp-load, scale-out, per-call-cpu, kill-mid-run, concurrent-calls, answer-to-media,
 * media-paths: the stun-responder, rtp-path and srtp-path rows; trickle-setup: call setup with
 * trickle ICE off/half/full, healthy and with a dead first TURN server; per-call-cpu also writes the
 * rss-after-load row; gateway-bridge: bridged calls through one icephone gateway). BENCH_DRIFT_S=N runs per-call-cpu for N seconds instead of 300.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}

/** The table as Markdown (also what the README's Performance section shows). */
export function table(rows: BenchRow[]): string {
  const lines = ['| benchmark | metric | value | baseline (same run) | ratio | target | met |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const met = r.met === true ? 'yes' : r.met === false ? '**no**' : '-';
    lines.push(`| ${r.benchmark} | ${r.metric}${r.note ? ` (${r.note})` : ''} | ${fmt(r.value)} ${r.unit} | ${r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '-'} | ${r.baseline?.ratio ?? '-'} | ${r.target ?? '-'} | ${met} |`);
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
    try {
      rows.push(...await fn(rows));
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      failures.push(`${name}: ${msg}`);
      rows.push({ benchmark: name, metric: 'failed to run', value: null, unit: '', note: msg });
    }
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
