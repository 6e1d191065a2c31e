/**
 * Issue 14, scale-out behind kamailio: the documented deployment (scripts/deploy/
 * kamailio-dispatcher.cfg, run as it is) puts kamailio's dispatcher in front of two
 * `icephone answer --drain` instances, each on its own SIP port and media port range, and SIPp
 * places calls through it (scenarios/sipp-dispatch-uac.xml), echoing the instances' RTP back
 * (-rtp_echo), so every call that connects has two-way media.
 *  - An instance killed mid-run: the calls it had in progress may fail, no others; the calls
 *    placed afterwards all succeed, on the other instance.
 *  - An instance SIGTERM'd mid-run drains: its calls in progress end normally (their summaries are
 *    printed, it exits 0), new calls go to the other one, and no call fails.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which, type ManagedProcess } from '../helpers/process.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONFIG = join(root, 'scripts', 'deploy', 'kamailio-dispatcher.cfg');
const SCENARIO = join(root, 'scenarios', 'sipp-dispatch-uac.xml');
const PROBE_INTERVAL_S = 1;

function requirePeers(ctx: Mocha.Context): void {
  const missing = ['kamailio', 'sipp'].filter((c) => !which(c));
  if (!missing.length) return;
  if (isRoot()) throw new Error(`${missing.join(', ')} missing although running as root: run scripts/install-deps.sh`);
  process.stderr.write(`skipped: ${missing.join(', ')} not installed (scripts/install-deps.sh as root installs them)\n`);
  ctx.skip();
}

interface Instance {
  port: number;
  run: IcephoneRun;
  /** Calls it took so far ("sip: incoming call" lines). */
  taken(): number;
  /** Calls it reported (one --json summary per ended call). */
  reported(): number;
}

async function startInstance(rtpBase: number): Promise<Instance> {
  const port = await freePortPair();
  const run = runIcephone([
    'answer', '--listen', `127.0.0.1:${port}`, '--drain', '--rtp-ports', `${rtpBase}-${rtpBase + 199}`, '--play', 'tone:440', '--json',
  ]);
  await run.waitForStderr(/sip: listening/, 15000);
  return {
    port, run,
    taken: () => (run.stderr().match(/sip: incoming call/g) ?? []).length,
    reported: () => run.summaries().length,
  };
}

async function startDispatcher(dir: string, instances: Instance[]): Promise<{ port: number; proc: ManagedProcess }> {
  const port = await freeUdpPort();
  const list = join(dir, 'dispatcher.list');
  writeFileSync(list, instances.map((i) => `1 sip:127.0.0.1:${i.port} 0 0\n`).join(''));
  const proc = spawnProcess('kamailio', [
    '-f', CONFIG, '-DD', '-E', '-m', '32', '-M', '8', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir,
    '-A', `LISTEN=udp:127.0.0.1:${port}`, '-A', `DISPATCHER_LIST="${list}"`, '-A', `PROBE_INTERVAL=${PROBE_INTERVAL_S}`, '-A', 'FR_TIMER=2000',
  ], { name: 'kamailio-dispatcher', log: join(dir, 'kamailio.log'), processGroup: true });
  await proc.waitForOutput(/SO_RCVBUF is finally/, 10_000);
  return { port, proc };
}

interface SippResult { code: number; successful: number; failed: number; log: string }

