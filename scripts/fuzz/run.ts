/**
 * `make fuzz`: every parser of network bytes (scripts/fuzz/targets) on N inputs each, one worker
 * thread per target (`--jobs` at a time), then one table and the findings. Exit status 1 when any
 * input threw an untyped exception, took longer than `--slow-ms`, or never returned (the watchdog
 * ends the worker after `--hang-ms` on one input, names the input, and goes on after it).
 *
 *   npx tsx scripts/fuzz/run.ts [--inputs N] [--only NAME[,NAME]] [--seed S] [--jobs J]
 *                               [--slow-ms 100] [--hang-ms 30000] [--findings FILE.json]
 *   npx tsx scripts/fuzz/run.ts --only NAME --seed S --replay INDEX     (prints that input)
 *   npx tsx scripts/fuzz/run.ts --list
 */
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { InputSource, runOne, showInput, signatureOf, type Finding, type FuzzTarget, type TargetReport } from './engine.js';
import { openFindings, regressionInputs, TARGETS, targetNamed } from './targets/index.js';
import type { WorkerJob, WorkerMessage } from './worker.js';

interface Options {
  inputs: number;
  only?: string[];
  seed: number;
  jobs: number;
  slowMs: number;
  hangMs: number;
  findings?: string;
  replay?: number;
  list: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { inputs: 10000, seed: 1, jobs: 2, slowMs: 100, hangMs: 30000, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    switch (a) {
      case '--inputs': o.inputs = count(); break;
      case '--only': o.only = value().split(','); break;
      case '--seed': o.seed = count(); break;
      case '--jobs': o.jobs = Math.max(1, count()); break;
      case '--slow-ms': o.slowMs = count(); break;
      case '--hang-ms': o.hangMs = count(); break;
      case '--findings': o.findings = value(); break;
      case '--replay': o.replay = count(); break;
      case '--list': o.list = true; break;
      default: throw new Error(`unknown option ${a} (see the comment at the top of scripts/fuzz/run.ts)`);
    }
  }
  for (const name of o.only ?? []) if (!targetNamed(name)) throw new Error(`no fuzz target '${name}' (--list shows them)`);
  return o;
}

function emptyReport(target: string): TargetReport {
  return { target, inputs: 0, accepted: 0, rejected: 0, crashes: 0, slow: 0, hangs: 0, slowestMs: 0, slowestIndex: -1, elapsedMs: 0, findings: [] };
}

function merge(into: TargetReport, part: TargetReport): void {
  into.inputs += part.inputs;
  into.accepted += part.accepted;
  into.rejected += part.rejected;
  into.crashes += part.crashes;
  into.slow += part.slow;
  into.hangs += part.hangs;
  into.elapsedMs += part.elapsedMs;
  if (part.slowestMs > into.slowestMs) {
    into.slowestMs = part.slowestMs;
    into.slowestIndex = part.slowestIndex;
  }
  for (const f of part.findings) {
    const same = into.findings.find((g) => g.signature === f.signature);
    if (same) same.count += f.count;
    else into.findings.push(f);
  }
}

/** How long a worker may take to start before its first input (ms). */
const BOOT_MS = 120_000;

