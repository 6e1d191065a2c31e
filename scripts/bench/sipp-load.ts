/**
 * Benchmark 2: SIPp load. `sipp` runs scenarios/sipp-load-uac.xml (INVITE with an SDP offer,
 * 180/200, ACK, hold, BYE) against `icephone answer` (auto-answer; media to SIPp's m/c-line since
 * the offer has no ICE, RTP at 50 packets/s to SIPp's media port). Rates are probed upwards for
 * PROBE_S seconds each; the highest clean rate is then held for SUSTAIN_S seconds (60 in the
 * full run). A rate passes only with zero failed calls. Response times: SIPp's RTD (INVITE sent →
 * 200 received) per call from `-trace_rtt`, reduced to percentiles.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, TINY, icephoneCommand, percentile, procUsage, round, sleep, type BenchRow } from './common.js';

const SCENARIO = join(ROOT, 'scenarios', 'sipp-load-uac.xml');

interface SippRun {
  rate: number;
  seconds: number;
  ok: boolean;
  successful: number;
  failed: number;
  rttMs: number[];
  answererCpuPct: number | null;
  reason?: string;
}

function sippAvailable(): boolean {
  return spawnSync('sipp', ['-v'], { stdio: 'ignore' }).error === undefined;
}

/**
 * Starts `icephone answer --listen 127.0.0.1:PORT --quiet` (plus `extra` flags; `nodeFlags` go to
 * node before the script) and waits until it
 * listens. `stop()` sends SIGTERM (SIGKILL after 3 s); `kill()` SIGKILL at once.
 */
export async function startAnswerer(port: number, extra: string[] = [], nodeFlags: string[] = []): Promise<{ pid: number; stop: () => Promise<void>; kill: () => Promise<void> }> {
  const [cmd, ...rest] = icephoneCommand();
  const args = [...nodeFlags, ...rest];
  // Hundreds of calls hold two media sockets each: raise the descriptor limit first.
  const child = spawn('bash', ['-c', `ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"`, 'icephone', cmd!, ...args, 'answer', '--listen', `127.0.0.1:${port}`, '--quiet', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    await sleep(100);
    const probe = spawnSync('bash', ['-c', `ss -uln | grep -q ':${port} '`]);
    if (probe.status === 0) break;
  }
  if (child.exitCode !== null) throw new Error(`icephone answer exited: ${stderr}`);
  return {
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 30 && child.exitCode === null; i++) await sleep(100);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    kill: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
    },
  };
}

export interface SippOptions {
  /** host:port SIPp sends its INVITEs to (the answerer, or the balancer in front of several). */
  target: string;
  scenario?: string;
  rate: number;
  calls: number;
  holdMs: number;
  sippPort: number;
  /** Overall deadline in seconds (SIPp's -timeout; the run fails when it is reached). */
  timeoutS: number;
  /** Called once SIPp has started (e.g. to kill an instance mid-run). */
  started?: () => void;
}

export interface SippCounts {
  code: number;
  successful: number;
  failed: number;
  rttMs: number[];
  /** Per-second rows of SIPp's statistics: epoch seconds and cumulative successful/failed calls. */
  timeline: Array<{ t: number; successful: number; failed: number }>;
}

