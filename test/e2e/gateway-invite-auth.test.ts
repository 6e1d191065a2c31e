/**
 * Issue 12, a PBX that challenges calls: kamailio with proxy digest authentication of initial
 * INVITEs (test/helpers/kamailio.ts `inviteAuth`, 407 with Proxy-Authenticate) behind
 * `icephone gateway`. The gateway holds no credentials: the PBX's 407 must not be retried by the
 * gateway (sip.js would retry once with an empty password) but go back to the softphone with the
 * PBX's challenge unchanged; the softphone's new INVITE with Proxy-Authorization is relayed to the
 * PBX as it is, and the call connects (a plain `icephone answer` registered directly at kamailio
 * is the PBX phone), tones both ways. Checked on the wire: the gateway's and the softphone's SIP
 * traces and kamailio's log.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { haveKamailio, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const PASSWORD = 'inv-Secret-7';

/** Every match of `re` (global) in `text`, with its index. */
function all(text: string, re: RegExp): RegExpExecArray[] {
  return [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))];
}

/** The value of the first `Name:` header line after `from`, in a trace. */
function headerAfter(text: string, from: number, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'm').exec(text.slice(from))?.[1];
}

/** The gateway's first bridged-call summary, once printed. */
async function bridgeSummary(gateway: IcephoneRun): Promise<any> {
  const end = Date.now() + 10000;
  for (;;) {
    const b = gateway.summaries().find((x) => x.bridge);
    if (b) return b;
    if (Date.now() > end) throw new Error(`no bridge summary from the gateway:\n${gateway.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('e2e: a PBX that challenges INVITEs behind icephone gateway: the 407 goes to the softphone, its credentials go to the PBX (issue 12)', function () {
  this.timeout(90000);
  let kamailio: Kamailio | undefined;
  let kPort = 0;
  let dir = '';
  const runs: IcephoneRun[] = [];

  before(async function () {
    if (!haveKamailio()) {
      if (isRoot()) throw new Error('kamailio missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: kamailio is not installed (scripts/install-deps.sh as root installs it)\n');
      this.skip();
    }
    dir = testTempDir('icephone-gw-invauth-');
    kPort = await freeUdpPort();
    kamailio = await startKamailio({ listen: '127.0.0.1', port: kPort, domain: 'icephone.test', verbose: true, inviteAuth: { alice: PASSWORD } });
  });
  afterEach(async () => {
    for (const r of runs.splice(0)) {
      r.kill();
      await exitWithin(r, 10000).catch(() => undefined);
    }
  });
  after(async () => {
    await kamailio?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startPeers(): Promise<{ gateway: IcephoneRun; gwPort: number; gwPbxPort: number; callee: IcephoneRun }> {
    const calleePort = await freePortPair('127.0.0.5');
    const callee = runIcephone([
      'answer', '--listen', `127.0.0.5:${calleePort}`, '--register', 'sip:bob@icephone.test', '--registrar', `sip:127.0.0.1:${kPort}`,
      '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'bob.wav'), '--json',
    ]);
    runs.push(callee);
    await kamailio!.process.waitForOutput(new RegExp(`registered sip:bob@icephone\\.test contact <sip:bob@127\\.0\\.0\\.5:${calleePort}`), 20000);
    const gwPort = await freeUdpPort();
    const gwPbxPort = await freeUdpPort('127.0.0.3');
    const gateway = runIcephone([
      'gateway', '--listen', `127.0.0.1:${gwPort}`, '--pbx-listen', `127.0.0.3:${gwPbxPort}`, '--pbx', `sip:127.0.0.1:${kPort}`,
      '--pbx-domain', 'icephone.test', '--json', '--trace',
    ]);
    runs.push(gateway);
    await gateway.waitForStderr(/gateway: listening on/, 20000);
    return { gateway, gwPort, gwPbxPort, callee };
  }

  it('without credentials: each INVITE relayed once, the PBX\'s 407 reaches the softphone with the PBX\'s Proxy-Authenticate, the gateway sends no credentials of its own', async () => {
    const { gateway, gwPort } = await startPeers();
    const callerPort = await freePortPair('127.0.0.4');
    const caller = runIcephone(['call', 'sip:bob@127.0.0.1:' + gwPort, '--listen', `127.0.0.4:${callerPort}`, '--duration', '2', '--json', '--trace']);
    runs.push(caller);
    expect(await exitWithin(caller, 30000), caller.stderr().slice(-3000)).to.equal(1);
    const [s] = caller.summaries();
    expect(s.call.reason, 'the softphone\'s call ended with the PBX\'s status').to.match(/^407 /);
    // The gateway relays each INVITE of the softphone once (sip.js in the softphone retries once by
    // itself, with an empty password) and never adds a retry or credentials of its own.
    const g = gateway.stderr();
    const c = caller.stderr();
    const toPbx = all(g, new RegExp(`pbx: >>> to 127\\.0\\.0\\.1:${kPort}\\nINVITE sip:bob@`));
    const fromSoftphone = all(c, /\nINVITE sip:bob@/);
    expect(toPbx.length, `INVITEs the gateway sent to the PBX:\n${g.slice(-5000)}`).to.equal(fromSoftphone.length);
    const credsToPbx = all(g, /^Proxy-Authorization: (.*)$/m).map((m) => m[1]).filter((v, i, a) => a.indexOf(v) === i);
    const credsFromSoftphone = all(c, /^Proxy-Authorization: (.*)$/m).map((m) => m[1]);
    for (const v of credsToPbx) expect(credsFromSoftphone, 'every credentials line at the PBX is the softphone\'s').to.include(v);
    const gw407 = g.search(new RegExp(`pbx: <<< from 127\\.0\\.0\\.1:${kPort}\\nSIP/2\\.0 407 `));
    expect(gw407, g.slice(-5000)).to.be.greaterThan(-1);
    const sp407 = c.search(new RegExp(`<<< from 127\\.0\\.0\\.1:${gwPort} \\(udp\\)\\nSIP/2\\.0 407 `));
    expect(sp407, c.slice(-4000)).to.be.greaterThan(-1);
    const challenge = headerAfter(c, sp407, 'Proxy-Authenticate');
    expect(challenge).to.match(/^Digest realm="[^"]+", nonce="[^"]+"/);
    expect(headerAfter(g, gw407, 'Proxy-Authenticate'), 'the same challenge at both').to.equal(challenge);
    const b = await bridgeSummary(gateway);
    expect(b.bridge).to.deep.include({ outcome: 'failed', mappedStatus: 407 });
  });

  it('with credentials: the softphone answers the passed-on challenge, its Proxy-Authorization is relayed, kamailio accepts it, the call connects with tones both ways', async () => {
    const { gateway, gwPort, callee } = await startPeers();
    const callerPort = await freePortPair('127.0.0.4');
    const caller = runIcephone([
      'call', 'sip:bob@127.0.0.1:' + gwPort, '--listen', `127.0.0.4:${callerPort}`, '--auth-user', 'alice', '--auth-pass', PASSWORD,
      '--play', 'tone:440', '--record', join(dir, 'alice.wav'), '--duration', '3', '--json', '--trace',
    ]);
    runs.push(caller);
    expect(await exitWithin(caller, 40000), `${caller.stderr().slice(-3000)}\ngateway:\n${gateway.stderr().slice(-4000)}`).to.equal(0);
    expect(await exitWithin(callee, 20000), callee.stderr().slice(-3000)).to.equal(0);
    const g = gateway.stderr();
    const invites = all(g, new RegExp(`pbx: >>> to 127\\.0\\.0\\.1:${kPort}\\nINVITE sip:bob@`));
    expect(invites.length, 'the challenged INVITE and the one with credentials').to.equal(2);
    const second = invites[1]!.index!;
    const creds = headerAfter(g, second, 'Proxy-Authorization');
    expect(creds, 'the softphone\'s credentials relayed').to.match(/^Digest .*username="alice"/);
    const c = caller.stderr();
    const sent = all(c, /\nINVITE sip:bob@[^\n]+\n(?:[^\n]+\n)*?Proxy-Authorization: (.*)\n/);
    expect(sent.length, 'the softphone sent credentials once').to.equal(1);
    expect(creds, 'relayed unchanged').to.equal(sent[0]![1]);
    expect(kamailio!.process.output()).to.match(/INVITE sip:bob@\S+ authenticated as alice/);
    const [s] = caller.summaries();
    expect(s.call.state).to.equal('ended');
    await assertToneInWav(join(dir, 'bob.wav'), 440, { skipMs: 500 });
    await assertToneInWav(join(dir, 'alice.wav'), 660, { skipMs: 500 });
  });
});
