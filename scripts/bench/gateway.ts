/**
 * Benchmark: concurrent bridged calls through one `icephone gateway` process (issue 12). The
 * endpoint side is a library Phone in this process calling `sip:bench@GATEWAY` with ICE; the PBX
 * side is another library Phone here, answering plain RTP/AVP (no ICE, as a PBX phone does). Both
 * play a tone, so RTP runs at 50 packets/s each way on both legs: the gateway receives and sends
 * 200 packets/s per bridged call. Once the calls settle, the gateway's CPU (utime+stime over the
 * window) and RSS (VmRSS after a full garbage collection, minus the same before the calls; the
 * process runs with `--expose-gc` and the bench-only preload gc-on-signal.mjs) are read from /proc, and loss is measured at both
 * ends (packets received in the window vs 50/s per call).
 *
 * Same-run baseline: the same number of direct calls to one `icephone answer` process (one leg per
 * call), measured the same way just before; the ratio is the gateway's CPU per bridged call over the
 * answerer's CPU per call. The answerer generates and encodes its tone and decodes what it gets
 * (one leg of audio work); the gateway relays without decoding (two legs of packet work): the
 * ratio says which costs more. One run here (2 cores, sources under tsx, 100 calls): answerer 0.31%
 * of a core and 273 KB per call, gateway 0.24% and 382 KB per bridged call (ratio 0.77 and 1.4).
 *
 * Size: BENCH_GATEWAY_CALLS (default 100; BENCH_TINY=1: 3).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Phone, type Call } from '../../lib/sip/user-agent.js';
import { ROOT, TINY, icephoneCommand, procUsage, ratio, round, sleep, type BenchRow } from './common.js';

const CALLS = TINY ? 3 : Number(process.env.BENCH_GATEWAY_CALLS ?? 100);
const SETTLE_MS = TINY ? 3000 : 8000;
const WINDOW_MS = TINY ? 1000 : 5000;

interface Measured {
  connected: number;
  cpuPerCallPct: number;
  cpuPct: number;
  rssPerCallKb: number;
  /** Loss at the calling end, and at the PBX end (gateway only), %. */
  lossPct: number;
  pbxLossPct?: number;
}