/** Runs SIPp's UAC once (scenarios/sipp-load-uac.xml unless told) and reads its statistics files. */
export async function sipp(o: SippOptions): Promise<SippCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'icephone-sipp-'));
  const args = ['-sf', o.scenario ?? SCENARIO, '-r', String(o.rate), '-rp', '1000', '-m', String(o.calls), '-d', String(o.holdMs), '-l', String(Math.max(1000, o.rate * 10)),
    '-i', '127.0.0.1', '-p', String(o.sippPort), '-mi', '127.0.0.1', '-mp', String(o.sippPort + 2), '-s', 'service',
    '-trace_stat', '-fd', '1', '-trace_rtt', '-rtt_freq', '1', '-nostdin', '-timeout', `${o.timeoutS}s`, '-timeout_error',
    '-recv_timeout', '8000', o.target];
  const code = await new Promise<number>((resolve) => {
    const p = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
    p.on('exit', (c) => resolve(c ?? -1));
    o.started?.();
  });
  const files = readdirSync(dir);
  const stat = files.find((f) => f.endsWith('.csv') && !f.endsWith('_rtt.csv'));
  const rtt = files.find((f) => f.endsWith('_rtt.csv'));
  let successful = 0;
  let failed = 0;
  const timeline: SippCounts['timeline'] = [];
  if (stat) {
    const lines = readFileSync(join(dir, stat), 'utf8').trim().split('\n');
    const header = lines[0]!.split(';');
    const [iT, iS, iF] = [header.indexOf('CurrentTime'), header.indexOf('SuccessfulCall(C)'), header.indexOf('FailedCall(C)')];
    for (const line of lines.slice(1)) {
      const f = line.split(';');
      // CurrentTime is "date<TAB>time<TAB>epoch"; the epoch is the last field.
      const t = Number(f[iT]?.split('\t').pop());
      timeline.push({ t, successful: Number(f[iS] ?? 0), failed: Number(f[iF] ?? 0) });
    }
    const last = lines[lines.length - 1]!.split(';');
    successful = Number(last[iS] ?? 0);
    failed = Number(last[iF] ?? 0);
  }
  const rttMs: number[] = [];
  if (rtt) {
    for (const line of readFileSync(join(dir, rtt), 'utf8').trim().split('\n').slice(1)) {
      const v = Number(line.split(';')[1]);
      if (Number.isFinite(v)) rttMs.push(v);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return { code, successful, failed, rttMs: rttMs.sort((a, b) => a - b), timeline };
}

async function runSipp(port: number, rate: number, seconds: number, holdMs: number, sippPort: number): Promise<SippRun> {
  const calls = Math.max(1, Math.round(rate * seconds));
  const answerer = await startAnswerer(port);
  const before = procUsage(answerer.pid);
  const t0 = performance.now();
  const r = await sipp({ target: `127.0.0.1:${port}`, rate, calls, holdMs, sippPort, timeoutS: seconds + holdMs / 1000 + 40 });
  const elapsed = (performance.now() - t0) / 1000;
  const after = procUsage(answerer.pid);
  await answerer.stop();
  const cpu = before && after ? ((after.cpuSec - before.cpuSec) / elapsed) * 100 : null;
  const ok = r.code === 0 && r.failed === 0 && r.successful === calls;
  return { rate, seconds, ok, successful: r.successful, failed: r.failed, rttMs: r.rttMs, answererCpuPct: round(cpu, 0), reason: ok ? undefined : `sipp exit ${r.code}, ${r.successful}/${calls} successful, ${r.failed} failed` };
}

export async function benchSippLoad(log: (s: string) => void): Promise<BenchRow[]> {
  if (!sippAvailable()) {
    return [{ benchmark: 'sipp-load', metric: 'highest rate with zero failed calls', value: null, unit: 'calls/s', target: '>= 500 calls/s for 60 s', met: null, note: 'sipp not installed' }];
  }
  const port = 25070;
  const sippPort = 25080;
  const holdMs = TINY ? 200 : 1000;
  const probes = TINY ? [10] : [50, 100, 200, 300, 400, 500, 650];
  const probeS = TINY ? 2 : 10;
  const sustainS = TINY ? 2 : 60;
  let best: SippRun | undefined;
  let firstFail: SippRun | undefined;
  for (const rate of probes) {
    const r = await runSipp(port, rate, probeS, holdMs, sippPort);
    log(`sipp-load: probe ${rate} calls/s for ${probeS} s: ${r.ok ? 'clean' : r.reason}, answerer CPU ${r.answererCpuPct}%`);
    if (!r.ok) { firstFail = r; break; }
    best = r;
  }
  let sustained: SippRun | undefined;
  const sustainFailures: string[] = [];
  // Highest clean probe first, then every lower probe rate until one holds for the whole time.
  const candidates = best ? probes.filter((p) => p <= best!.rate).reverse() : [];
  for (const rate of candidates) {
    const r = TINY ? best! : await runSipp(port, rate, sustainS, holdMs, sippPort);
    if (!r.ok) sustainFailures.push(`${rate}/s: ${r.reason}, CPU ${r.answererCpuPct}%`);
    log(`sipp-load: sustain ${rate} calls/s for ${sustainS} s: ${r.ok ? 'clean' : r.reason}, answerer CPU ${r.answererCpuPct}%`);
    if (r.ok) { sustained = r; break; }
  }
  const rows: BenchRow[] = [{
    benchmark: 'sipp-load', metric: `highest rate sustained ${sustainS} s, zero failed calls (hold ${holdMs} ms)`, value: sustained?.rate ?? 0, unit: 'calls/s',
    target: '>= 500 calls/s for 60 s', met: TINY ? null : (sustained?.rate ?? 0) >= 500,
    note: [sustained ? `answerer CPU ${sustained.answererCpuPct}% of one core` : 'no clean rate', firstFail ? `first failing ${probeS}-s probe ${firstFail.rate}/s: ${firstFail.reason}, CPU ${firstFail.answererCpuPct}%` : '', sustainFailures.length ? `failed ${sustainS}-s runs: ${sustainFailures.join('; ')}` : ''].filter(Boolean).join('; '),
  }];
  const r = sustained?.rttMs ?? [];
  for (const p of [50, 90, 99]) {
    rows.push({ benchmark: 'sipp-load', metric: `INVITE→200 response time p${p} (SIPp RTD) at ${sustained?.rate ?? '-'} calls/s`, value: percentile(r, p), unit: 'ms' });
  }
  return rows;
}
