/**
 * Issue 12, registration through the gateway, end to end on loopback with real peers: kamailio is
 * the PBX's registrar with digest authentication of REGISTER (test/helpers/kamailio.ts
 * `registerAuth`), `icephone gateway` registers for the softphone, and `icephone answer --register`
 * is the softphone, registering `sip:alice@icephone.test` with the gateway as its outbound proxy
 * and kamailio's password. Checked on the wire (the SIP traces of the softphone and the gateway,
 * kamailio's log): the kamailio 401 reaches the softphone with its challenge unchanged, the
 * softphone's Authorization reaches kamailio, kamailio binds the gateway's Contact (not the
 * softphone's). Then SIPp, a plain PBX phone (scenarios/sipp-plain-uac-proxied.xml, `-rtp_echo`),
 * calls the AOR through kamailio; the call reaches the softphone through the gateway, SIPp's
 * message log shows plain SDP from the gateway's PBX-side address, and the softphone hears its own
 * tone back through both legs and the PBX phone (audio both ways). When the softphone exits it unregisters (through the gateway, challenged again); the
 * binding is gone at the gateway and at kamailio, and a second call gets kamailio's 404.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveKamailio, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which, type ManagedProcess } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const PASSWORD = 'gw-Secret-42';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The value of the first `Name:` header line after `from`, in a trace. */
function headerAfter(text: string, from: number, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'm').exec(text.slice(from))?.[1];
}

