/**
 * Issue 15's rows: call setup time with trickle ICE off, half and full, in the same run, with a TURN
 * list whose first server never answers (a UDP socket of ours that swallows everything; the
 * per-server timeout `--turn-timeout 3`) before a live coturn, and with coturn alone (healthy).
 * Two icephone CLI processes on 127.0.0.1 (both with the same --trickle); the figure is the
 * caller's `call.firstMediaMs`: from the call's start (before gathering and the INVITE) to the first
 * RTP packet from the callee, which the callee sends only once it has a valid pair (so media is
 * two-way by then, give or take one packet interval). Median of the calls of each cell. Needs coturn
 * (Debian's turnserver); without it the rows say so.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { haveCoturn, startCoturn } from '../../test/helpers/coturn.js';
import { freePortPair, freeUdpPort } from '../../test/helpers/ports.js';
import { ROOT, TINY, icephoneCommand, median, round, type BenchRow } from './common.js';

const DEAD_TIMEOUT_S = 3;

function runCli(args: string[]): { done: Promise<{ code: number; out: string; err: string }>; kill(): void; waitFor(re: RegExp, ms: number): Promise<void> } {
  const [cmd, ...pre] = icephoneCommand();
  const child = spawn(cmd!, [...pre, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...waiters]) if (w.re.test(err)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  const done = new Promise<{ code: number; out: string; err: string }>((r) => child.on('exit', (c) => r({ code: c ?? -1, out, err })));
  return {
    done,
    kill: () => { if (child.exitCode === null) child.kill('SIGKILL'); },
    waitFor: (re, ms) => new Promise<void>((resolve, reject) => {
      if (re.test(err)) return resolve();
      const t = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms: ${err.slice(-500)}`)), ms);
      waiters.push({ re, resolve: () => { clearTimeout(t); resolve(); } });
    }),
  };
}

async function oneCall(trickle: string, turn: string[]): Promise<number | null> {
  const port = await freePortPair();
  const callee = runCli(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--json', '--trickle', trickle, ...turn]);
  try {
    await callee.waitFor(/sip: listening/, 15000);
    const caller = runCli(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '1', '--play', 'tone:440', '--json', '--trickle', trickle, ...turn]);
    const timer = setTimeout(() => { caller.kill(); callee.kill(); }, 40000);
    const [c] = await Promise.all([caller.done, callee.done]);
    clearTimeout(timer);
    const summary = JSON.parse(c.out.trim().split('\n')[0] ?? 'null');
    return typeof summary?.call?.firstMediaMs === 'number' ? summary.call.firstMediaMs : null;
  } finally {
    callee.kill();
  }
}

export async function benchTrickleSetup(log: (s: string) => void): Promise<BenchRow[]> {
  const metric = (scenario: string, mode: string) => `call start to first RTP from the callee, trickle ${mode}, ${scenario}`;
  const cells: Array<[string, string]> = TINY
    ? [['dead first TURN server', 'off'], ['dead first TURN server', 'full']]
    : ['healthy TURN', 'dead first TURN server'].flatMap((s) => ['off', 'half', 'full'].map((m) => [s, m] as [string, string]));
  if (!haveCoturn()) return cells.map(([s, m]) => ({ benchmark: 'trickle-setup', metric: metric(s, m), value: null, unit: 'ms', note: 'coturn not installed' }));
  const calls = TINY ? 1 : 5;
  const coturn = await startCoturn({ users: [{ name: 'alice', password: 'wonderland-42' }] });
  const deadPort = await freeUdpPort();
  const blackHole = createSocket('udp4');
  blackHole.on('message', () => undefined);
  await new Promise<void>((r) => blackHole.bind(deadPort, '127.0.0.1', r));
  const rows: BenchRow[] = [];
  try {
    const byCell = new Map<string, number | null>();
    for (const [scenario, mode] of cells) {
      const servers = scenario === 'healthy TURN' ? [`turn:127.0.0.1:${coturn.port}`] : [`turn:127.0.0.1:${deadPort}`, `turn:127.0.0.1:${coturn.port}`];
      const turn = [...servers.flatMap((s) => ['--turn', s]), '--turn-user', 'alice', '--turn-pass', 'wonderland-42', '--turn-timeout', String(DEAD_TIMEOUT_S)];
      const samples: number[] = [];
      for (let i = 0; i < calls; i++) {
        const ms = await oneCall(mode, turn);
        if (ms !== null) samples.push(ms);
      }
      const value = round(median(samples), 0);
      byCell.set(`${scenario}|${mode}`, value);
      log(`trickle-setup: ${scenario}, trickle ${mode}: ${JSON.stringify(samples)}`);
      const off = byCell.get(`${scenario}|off`) ?? null;
      rows.push({
        benchmark: 'trickle-setup', metric: metric(scenario, mode), value, unit: 'ms',
        note: `median of ${samples.length}/${calls} calls${scenario !== 'healthy TURN' ? `; first server's timeout ${DEAD_TIMEOUT_S * 1000} ms` : ''}`,
        ...(mode !== 'off' ? { baseline: { name: `trickle off, ${scenario}`, value: off, ratio: off && value !== null ? Math.round((value / off) * 100) / 100 : null } } : {}),
      });
    }
  } finally {
    await new Promise<void>((r) => blackHole.close(() => r()));
    await coturn.stop();
  }
  return rows;
}

if (process.argv[1] && /trickle-setup\.(ts|js)$/.test(process.argv[1])) {
  const rows = await benchTrickleSetup((s) => process.stderr.write(`${s}\n`));
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  process.exit(0);
}
