/**
 * Benchmark 3: concurrent calls in one icephone process. The answering side is `icephone answer`
 * (one process, the one measured); the calling side is a library Phone in this process. Calls are
 * added in steps; at each step, after the calls settle, the answerer's RSS (VmRSS) and CPU
 * (utime+stime over the window) are read from /proc, and RTP loss is measured on the calling side
 * (packets received in the window vs 50/s per call). Every call runs ICE to "connected" and RTP
 * at 50 packets/s each way. Stops at the first step that misses the bar: a call that did not
 * connect, or loss of 0.5% or more. The answerer's and the caller's CPU are reported beside it: on
 * the 2-core machines the two sides share, both reach a whole core at about the same step.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Phone, type Call } from '../../lib/sip/user-agent.js';
import { TINY, icephoneCommand, procUsage, round, sleep, type BenchRow } from './common.js';

export async function benchConcurrent(log: (s: string) => void): Promise<BenchRow[]> {
  const steps = TINY ? [3] : [100, 250, 500, 750, 1000, 1250];
  const port = 25170;
  const [cmd, ...args] = icephoneCommand();
  const child = spawn('bash', ['-c', 'ulimit -n 65536; exec "$@"', 'icephone', cmd!, ...args, 'answer', '--listen', `127.0.0.1:${port}`, '--quiet'], { stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    if (spawnSync('bash', ['-c', `ss -uln | grep -q ':${port} '`]).status === 0) break;
  }
  await sleep(500);
  const base = procUsage(child.pid!)!;
  const caller = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'tone:440' } });
  const calls: Call[] = [];
  const rows: BenchRow[] = [];
  let last: { n: number; rssPerCallKb: number; cpuPerCallPct: number; lossPct: number; cpuPct: number; callerCpuPct: number } | undefined;
  let stopReason = 'all steps passed';
  try {
    for (const n of steps) {
      while (calls.length < n) {
        const c = caller.call(`sip:bench@127.0.0.1:${port}`);
        calls.push(c);
        if (calls.length % 25 === 0) await sleep(250); // ~100 new calls/s
      }
      await sleep(TINY ? 3000 : 8000);
      const connected = calls.filter((c) => c.media?.summary().ice.state === 'connected' || c.media?.summary().ice.state === 'completed').length;
      const rx0 = calls.reduce((s, c) => s + (c.media?.summary().rtp.packetsReceived ?? 0), 0);
      const u0 = procUsage(child.pid!)!;
      const callerCpu0 = process.cpuUsage();
      const t0 = performance.now();
      await sleep(TINY ? 1000 : 5000);
      const seconds = (performance.now() - t0) / 1000;
      const u1 = procUsage(child.pid!)!;
      const callerCpu = process.cpuUsage(callerCpu0);
      const callerCpuPct = ((callerCpu.user + callerCpu.system) / 1e6 / seconds) * 100;
      const rx1 = calls.reduce((s, c) => s + (c.media?.summary().rtp.packetsReceived ?? 0), 0);
      const expected = 50 * seconds * n;
      const lossPct = Math.max(0, (1 - (rx1 - rx0) / expected) * 100);
      const cpuPct = ((u1.cpuSec - u0.cpuSec) / seconds) * 100;
      const rssPerCallKb = (u1.rssBytes - base.rssBytes) / 1024 / n;
      log(`concurrent: ${n} calls, ${connected} ICE-connected, answerer RSS ${(u1.rssBytes / 1048576).toFixed(0)} MB (${rssPerCallKb.toFixed(0)} KB/call), CPU ${cpuPct.toFixed(0)}% (caller ${callerCpuPct.toFixed(0)}%), loss ${lossPct.toFixed(2)}%`);
      const point = { n, rssPerCallKb, cpuPerCallPct: cpuPct / n, lossPct, cpuPct, callerCpuPct };
      if (connected < n || lossPct >= 0.5) {
        stopReason = `at ${n} calls: ${connected}/${n} connected, loss ${lossPct.toFixed(2)}%, answerer CPU ${cpuPct.toFixed(0)}%, caller CPU ${callerCpuPct.toFixed(0)}%`;
        if (!last) last = point;
        break;
      }
      last = point;
    }
  } finally {
    await Promise.allSettled(calls.map((c) => c.hangup()));
    await sleep(1000);
    await caller.stop().catch(() => undefined);
    child.kill('SIGTERM');
    await sleep(500);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const n = last?.n ?? 0;
  rows.push({
    benchmark: 'concurrent-calls', metric: 'calls held with ICE connected and RTP 50 pkt/s each way, loss < 0.5%', value: n, unit: 'calls',
    target: '>= 1000 calls', met: TINY ? null : n >= 1000, note: stopReason,
  });
  rows.push({ benchmark: 'concurrent-calls', metric: `answerer RSS per call at ${n} calls`, value: round(last?.rssPerCallKb ?? null, 0), unit: 'KB', target: '<= 150 KB', met: TINY ? null : last ? last.rssPerCallKb <= 150 : false });
  rows.push({ benchmark: 'concurrent-calls', metric: `answerer CPU per call at ${n} calls`, value: round(last?.cpuPerCallPct ?? null, 3), unit: '% of a core', note: last ? `total ${last.cpuPct.toFixed(0)}%, the calling side ${last.callerCpuPct.toFixed(0)}%, loss ${last.lossPct.toFixed(2)}%` : undefined });
  return rows;
}
