/**
 * Relayed reach against Debian's coturn, started by the test on loopback: calls between two
 * icephone processes through relayed candidates (static user, ephemeral credentials, TCP through
 * an HTTP CONNECT proxy), server-list failover, and the bad inputs that must give a one-line
 * error naming the server without ever printing a password or secret.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveCoturn, haveTinyproxy, startCoturn, startTinyproxy, type Coturn } from '../helpers/coturn.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const SECRET = 'shared-Secret-9f3k';

function requireCoturn(ctx: Mocha.Context): void {
  if (haveCoturn()) return;
  if (isRoot()) throw new Error('turnserver (coturn) missing although running as root: run scripts/install-deps.sh');
  process.stderr.write('skipped: coturn is not installed (scripts/install-deps.sh as root installs it)\n');
  ctx.skip();
}

interface CallPair { caller: IcephoneRun; callee: IcephoneRun; dir: string }

async function relayCall(callerArgs: string[], calleeArgs: string[], seconds = 2): Promise<CallPair> {
  const dir = testTempDir('icephone-turn-');
  const port = await freePortPair();
  const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', ...calleeArgs]);
  await callee.waitForStderr(/sip: listening/, 15000);
  const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', String(seconds), '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', ...callerArgs]);
  await Promise.all([exitWithin(caller, 40000), exitWithin(callee, 40000)]);
  return { caller, callee, dir };
}

function expectRelayPair(run: IcephoneRun, relayPortRange?: [number, number]): any {
  const code = run.child.exitCode;
  expect(code, run.stderr().slice(-3000)).to.equal(0);
  const [s] = run.summaries();
  expect(s.ice.selectedPair, run.stderr().slice(-2000)).to.not.equal(null);
  expect(s.ice.selectedPair.local.type).to.equal('relay');
  expect(s.ice.localCandidates.every((c: any) => c.type === 'relay'), 'only relayed candidates offered').to.equal(true);
  if (relayPortRange) expect(s.ice.selectedPair.local.port).to.be.within(relayPortRange[0], relayPortRange[1]);
  return s;
}

describe('TURN: relayed candidates through real coturn', function () {
  this.timeout(90000);
  let coturn: Coturn | undefined;

  before(async function () {
    requireCoturn(this);
    coturn = await startCoturn({ users: [{ name: 'alice', password: 'wonderland-42' }] });
  });
  after(async () => coturn?.stop());

  const turnArgs = (c: Coturn, user = 'alice', pass = 'wonderland-42') => ['--turn', `turn:127.0.0.1:${c.port}`, '--turn-user', user, '--turn-pass', pass];

  it('--ice-transport relay on both sides: relay pair on both ends, tone heard, allocations freed on hang-up', async () => {
    const logStart = coturn!.log().length;
    const { caller, callee, dir } = await relayCall([...turnArgs(coturn!), '--ice-transport', 'relay'], [...turnArgs(coturn!), '--ice-transport', 'relay']);
    const cs = expectRelayPair(caller);
    const as = expectRelayPair(callee);
    // Each side's remote is the other's relayed address.
    expect(cs.ice.selectedPair.remote.port).to.equal(as.ice.selectedPair.local.port);
    expect(as.ice.selectedPair.remote.port).to.equal(cs.ice.selectedPair.local.port);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
    // coturn saw every allocation of this call deleted (Refresh with LIFETIME 0, RFC 8656 §7) by the
    // time both processes exited: nothing left to expire on the server.
    const count = (re: RegExp) => (coturn!.log().slice(logStart).match(re) ?? []).length;
    const allocations = count(/new, realm=<[^>]+>, username=<alice>, lifetime=\d+/g);
    for (let i = 0; i < 50 && count(/refreshed, realm=<[^>]+>, username=<alice>, lifetime=0/g) < allocations; i++) await new Promise((r) => setTimeout(r, 100));
    expect(allocations).to.be.at.least(2);
    expect(count(/refreshed, realm=<[^>]+>, username=<alice>, lifetime=0/g), coturn!.log().slice(-3000)).to.equal(allocations);
    for (const r of [caller, callee]) expect(r.stderr() + r.stdout()).to.not.include('wonderland-42');
  });

  it('SIGTERM during a relayed call hangs up and deallocates (LIFETIME 0 seen by the server)', async () => {
    const logStart = coturn!.log().length;
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--json']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '60', '--json', ...turnArgs(coturn!), '--ice-transport', 'relay']);
    await caller.waitForStderr(/media: flowing/, 20000);
    caller.kill('SIGTERM');
    await Promise.all([exitWithin(caller, 15000), exitWithin(callee, 15000)]);
    const count = (re: RegExp) => (coturn!.log().slice(logStart).match(re) ?? []).length;
    for (let i = 0; i < 50 && count(/username=<alice>, lifetime=0/g) < count(/new, realm=<[^>]+>, username=<alice>/g); i++) await new Promise((r) => setTimeout(r, 100));
    expect(count(/new, realm=<[^>]+>, username=<alice>/g)).to.be.at.least(1);
    expect(count(/username=<alice>, lifetime=0/g), coturn!.log().slice(-2000)).to.equal(count(/new, realm=<[^>]+>, username=<alice>/g));
    expect(callee.summaries()[0].call.state).to.equal('ended');
  });

  it('a wrong password gives one line naming the server, no password printed, and the call proceeds on host candidates', async () => {
    const { caller, callee } = await relayCall([...turnArgs(coturn!, 'alice', 'not-the-password-77'), '--verbose'], []);
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    const lines = caller.stderr().split('\n').filter((l) => /^turn: .*TURN server/.test(l));
    expect(lines.length, caller.stderr().slice(-3000)).to.be.at.least(1);
    expect(lines[0]).to.match(new RegExp(`127\\.0\\.0\\.1:${coturn!.port}`)).and.to.match(/wrong credentials|401/);
    expect(caller.stderr() + caller.stdout()).to.not.include('not-the-password-77');
    const [s] = caller.summaries();
    expect(s.ice.selectedPair.local.type).to.equal('host');
    expect(callee.child.exitCode).to.equal(0);
  });

  it('an allocation quota (486) is reported in one line and the call still proceeds', async () => {
    // A server allowing one allocation per user: component 1 gets it, component 2's Allocate gets 486.
    const strict = await startCoturn({ users: [{ name: 'carol', password: 'quota-pass-1' }], extraArgs: ['--user-quota=1'] });
    try {
      const { caller, callee } = await relayCall(['--turn', `turn:127.0.0.1:${strict.port}`, '--turn-user', 'carol', '--turn-pass', 'quota-pass-1', '--no-rtcp-mux'], [], 2);
      expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
      expect(callee.child.exitCode, callee.stderr().slice(-3000)).to.equal(0);
      const line = caller.stderr().split('\n').find((l) => /^turn: .*(486|quota)/i.test(l));
      expect(line, caller.stderr().slice(-3000)).to.not.equal(undefined);
      expect(line!).to.match(new RegExp(`127\\.0\\.0\\.1:${strict.port}`));
      expect(caller.stderr()).to.match(/turn: component \d relayed at/);
    } finally {
      await strict.stop();
    }
  });

  it('a list whose first server is dead allocates on the second and prints what that cost', async () => {
    const dead = await freeUdpPort();
    const { caller } = await relayCall(['--turn', `turn:127.0.0.1:${dead}`, ...turnArgs(coturn!), '--turn-timeout', '1.5', '--ice-transport', 'relay'], [...turnArgs(coturn!), '--ice-transport', 'relay']);
    expectRelayPair(caller);
    const cost = caller.stderr().match(/turn: component 1 relayed at \S+ via (\S+) in (\d+) ms \(after 1 failed server\)/);
    expect(cost, caller.stderr().slice(-3000)).to.not.equal(null);
    expect(cost![1]).to.equal(`turn:127.0.0.1:${coturn!.port}`);
    expect(Number(cost![2])).to.be.within(1400, 4000);
    expect(caller.stderr()).to.match(new RegExp(`turn: .*127\\.0\\.0\\.1:${dead}.*(no answer|unreachable|within)`));
  });

  it('an unreachable server alone: one line, and the call proceeds on the other candidates', async () => {
    const dead = await freeUdpPort();
    const { caller } = await relayCall(['--turn', `turn:127.0.0.1:${dead}`, '--turn-user', 'alice', '--turn-pass', 'wonderland-42', '--turn-timeout', '1'], []);
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    expect(caller.stderr()).to.match(new RegExp(`turn: .*127\\.0\\.0\\.1:${dead}`));
    expect(caller.stderr()).to.match(/turn: no relayed candidate for component 1/);
  });
});

describe('TURN: ephemeral credentials (use-auth-secret), TLS and an HTTP CONNECT proxy', function () {
  this.timeout(90000);
  let coturn: Coturn | undefined;

  before(async function () {
    requireCoturn(this);
    coturn = await startCoturn({ authSecret: SECRET, tls: true });
  });
  after(async () => coturn?.stop());

  it('--turn-secret: a relayed call, the secret never printed', async () => {
    const args = ['--turn', `turn:127.0.0.1:${coturn!.port}`, '--turn-secret', SECRET, '--ice-transport', 'relay', '--verbose'];
    const { caller, callee, dir } = await relayCall(args, args);
    expectRelayPair(caller);
    expectRelayPair(callee);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    for (const r of [caller, callee]) expect(r.stderr() + r.stdout()).to.not.include(SECRET);
  });

  it('a wrong secret: one line naming the server, secret not printed', async () => {
    const { caller } = await relayCall(['--turn', `turn:127.0.0.1:${coturn!.port}`, '--turn-secret', 'wrong-Secret-123'], []);
    expect(caller.child.exitCode).to.equal(0);
    expect(caller.stderr()).to.match(new RegExp(`turn: .*127\\.0\\.0\\.1:${coturn!.port}.*(wrong credentials|401)`));
    expect(caller.stderr() + caller.stdout()).to.not.include('wrong-Secret-123');
  });

  it('turns: with the server certificate trusted: relayed call over TLS', async () => {
    const ca = join(testTempDir('icephone-ca-'), 'ca.pem');
    writeFileSync(ca, coturn!.certPem!);
    const args = ['--turn', `turns:127.0.0.1:${coturn!.tlsPort}`, '--turn-secret', SECRET, '--turn-ca', ca, '--ice-transport', 'relay'];
    const { caller, callee } = await relayCall(args, args);
    expectRelayPair(caller);
    expectRelayPair(callee);
  });

  it('turns: with a certificate that does not verify: one line naming the server and the TLS cause', async () => {
    const { caller } = await relayCall(['--turn', `turns:127.0.0.1:${coturn!.tlsPort}`, '--turn-secret', SECRET, '--turn-timeout', '3'], []);
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    expect(caller.stderr()).to.match(new RegExp(`turn: .*127\\.0\\.0\\.1:${coturn!.tlsPort}.*(certificate|self.signed|TLS)`, 'i'));
  });

  it('TURN over TCP through a real HTTP proxy (tinyproxy) carries a call', async function () {
    if (!haveTinyproxy()) {
      if (isRoot()) throw new Error('tinyproxy missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: tinyproxy is not installed\n');
      this.skip();
    }
    const proxy = await startTinyproxy([coturn!.port]);
    try {
      const args = ['--turn', `turn:127.0.0.1:${coturn!.port}?transport=tcp`, '--turn-secret', SECRET, '--proxy', `http://127.0.0.1:${proxy.port}`, '--ice-transport', 'relay'];
      const { caller, callee, dir } = await relayCall(args, args);
      expectRelayPair(caller);
      expectRelayPair(callee);
      await assertToneInWav(join(dir, 'caller.wav'), 660);
      expect(proxy.process.output()).to.match(new RegExp(`CONNECT 127\\.0\\.0\\.1:${coturn!.port}`));
    } finally {
      await proxy.stop();
    }
  });
});

describe('TURN: an IPv6 relay through real coturn on ::1 (RFC 6156 REQUESTED-ADDRESS-FAMILY)', function () {
  this.timeout(90000);
  let coturn: Coturn | undefined;

  before(async function () {
    requireCoturn(this);
    coturn = await startCoturn({ users: [{ name: 'alice', password: 'wonderland-42' }], ipv6RelayOnly: true });
  });
  after(async () => coturn?.stop());

  it('a call over ::1 with --relay-family ipv6 and --ice-transport relay: IPv6 relayed pair on both ends, tones both ways', async () => {
    const dir = testTempDir('icephone-turn6-');
    const port = await freePortPair();
    const turn = ['--turn', `turn:[::1]:${coturn!.port}`, '--turn-user', 'alice', '--turn-pass', 'wonderland-42', '--relay-family', 'ipv6', '--ice-transport', 'relay', '--media-address', '::1'];
    const callee = runIcephone(['answer', '--listen', `[::1]:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', ...turn]);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@[::1]:${port}`, '--listen', '[::1]:0', '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', ...turn]);
    await Promise.all([exitWithin(caller, 40000), exitWithin(callee, 40000)]);
    const cs = expectRelayPair(caller);
    const as = expectRelayPair(callee);
    for (const s of [cs, as]) {
      expect(s.ice.selectedPair.local.address, 'relayed address is IPv6').to.equal('::1');
      expect(s.ice.selectedPair.remote.address).to.equal('::1');
    }
    expect(cs.ice.selectedPair.remote.port).to.equal(as.ice.selectedPair.local.port);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });
});