describe('e2e: registration through icephone gateway to kamailio with digest auth, then a call from the PBX side (issue 12)', function () {
  this.timeout(120000);
  let kamailio: Kamailio | undefined;
  let kPort = 0;
  let dir = '';

  before(async function () {
    for (const [missing, what] of [[!haveKamailio(), 'kamailio'], [!which('sipp'), 'sipp']] as const) {
      if (!missing) continue;
      if (isRoot()) throw new Error(`${what} missing although running as root: run scripts/install-deps.sh`);
      process.stderr.write(`skipped: ${what} is not installed (scripts/install-deps.sh as root installs it)\n`);
      this.skip();
    }
    dir = testTempDir('icephone-gwreg-');
    kPort = await freeUdpPort();
    kamailio = await startKamailio({ listen: '127.0.0.1', port: kPort, domain: 'icephone.test', verbose: true, registerAuth: { alice: PASSWORD } });
  });
  after(async () => {
    await kamailio?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the 401 passes through, kamailio binds the gateway\'s Contact, a call to the AOR reaches the softphone with tones both ways, unregister removes it (then 404)', async () => {
    const gwPort = await freeUdpPort();
    const gwPbxPort = await freeUdpPort('127.0.0.3');
    const gateway = runIcephone([
      'gateway', '--listen', `127.0.0.1:${gwPort}`, '--pbx-listen', `127.0.0.3:${gwPbxPort}`, '--pbx', `sip:127.0.0.1:${kPort}`,
      '--pbx-domain', 'icephone.test', '--keepalive', '1', '--json', '--trace',
    ]);
    let softphone: IcephoneRun | undefined;
    let sipp: ManagedProcess | undefined;
    let second: IcephoneRun | undefined;
    try {
      await gateway.waitForStderr(/gateway: listening on/, 20000);
      const softPort = await freePortPair('127.0.0.4');
      softphone = runIcephone([
        'answer', '--listen', `127.0.0.4:${softPort}`, '--register', 'sip:alice@icephone.test', '--outbound-proxy', `sip:127.0.0.1:${gwPort}`,
        '--auth-user', 'alice', '--auth-pass', PASSWORD, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'softphone.wav'),
        '--json', '--trace',
      ]);
      await softphone.waitForStderr(/sip: listening/, 30000);
      const reg = await gateway.waitForStderr(/gateway: registration registered sip:alice@icephone\.test contact (\S+) via (\S+) as (\S+) for (\d+) s/, 10000);
      expect(reg[1]).to.equal(`sip:alice@127.0.0.4:${softPort}`);
      expect(reg[2]).to.equal(`127.0.0.4:${softPort}`);
      const gatewayContact = reg[3]!;
      expect(gatewayContact).to.match(new RegExp(`^sip:alice-[0-9a-f]{12}@127\\.0\\.0\\.3:${gwPbxPort}$`));

      // The challenge: kamailio → gateway (PBX side) → softphone, unchanged.
      const s = softphone.stderr();
      const g = gateway.stderr();
      const sp401 = s.search(new RegExp(`<<< from 127\\.0\\.0\\.1:${gwPort} \\(udp\\)\\nSIP/2\\.0 401 `));
      expect(sp401, s.slice(0, 4000)).to.be.greaterThan(-1);
      const gw401 = g.search(new RegExp(`pbx: <<< from 127\\.0\\.0\\.1:${kPort}\\nSIP/2\\.0 401 `));
      expect(gw401, g.slice(0, 4000)).to.be.greaterThan(-1);
      const challenge = headerAfter(s, sp401, 'WWW-Authenticate');
      expect(challenge).to.match(/^Digest realm="icephone\.test", nonce="[^"]+"/);
      expect(headerAfter(g, gw401, 'WWW-Authenticate'), 'the same challenge at both').to.equal(challenge);
      // The softphone's answer to it, relayed to kamailio with the Request-URI it signed.
      const relayed = g.search(new RegExp(`pbx: >>> to 127\\.0\\.0\\.1:${kPort}\\nREGISTER sip:icephone\\.test SIP/2\\.0\\n(?:[^\\n]+\\n)*?Authorization: Digest `));
      expect(relayed, g.slice(0, 6000)).to.be.greaterThan(-1);
      expect(headerAfter(g, relayed, 'Authorization')).to.match(/username="alice", realm="icephone\.test".*uri="sip:icephone\.test"/);
      expect(s).to.match(new RegExp(`SIP/2\\.0 200 OK\\n(?:[^\\n]+\\n)*?Contact: <sip:alice@127\\.0\\.0\\.4:${softPort}>;expires=\\d+`));
      // kamailio bound the gateway's Contact, from the gateway's PBX-side address.
      const k = await kamailio!.process.waitForOutput(/registered sip:alice@icephone\.test contact (\S+) from (\S+)/, 10000);
      expect(k[1]).to.equal(`<${gatewayContact}>;expires=${reg[4]}`);
      expect(k[2]).to.equal(`127.0.0.3:${gwPbxPort}`);
      expect(kamailio!.process.output()).to.not.match(/registered sip:alice@icephone\.test contact <sip:alice@127\.0\.0\.4/);

      // A plain PBX phone (SIPp, -rtp_echo) calls the AOR through kamailio.
      const sipPort = await freeUdpPort('127.0.0.5');
      const mediaPort = await freePortPair('127.0.0.5');
      sipp = spawnProcess('sipp', [
        `127.0.0.1:${kPort}`, '-sf', join(root, 'scenarios', 'sipp-plain-uac-proxied.xml'), '-s', 'alice', '-i', '127.0.0.5', '-p', String(sipPort), '-m', '1',
        '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.5', '-nostdin', '-timeout', '40s', '-timeout_error', '-trace_msg',
      ], { name: 'sipp-pbx-phone', cwd: dir });
      expect(await sipp.waitForExit(45000), sipp.tail(3000)).to.equal(0);
      expect(await exitWithin(softphone, 30000), softphone.stderr().slice(-4000)).to.equal(0);
      const [sp] = softphone.summaries();
      expect(sp.ice.format, 'the gateway offers ICE to the softphone').to.equal('ice');
      expect(sp.rtp.packetsReceived, 'RTP back from the PBX phone through the gateway').to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'softphone.wav'), 660, { skipMs: 500 });
      const log = readdirSync(dir).find((f) => f.endsWith('_messages.log'));
      expect(log, `SIPp message log in ${readdirSync(dir).join(', ')}`).to.not.equal(undefined);
      const messages = readFileSync(join(dir, log!), 'utf8');
      const ok = messages.slice(messages.search(/SIP\/2\.0 200 OK[\s\S]*?CSeq: 1 INVITE/));
      expect(ok, 'kamailio routed the INVITE to the gateway\'s Contact').to.match(new RegExp(`^Contact: <sip:gateway@127\\.0\\.0\\.3:${gwPbxPort}>`, 'm'));
      const sdp = ok.slice(ok.indexOf('v=0'), ok.indexOf('----', ok.indexOf('v=0')) >>> 0);
      expect(sdp).to.match(/^m=audio \d+ RTP\/AVP /m);
      expect(sdp).to.match(/^c=IN IP4 127\.0\.0\.3\s*$/m);
      expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
      const bridged = await gateway.waitForStderr(/gateway: bridged call pbx-to-endpoint to (\S+) answered/, 20000);
      expect(bridged[1]).to.equal(`sip:alice@127.0.0.4:${softPort}`);

      // The softphone unregistered on exit: gone at the gateway and at kamailio.
      await gateway.waitForStderr(/gateway: registration unregistered sip:alice@icephone\.test/, 20000);
      second = runIcephone([
        'call', 'sip:alice@icephone.test', '--listen', '127.0.0.5:0', '--outbound-proxy', `sip:127.0.0.1:${kPort}`, '--duration', '1', '--trace',
      ]);
      expect(await exitWithin(second, 30000)).to.not.equal(0);
      expect(second.stderr()).to.match(/<<< from [^\n]+\nSIP\/2\.0 404 Not Found/);
    } finally {
      for (const p of [second, softphone]) p?.kill();
      await sipp?.stop();
      gateway.kill();
      await exitWithin(gateway, 10000).catch(() => undefined);
    }
  });
});