async function startCli(argv: string[], port: number): Promise<ChildProcess> {
  const [cmd, ...args] = icephoneCommand();
  args.unshift('--expose-gc', '--import', pathToFileURL(join(ROOT, 'scripts', 'bench', 'gc-on-signal.mjs')).href);
  const child = spawn('bash', ['-c', 'ulimit -n 65536; exec "$@"', 'icephone', cmd!, ...args, ...argv], { stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; i < 150; i++) {
    await sleep(100);
    if (spawnSync('bash', ['-c', `ss -uln | grep -q '127.0.0.1:${port} '`]).status === 0) break;
  }
  await sleep(500);
  return child;
}

async function stopCli(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** RSS after full collections (SIGWINCH: gc-on-signal.mjs), bytes. */
async function rssAfterGc(pid: number): Promise<number> {
  for (let i = 0; i < 2; i++) {
    try { process.kill(pid, 'SIGWINCH'); } catch { return 0; }
    await sleep(1000);
  }
  return procUsage(pid)?.rssBytes ?? 0;
}

const received = (calls: Call[]) => calls.reduce((s, c) => s + (c.media?.summary().rtp.packetsReceived ?? 0), 0);

/** Places CALLS calls from `caller` to `target`, measures `pid` over a window, hangs up. */
async function measure(pid: number, caller: Phone, target: string, pbxCalls?: Call[]): Promise<Measured> {
  const baseRss = await rssAfterGc(pid);
  const calls: Call[] = [];
  try {
    while (calls.length < CALLS) {
      calls.push(caller.call(target));
      if (calls.length % 25 === 0) await sleep(250);
    }
    await sleep(SETTLE_MS);
    const connected = calls.filter((c) => ['connected', 'completed'].includes(c.media?.summary().ice.state ?? '')).length;
    const rx0 = received(calls);
    const pbx0 = pbxCalls ? received(pbxCalls) : 0;
    const u0 = procUsage(pid)!;
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const seconds = (performance.now() - t0) / 1000;
    const u1 = procUsage(pid)!;
    const expected = 50 * seconds * CALLS;
    const rx1 = received(calls);
    const pbx1 = pbxCalls ? received(pbxCalls) : 0;
    const loadedRss = await rssAfterGc(pid);
    const cpuPct = ((u1.cpuSec - u0.cpuSec) / seconds) * 100;
    return {
      connected, cpuPct, cpuPerCallPct: cpuPct / CALLS, rssPerCallKb: (loadedRss - baseRss) / 1024 / CALLS,
      lossPct: Math.max(0, (1 - (rx1 - rx0) / expected) * 100),
      ...(pbxCalls ? { pbxLossPct: Math.max(0, (1 - (pbx1 - pbx0) / expected) * 100) } : {}),
    };
  } finally {
    await Promise.allSettled(calls.map((c) => c.hangup()));
    await sleep(1000);
  }
}

export async function benchGateway(log: (s: string) => void): Promise<BenchRow[]> {
  const answerPort = 25270;
  const gatewayPort = 25272;
  const media = { addresses: ['127.0.0.1'], includeLoopback: true };
  const caller = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { ...media, play: 'tone:440' } });
  // The PBX phones: plain RTP/AVP, answering every call.
  const pbx = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { ...media, sdpFormat: 'none', consent: false, play: 'tone:660' } });
  const pbxCalls: Call[] = [];
  pbx.on('incoming', (c) => {
    pbxCalls.push(c);
    void pbx.answer(c).catch(() => undefined);
  });
  let direct: Measured;
  let bridged: Measured;
  try {
    const answer = await startCli(['answer', '--listen', `127.0.0.1:${answerPort}`, '--quiet'], answerPort);
    try {
      direct = await measure(answer.pid!, caller, `sip:bench@127.0.0.1:${answerPort}`);
    } finally {
      await stopCli(answer);
    }
    log(`gateway: baseline ${CALLS} direct calls to icephone answer: ${direct.connected} connected, CPU ${direct.cpuPct.toFixed(0)}%, RSS ${direct.rssPerCallKb.toFixed(0)} KB/call, loss ${direct.lossPct.toFixed(2)}%`);
    const gateway = await startCli(['gateway', '--listen', `127.0.0.1:${gatewayPort}`, '--pbx-address', '127.0.0.3', '--pbx', `sip:127.0.0.1:${pbx.port}`], gatewayPort);
    try {
      bridged = await measure(gateway.pid!, caller, `sip:bench@127.0.0.1:${gatewayPort}`, pbxCalls);
    } finally {
      await stopCli(gateway);
    }
    log(`gateway: ${CALLS} bridged calls: ${bridged.connected} connected, gateway CPU ${bridged.cpuPct.toFixed(0)}%, RSS ${bridged.rssPerCallKb.toFixed(0)} KB/call, loss ${bridged.lossPct.toFixed(2)}% at the endpoint, ${bridged.pbxLossPct!.toFixed(2)}% at the PBX`);
  } finally {
    await Promise.allSettled([caller.stop(), pbx.stop()]);
  }
  const note = `${bridged.connected}/${CALLS} ICE-connected; loss ${bridged.lossPct.toFixed(2)}% at the endpoint, ${bridged.pbxLossPct!.toFixed(2)}% at the PBX; gateway total CPU ${bridged.cpuPct.toFixed(0)}%`;
  return [
    {
      benchmark: 'gateway-bridge', metric: `gateway CPU per bridged call at ${CALLS} calls (RTP 50 pkt/s each way on both legs)`, value: round(bridged.cpuPerCallPct, 3), unit: '% of a core',
      baseline: { name: `icephone answer per direct call, ${CALLS} calls (same run)`, value: round(direct.cpuPerCallPct, 3), ratio: ratio(bridged.cpuPerCallPct, direct.cpuPerCallPct) },
      note,
    },
    {
      benchmark: 'gateway-bridge', metric: `gateway RSS per bridged call at ${CALLS} calls`, value: round(bridged.rssPerCallKb, 0), unit: 'KB',
      baseline: { name: 'icephone answer per direct call (same run)', value: round(direct.rssPerCallKb, 0), ratio: ratio(bridged.rssPerCallKb, direct.rssPerCallKb) },
    },
  ];
}

if (process.argv[1] && /gateway\.(ts|js)$/.test(process.argv[1])) {
  const rows = await benchGateway((s) => process.stderr.write(`${s}\n`));
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  process.exit(0);
}