/** One worker over inputs [start, end): its report, or the index of an input that never returned. */
function runSegment(target: FuzzTarget, o: Options, start: number, end: number, onProgress: (done: number) => void): Promise<{ report: TargetReport } | { hangAt: number }> {
  const progress = new SharedArrayBuffer(8);
  const counter = new Int32Array(progress);
  // -1 until the worker runs its first input: booting (tsx compiling the targets, prepare()) is not
  // an input that hangs, however long a loaded machine takes; BOOT_MS bounds it instead.
  Atomics.store(counter, 0, -1);
  const job: WorkerJob = { entry: new URL('./worker.ts', import.meta.url).href, target: target.name, inputs: end - start, start, seed: o.seed, slowMs: o.slowMs, progress };
  const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    let last = '';
    let since = Date.now();
    const watchdog = setInterval(() => {
      const now = `${Atomics.load(counter, 0)}/${Atomics.load(counter, 1)}`;
      const booting = Atomics.load(counter, 0) === -1;
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (booting ? Date.now() - since > BOOT_MS : Date.now() - since > o.hangMs) {
        if (booting) {
          clearInterval(watchdog);
          void worker.terminate().then(() => reject(new Error(`fuzz worker for ${target.name} did not start within ${BOOT_MS} ms`)));
          return;
        }
        clearInterval(watchdog);
        const at = Atomics.load(counter, 0);
        void worker.terminate().then(() => resolve({ hangAt: at }));
      }
    }, 250);
    worker.on('message', (m: WorkerMessage) => {
      if (m.kind === 'progress') {
        onProgress(m.done);
        return;
      }
      clearInterval(watchdog);
      // Findings crossed a structured clone: Buffers arrive as Uint8Arrays.
      for (const f of m.report.findings) {
        f.input = Buffer.from(f.input);
        if (f.minimal) f.minimal = Buffer.from(f.minimal);
      }
      resolve({ report: m.report });
    });
    worker.on('error', (error) => {
      clearInterval(watchdog);
      reject(new Error(`fuzz worker for ${target.name} failed: ${error.stack ?? error.message}`));
    });
  });
}

/**
 * Runs `o.inputs` inputs of one target in worker threads. When an input never returns, the worker
 * is ended and its counts are lost with it, so the inputs before the hang run again in a new worker
 * (they all returned once), the hang is recorded, and the run goes on after it.
 */
async function runInWorker(target: FuzzTarget, o: Options, onProgress: (done: number) => void): Promise<TargetReport> {
  const total = emptyReport(target.name);
  const segments: Array<[number, number]> = [[0, o.inputs]];
  for (let segment = segments.shift(); segment; segment = segments.shift()) {
    const [start, end] = segment;
    const before = total.inputs;
    const outcome = await runSegment(target, o, start, end, (done) => onProgress(before + done));
    if ('report' in outcome) {
      merge(total, outcome.report);
      continue;
    }
    const at = outcome.hangAt;
    const input = new InputSource(target, o.seed, regressionInputs(target.name)).at(at);
    merge(total, {
      ...emptyReport(target.name), inputs: 1, hangs: 1,
      findings: [{ target: target.name, kind: 'hang', signature: 'hang', error: `no return within ${o.hangMs} ms`, stack: '', count: 1, index: at, seed: o.seed, input }],
    });
    if (at > start) segments.push([start, at]);
    if (at + 1 < end) segments.push([at + 1, end]);
  }
  return total;
}

