/**
 * Connectivity preconditions against other SIP implementations:
 *  - SIPp drives the SIP side of Figure 2 (scenarios/sipp-precondition-uac.xml and -uas.xml): the
 *    precondition INVITE, the reliable 183 and its PRACK, the UPDATE, the reliable 180. SIPp does not
 *    do ICE; it echoes RTP (`-rtp_echo`), and icephone takes its own RTP coming back from the peer's
 *    m/c address as the connectivity check for a non-ICE peer.
 *  - Peers without precondition support (RFC 3312 §11): SIPp's plain UAS and baresip get a normal
 *    call with `optional`, and a clear failure (their 420, or our CANCEL/BYE) with `mandatory`.
 */
import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { FIGURE_2_AT_A, FIGURE_2_AT_B, parseTrace, sequence } from './preconditions-trace.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const scenario = (name: string) => join(root, 'scenarios', name);

function requireSipp(ctx: Mocha.Context): void {
  if (which('sipp')) return;
  if (isRoot()) throw new Error('sipp missing although running as root: run scripts/install-deps.sh');
  process.stderr.write('skipped: sipp is not installed (scripts/install-deps.sh as root installs it)\n');
  ctx.skip();
}

async function sippUas(file: string, dir: string) {
  const sipPort = await freePortPair();
  const mediaPort = await freePortPair();
  const sipp = spawnProcess('sipp', [
    '-sf', scenario(file), '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
    '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
  ], { name: 'sipp-uas', cwd: dir });
  await new Promise((r) => setTimeout(r, 500));
  return { sipp, sipPort };
}

describe('e2e: connectivity preconditions with SIPp', function () {
  this.timeout(60000);
  before(function () {
    requireSipp(this);
  });

  it('SIPp (precondition UAC) calls icephone --preconditions mandatory: Figure 2 from B\'s side, alerting only after connectivity', async () => {
    const dir = testTempDir('icephone-sipp-pre-');
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--preconditions', 'mandatory', '--json', '--trace']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const sipp = spawnProcess('sipp', [
      `127.0.0.1:${port}`, '-sf', scenario('sipp-precondition-uac.xml'), '-s', 'bob', '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-m', '1',
      '-rtp_echo', '-mp', String(await freePortPair()), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
    ], { name: 'sipp-uac', cwd: dir });
    try {
      const code = await exitWithin(callee, 40000);
      expect(await sipp.waitForExit(15000), sipp.tail(3000)).to.equal(0);
      expect(code, callee.stderr().slice(-4000)).to.equal(0);
      const atB = parseTrace(callee.stderr());
      // SIPp does not confirm (no ICE of its own): icephone, the answerer, sends the UPDATE.
      const expected = FIGURE_2_AT_B.map((s) => (s.endsWith(' UPDATE') ? (s.startsWith('recv') ? 'send UPDATE' : 'recv 200 UPDATE') : s));
      expect(sequence(atB).slice(0, expected.length)).to.deep.equal(expected);
      const update = atB.find((m) => m.dir === 'send' && m.label === 'UPDATE')!;
      expect(update.preconditions()).to.deep.equal(['curr:conn e2e sendrecv', 'des:conn mandatory e2e sendrecv']);
      const [s] = callee.summaries();
      expect(s.call.preconditions).to.equal('met');
      expect(s.call.alertedAfterConnected).to.equal(true);
      expect(s.ice.format).to.equal('none');
    } finally {
      await sipp.stop();
    }
  });

  it('icephone --preconditions mandatory calls SIPp (precondition UAS): exactly Figure 2 from A\'s side', async () => {
    const dir = testTempDir('icephone-sipp-pre-');
    const { sipp, sipPort } = await sippUas('sipp-precondition-uas.xml', dir);
    try {
      const caller = runIcephone(['call', `sip:sipp@127.0.0.1:${sipPort}`, '--listen', '127.0.0.1:0', '--preconditions', 'mandatory', '--duration', '2', '--json', '--trace']);
      const code = await exitWithin(caller, 40000);
      expect(code, caller.stderr().slice(-4000)).to.equal(0);
      expect(await sipp.waitForExit(15000), sipp.tail(3000)).to.equal(0);
      const atA = parseTrace(caller.stderr());
      expect(sequence(atA).slice(0, FIGURE_2_AT_A.length)).to.deep.equal(FIGURE_2_AT_A);
      expect(atA.find((m) => m.dir === 'send' && m.label === 'UPDATE')!.preconditions()).to.deep.equal(['curr:conn e2e sendrecv', 'des:conn mandatory e2e sendrecv']);
      const [s] = caller.summaries();
      expect(s.call.preconditions).to.equal('met');
      expect(s.rtp.packetsReceived, 'echoed RTP').to.be.greaterThan(50);
    } finally {
      await sipp.stop();
    }
  });

  it('icephone --preconditions optional calls SIPp\'s plain UAS (no precondition support): a normal call', async () => {
    const dir = testTempDir('icephone-sipp-pre-');
    const { sipp, sipPort } = await sippUas('sipp-plain-uas.xml', dir);
    try {
      const caller = runIcephone(['call', `sip:sipp@127.0.0.1:${sipPort}`, '--listen', '127.0.0.1:0', '--preconditions', 'optional', '--duration', '2', '--json', '--trace']);
      const code = await exitWithin(caller, 40000);
      expect(code, caller.stderr().slice(-4000)).to.equal(0);
      expect(await sipp.waitForExit(15000), sipp.tail(3000)).to.equal(0);
      const [s] = caller.summaries();
      expect(s.call.state).to.equal('ended');
      expect(s.call.preconditions).to.equal('not-used');
      expect(s.rtp.packetsReceived).to.be.greaterThan(50);
    } finally {
      await sipp.stop();
    }
  });

  it('icephone --preconditions mandatory calls SIPp\'s plain UAS, which ignores Require: a clear failure, no call left up', async () => {
    const dir = testTempDir('icephone-sipp-pre-');
    const { sipp, sipPort } = await sippUas('sipp-plain-uas.xml', dir);
    try {
      const caller = runIcephone(['call', `sip:sipp@127.0.0.1:${sipPort}`, '--listen', '127.0.0.1:0', '--preconditions', 'mandatory', '--duration', '2', '--json', '--trace']);
      const code = await exitWithin(caller, 40000);
      expect(code).to.equal(1);
      expect(caller.stderr()).to.match(/icephone: call failed: peer (does not support|ignored mandatory) preconditions/);
      const seq = sequence(parseTrace(caller.stderr()));
      // It answered anyway (180, 200): we end what it set up (CANCEL crossing the 200, then BYE).
      expect(seq).to.include('recv 200 INVITE');
      expect(seq).to.include('send BYE');
      const [s] = caller.summaries();
      expect(s.call.preconditions).to.equal('failed');
      expect(s.call.alertedAfterConnected).to.equal(false);
    } finally {
      await sipp.stop();
    }
  });
});

