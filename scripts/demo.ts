/**
 * `make demo`: two icephone processes on loopback, one answering and one calling. ICE connects,
 * 3 s of tone each way (440 Hz from the caller, 660 Hz from the callee), both print their
 * summaries; exits 0 only if both processes report two-way media.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'lib', 'cli', 'main.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

interface Run { code: number; stdout: string }

function run(name: string, args: string[]): { done: Promise<Run> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let partial = '';
  child.stderr.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) process.stderr.write(`[${name}] ${l}\n`);
  });
  return { done: new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? 1, stdout }))) };
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'icephone-demo-'));
  const port = await freePort();
  const answer = run('answer', ['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'answer-heard.wav'), '--json']);
  await new Promise((r) => setTimeout(r, 500));
  const call = run('call', ['call', `sip:demo@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '3', '--play', 'tone:440', '--record', join(dir, 'call-heard.wav'), '--json']);
  const [c, a] = await Promise.all([call.done, answer.done]);
  for (const [name, r] of [['caller', c], ['callee', a]] as const) {
    let line = '(no summary)';
    try {
      const s = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
      const p = s.ice.selectedPair;
      line = `ICE ${s.ice.state}, selected ${p ? `${p.local.type} ${p.local.address}:${p.local.port} -> ${p.remote.type} ${p.remote.address}:${p.remote.port}` : 'none'}, RTP sent ${s.rtp.packetsSent} / received ${s.rtp.packetsReceived}`;
    } catch {
      /* summary missing: reported below by exit status */
    }
    process.stdout.write(`${name}: exit ${r.code}; ${line}\n`);
  }
  process.stdout.write(`recordings in ${dir}\n`);
  const ok = c.code === 0 && a.code === 0;
  process.stdout.write(ok ? 'demo: OK, two-way media over ICE\n' : 'demo: FAILED\n');
  return ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => { process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); });