function table(reports: TargetReport[], slowMs: number): string {
  const rows = [
    `| target | inputs | accepted | typed rejections | crashes | slow (>${slowMs} ms) | hangs | slowest ms | inputs/s | time s |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of reports) {
    const rate = r.elapsedMs > 0 ? Math.round((r.inputs * 1000) / r.elapsedMs) : 0;
    rows.push(`| ${r.target} | ${r.inputs} | ${r.accepted} | ${r.rejected} | ${r.crashes} | ${r.slow} | ${r.hangs} | ${r.slowestMs.toFixed(1)} | ${rate} | ${(r.elapsedMs / 1000).toFixed(1)} |`);
  }
  return rows.join('\n');
}

function describeFinding(f: Finding): string {
  const target = targetNamed(f.target)!;
  const lines = [
    `- ${f.target}: ${f.kind}, ${f.count} input(s): ${f.error}`,
    `  where: ${f.signature}`,
    `  replay: npx tsx scripts/fuzz/run.ts --only ${f.target} --seed ${f.seed} --replay ${f.index}`,
    `  input${target.kind === 'text' ? ' (text)' : ' (hex)'}: ${showInput(target, f.input)}`,
  ];
  if (f.minimal) lines.push(`  minimal (${f.minimal.length} bytes): ${showInput(target, f.minimal, 2000)}`);
  if (f.stack) lines.push(...f.stack.split('\n').slice(0, 4).map((s) => `    ${s}`));
  return lines.join('\n');
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(20)} ${t.about}`);
    return 0;
  }
  const targets = o.only ? o.only.map((n) => targetNamed(n)!) : TARGETS;
  if (o.replay !== undefined) {
    if (targets.length !== 1) throw new Error('--replay needs --only with one target');
    const t = targets[0]!;
    const input = new InputSource(t, o.seed, regressionInputs(t.name)).at(o.replay);
    const r = runOne(t, input);
    console.log(`input ${o.replay} of ${t.name} (seed ${o.seed}), ${input.length} bytes:\n${showInput(t, input, Infinity)}`);
    console.log('error' in r ? `throws ${signatureOf(r.error).error}\n${signatureOf(r.error).stack}` : `verdict: ${r.verdict}`);
    return 'error' in r ? 1 : 0;
  }

  const t0 = Date.now();
  const done = new Map<string, number>(targets.map((t) => [t.name, 0]));
  const running = new Set<string>();
  let lastPrint = 0;
  const progress = (name: string, n: number) => {
    done.set(name, n);
    if (Date.now() - lastPrint < 15000) return;
    lastPrint = Date.now();
    const parts = [...running].map((r) => `${r} ${Math.round((100 * done.get(r)!) / Math.max(1, o.inputs))}%`);
    process.stderr.write(`fuzz ${Math.round((Date.now() - t0) / 1000)} s: ${parts.join(', ')}\n`);
  };
  process.stderr.write(`fuzz: ${targets.length} targets, ${o.inputs} inputs each, seed ${o.seed}, ${o.jobs} at a time\n`);
  const reports = new Map<string, TargetReport>();
  const queue = [...targets];
  await Promise.all(Array.from({ length: Math.min(o.jobs, queue.length) }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      running.add(t.name);
      const target = t;
      reports.set(t.name, await runInWorker(target, o, (n) => progress(target.name, n)));
      running.delete(t.name);
      const r = reports.get(t.name)!;
      process.stderr.write(`fuzz: ${t.name} done, ${r.inputs} inputs in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.crashes} crashes, ${r.slow} slow, ${r.hangs} hangs; slowest ${r.slowestMs.toFixed(1)} ms: --replay ${r.slowestIndex}\n`);
    }
  }));
  const ordered = targets.map((t) => reports.get(t.name)!);
  console.log(table(ordered, o.slowMs));
  console.log(`\ntotal ${Math.round((Date.now() - t0) / 1000)} s wall clock, seed ${o.seed}, ${o.jobs} job(s)`);
  const findings = ordered.flatMap((r) => r.findings);
  if (findings.length > 0) {
    console.log(`\nFindings (${findings.length}):`);
    for (const f of findings) console.log(describeFinding(f));
  } else {
    console.log('\nNo findings: every input was accepted or refused with a typed error within the time limit.');
  }
  const open = openFindings().filter((f) => targets.some((t) => t.name === f.target));
  if (open.length > 0) {
    console.log(`\nOpen findings recorded in test/fixtures/fuzz/regressions.json (not fed to this run, ${open.length}):`);
    for (const f of open) console.log(`- ${f.target}: ${f.finding}\n  ${f.status}`);
  }
  if (o.findings) {
    const out = findings.map((f) => {
      const kind = targetNamed(f.target)!.kind;
      const input = f.minimal ?? f.input;
      return { target: f.target, kind: f.kind, error: f.error, signature: f.signature, count: f.count, seed: f.seed, index: f.index, ...(kind === 'text' ? { text: input.toString('utf8') } : { hex: input.toString('hex') }) };
    });
    writeFileSync(o.findings, `${JSON.stringify(out, null, 2)}\n`);
  }
  return findings.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
});