const ICEPHONE_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';

describe('e2e: connectivity preconditions with baresip (no precondition support)', function () {
  this.timeout(60000);
  let lab: NetnsLab | undefined;
  let nsIcephone = '';
  let nsBaresip = '';
  let peer: BaresipInstance | undefined;

  before(function () {
    if (!isRoot() || !netnsSupport().ok) {
      process.stderr.write('skipped: baresip interop needs root for network namespaces\n');
      this.skip();
    }
    if (!baresipAvailable() || missingBaresipModules().length) throw new Error('baresip or its modules missing: run scripts/install-deps.sh as root');
    lab = new NetnsLab();
    nsIcephone = lab.createNamespace('ice');
    nsBaresip = lab.createNamespace('bsp');
    lab.connect(nsIcephone, `${ICEPHONE_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
  });
  afterEach(async () => {
    await peer?.stop();
    peer = undefined;
  });
  after(() => lab?.destroy());

  it('optional: icephone calls baresip, a normal ICE call with two-way media', async () => {
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const call = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--preconditions', 'optional', '--duration', '3', '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    const code = await exitWithin(call, 40000);
    expect(code, call.stderr().slice(-4000)).to.equal(0);
    const [s] = call.summaries();
    expect(s.call.state).to.equal('ended');
    expect(s.call.preconditions).to.equal('not-used');
    expect(['connected', 'completed']).to.include(s.ice.state);
    expect(s.rtp.packetsReceived).to.be.greaterThan(50);
  });

  it('optional: baresip calls icephone, a normal call', async () => {
    const answer = runIcephone(
      ['answer', '--listen', `${ICEPHONE_IP}:5070`, '--max-calls', '1', '--duration', '3', '--preconditions', 'optional', '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await answer.waitForStderr(/sip: listening/, 15000);
    peer = await startBaresip({ listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, dial: `sip:bob@${ICEPHONE_IP}:5070` });
    const code = await exitWithin(answer, 40000);
    expect(code, answer.stderr().slice(-4000)).to.equal(0);
    const [s] = answer.summaries();
    expect(s.call.preconditions).to.equal('not-used');
    expect(s.rtp.packetsReceived).to.be.greaterThan(50);
  });

  it('mandatory: icephone calls baresip, which cannot honour Require: precondition: 420 or a clear failure', async () => {
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const call = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--preconditions', 'mandatory', '--duration', '3', '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    const code = await exitWithin(call, 40000);
    expect(code).to.equal(1);
    const trace = parseTrace(call.stderr());
    const rejected = trace.find((m) => m.dir === 'recv' && m.label === '420 INVITE');
    if (rejected) expect(rejected.header('Unsupported')).to.match(/precondition/);
    else expect(call.stderr()).to.match(/icephone: call failed: peer (does not support|ignored mandatory) preconditions/);
    console.log(`      baresip answered: ${sequence(trace).filter((x) => x.startsWith('recv')).join(', ')}`);
    const [s] = call.summaries();
    expect(s.call.preconditions).to.equal('failed');
  });
});