/** Starts SIPp's UAC through the balancer; resolves when it is done, with its final counts. */
function sippCalls(dir: string, balancerPort: number, mediaPort: number, calls: number, ratePerS: number, holdMs: number): { proc: ManagedProcess; done: Promise<SippResult> } {
  const sub = mkdtempSync(join(dir, 'sipp-'));
  const proc = spawnProcess('sipp', [
    '-sf', SCENARIO, '-r', String(ratePerS), '-m', String(calls), '-d', String(holdMs), '-l', '100', '-s', 'service',
    '-i', '127.0.0.1', '-p', '0', '-mi', '127.0.0.1', '-mp', String(mediaPort), '-rtp_echo', '-trace_stat', '-fd', '1', '-trace_err', '-nostdin',
    '-recv_timeout', '10000', '-timeout', '90s', '-timeout_error', `127.0.0.1:${balancerPort}`,
  ], { name: 'sipp-uac', cwd: sub });
  const done = proc.waitForExit(100_000).then((code) => {
    const files = readdirSync(sub);
    const stat = files.find((f) => f.endsWith('.csv'));
    let successful = 0;
    let failed = 0;
    if (stat) {
      const lines = readFileSync(join(sub, stat), 'utf8').trim().split('\n');
      const header = lines[0]!.split(';');
      const last = lines[lines.length - 1]!.split(';');
      successful = Number(last[header.indexOf('SuccessfulCall(C)')] ?? 0);
      failed = Number(last[header.indexOf('FailedCall(C)')] ?? 0);
    }
    const err = files.find((f) => f.endsWith('_errors.log'));
    return { code, successful, failed, log: err ? readFileSync(join(sub, err), 'utf8').slice(-3000) : '' };
  });
  return { proc, done };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('e2e: two icephone instances behind kamailio dispatcher (issue 14)', function () {
  this.timeout(120000);
  let dir: string;
  let instances: Instance[] = [];
  let balancer: { port: number; proc: ManagedProcess } | undefined;

  before(function () {
    requirePeers(this);
  });
  beforeEach(async () => {
    dir = testTempDir('icephone-dispatcher-');
    const rtp = await freeUdpPort();
    const base = Math.min(rtp, 65535 - 400);
    instances = [await startInstance(base), await startInstance(base + 200)];
    balancer = await startDispatcher(dir, instances);
  });
  afterEach(async () => {
    for (const i of instances) i.run.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.run.exited));
    await balancer?.proc.stop();
    if (!process.env['ICEPHONE_KEEP_LOGS']) rmSync(dir, { recursive: true, force: true });
  });

  it('a killed instance fails only the calls it had in progress; later calls all succeed on the other', async () => {
    const [a, b] = instances as [Instance, Instance];
    const first = sippCalls(dir, balancer!.port, await freePortPair(), 30, 10, 1000);
    // Both take calls (round robin), then `a` dies with calls in progress.
    await until(() => a.taken() >= 5 && b.taken() >= 5, 30000, 'calls on both instances');
    // INVITEs the balancer sends to `a` from its death on, until the probe takes it out of the set.
    let routedToDead = 0;
    const stopCounting = balancer!.proc.onLine((line) => {
      if (new RegExp(`dispatching INVITE \\S+ to sip:127\\.0\\.0\\.1:${a.port}\\b`).test(line)) routedToDead++;
    });
    a.run.kill('SIGKILL');
    await a.run.exited;
    // Every line it wrote before dying is read (the pipes close after the process exits).
    await until(() => Boolean(a.run.child.stdout?.closed && a.run.child.stderr?.closed), 5000, 'the killed instance\'s output');
    const inProgress = a.taken() - a.reported();
    const takenByBAtKill = b.taken();
    const r1 = await first.done;
    stopCounting();
    process.stderr.write(`dispatcher: first run ${r1.successful} ok, ${r1.failed} failed; killed instance had ${inProgress} in progress, ${routedToDead} INVITEs routed to it after its death\n`);
    expect(r1.successful + r1.failed, r1.log).to.equal(30);
    // Issue 14: no more failures than the calls it had in progress plus those routed to it before
    // the balancer noticed (those fail over to the other instance after FR_TIMER, so usually succeed).
    expect(r1.failed, `failed calls vs the killed instance's ${inProgress} in progress + ${routedToDead} routed to it\n${r1.log}`).to.be.at.most(inProgress + routedToDead);
    // Later calls: all succeed, all on the survivor.
    const second = sippCalls(dir, balancer!.port, await freePortPair(), 20, 10, 500);
    const r2 = await second.done;
    expect(r2.code, r2.log).to.equal(0);
    expect(r2.successful, r2.log).to.equal(20);
    expect(r2.failed).to.equal(0);
    expect(b.taken() - takenByBAtKill).to.be.at.least(20);
    await until(() => b.reported() === b.taken(), 10000, 'the survivor to report every call');
  });

  it('a SIGTERM\'d instance drains: its calls in progress end normally, new calls go to the other, none fails', async () => {
    const [a, b] = instances as [Instance, Instance];
    const run = sippCalls(dir, balancer!.port, await freePortPair(), 40, 10, 2000);
    await until(() => a.taken() >= 4 && b.taken() >= 4, 30000, 'calls on both instances');
    a.run.kill('SIGTERM');
    await a.run.waitForStderr(/SIGTERM: draining/, 5000);
    const takenAtTerm = a.taken(); // an INVITE may have arrived between the last look and the signal
    const code = await exitWithin(a.run, 30000);
    const r = await run.done;
    process.stderr.write(`dispatcher: drain run ${r.successful} ok, ${r.failed} failed; drained instance took ${a.taken()} (at SIGTERM ${takenAtTerm}), the other ${b.taken()}\n`);
    expect(code, a.run.stderr().slice(-2000)).to.equal(0);
    expect(a.run.stderr()).to.match(/drained: no call in progress/);
    // The drained instance took no call after SIGTERM, and reported every call it took.
    const afterTerm = a.run.stderr().slice(a.run.stderr().indexOf('SIGTERM: draining'));
    expect(afterTerm, 'no call taken while draining').to.not.match(/sip: incoming call/);
    expect(a.taken()).to.equal(takenAtTerm);
    expect(a.reported()).to.equal(takenAtTerm);
    for (const s of a.run.summaries()) expect(s.call.state).to.equal('ended');
    expect(r.code, r.log).to.equal(0);
    expect(r.successful, r.log).to.equal(40);
    expect(r.failed).to.equal(0);
    expect(a.taken() + b.taken()).to.equal(40);
  });
});

describe('e2e: the balancer UAC scenario and a provisional response after the final (issue 14)', function () {
  this.timeout(60000);

  before(function () {
    requirePeers(this);
  });

  it('ignores a 180 that reaches it after the 200, as kamailio delivers 1 call in 1,000 (RFC 3261 §17.1.1.2)', async () => {
    // The lost calls of the scale-out benchmark: SIPp aborted the call on a 180 that kamailio's
    // other worker relayed after the 200. The UAS here sends every call's 180 after its 200.
    const dir = testTempDir('icephone-late-180-');
    const uasPort = await freeUdpPort();
    const uas = spawnProcess('sipp', [
      '-sf', join(root, 'scenarios', 'sipp-late-provisional-uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort),
      '-mp', String(await freeUdpPort()), '-m', '5', '-nostdin', '-timeout', '40s',
    ], { name: 'sipp-late-180-uas', cwd: dir });
    try {
      await until(() => spawnSync('ss', ['-Huln', `sport = :${uasPort}`], { encoding: 'utf8' }).stdout.trim() !== '', 10000, 'the SIPp UAS to bind');
      const { done } = sippCalls(dir, uasPort, await freeUdpPort(), 5, 10, 200);
      const r = await done;
      expect(r.failed, r.log).to.equal(0);
      expect(r.successful, r.log).to.equal(5);
      expect(r.code, r.log).to.equal(0);
    } finally {
      await uas.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
