/**
 * Issue 12, registration through the gateway with baresip as the softphone (`medianat=ice`):
 * baresip registers `sip:bob@icephone.test` through `icephone gateway` (its outbound proxy) at
 * kamailio, which challenges (REGISTER digest auth); baresip answers the passed-through challenge
 * with its `auth_pass`, kamailio binds the gateway's Contact. Then a plain PBX phone (SIPp,
 * `-rtp_echo`) calls the AOR through kamailio: the call reaches baresip through the gateway, ICE
 * completes between baresip and the gateway, and baresip finds its own 440 Hz tone in what it
 * heard (through the gateway, SIPp's echo and back: audio both ways across both legs).
 *
 * baresip's ice module never gathers on loopback, so it runs in a namespace of its own on
 * 198.51.100.2; the gateway's endpoint side is 198.51.100.1 in the "site" namespace, where
 * kamailio, the gateway's PBX side (127.0.0.3) and SIPp (127.0.0.5) share that namespace's loopback.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { haveKamailio, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot, spawnProcess, which, type ManagedProcess } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const GW_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';
const PASSWORD = 'bob-Secret-7';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('interop: baresip (ICE) registers through icephone gateway at kamailio (digest) and takes a call from a plain PBX phone (issue 12)', function () {
  this.timeout(120000);
  let lab: NetnsLab | undefined;
  let nsSite = '';
  let nsBaresip = '';
  let kamailio: Kamailio | undefined;
  let gateway: IcephoneRun | undefined;
  let peer: BaresipInstance | undefined;
  let sipp: ManagedProcess | undefined;
  let dir = '';

  before(async function () {
    if (!isRoot()) {
      process.stderr.write('skipped: baresip interop needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    const missing = !baresipAvailable() ? 'baresip is not installed' : missingBaresipModules().length ? `baresip modules missing: ${missingBaresipModules().join(', ')}`
      : !haveKamailio() ? 'kamailio is not installed' : !which('sipp') ? 'sipp is not installed' : undefined;
    if (missing) throw new Error(`${missing}: run scripts/install-deps.sh as root`);
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    dir = testTempDir('icephone-bsp-gwreg-');
    lab = new NetnsLab();
    nsSite = lab.createNamespace('site');
    nsBaresip = lab.createNamespace('bsp');
    lab.connect(nsSite, `${GW_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
    kamailio = await startKamailio({ listen: '127.0.0.1', port: 5060, domain: 'icephone.test', verbose: true, registerAuth: { bob: PASSWORD }, prefix: ['ip', 'netns', 'exec', nsSite] });
  });

  after(async () => {
    await peer?.stop().catch(() => undefined);
    peer?.remove();
    await sipp?.stop();
    if (gateway) {
      gateway.kill();
      await exitWithin(gateway, 10000).catch(() => undefined);
    }
    await kamailio?.stop();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('baresip registers through the gateway (challenge passed through), SIPp calls the AOR, ICE completes, baresip hears its tone back', async () => {
    gateway = runIcephone([
      'gateway', '--listen', `${GW_IP}:5070`, '--pbx-listen', '127.0.0.3:5080', '--pbx', 'sip:127.0.0.1:5060', '--pbx-domain', 'icephone.test',
      '--keepalive', '2', '--json', '--trace',
    ], { prefix: ['ip', 'netns', 'exec', nsSite] });
    await gateway.waitForStderr(/gateway: listening on/, 20000);
    peer = await startBaresip({
      listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440,
      register: { domain: 'icephone.test', outboundProxy: `sip:${GW_IP}:5070`, regintSec: 300 },
      accountParams: [`auth_pass=${PASSWORD}`],
    });
    await peer.waitForRegistered(20000);
    const reg = await gateway.waitForStderr(/gateway: registration registered sip:bob@icephone\.test contact (\S+) via (\S+) as (\S+)/, 10000);
    expect(reg[2]).to.equal(`${BARESIP_IP}:5060`);
    expect(gateway.stderr(), 'kamailio challenged the relayed REGISTER').to.match(/pbx: <<< from 127\.0\.0\.1:5060\nSIP\/2\.0 401 /);
    expect(gateway.stderr(), 'the challenge went on to baresip').to.match(new RegExp(`endpoint: >>> to ${BARESIP_IP.replace(/\./g, '\\.')}:5060\\nSIP/2\\.0 401 `));
    const k = await kamailio!.process.waitForOutput(/registered sip:bob@icephone\.test contact (\S+) from (\S+)/, 10000);
    expect(k[1]).to.match(new RegExp(`^<${reg[3]!.replace(/\./g, '\\.')}>`));
    expect(k[2]).to.equal('127.0.0.3:5080');

    sipp = spawnProcess('ip', [
      'netns', 'exec', nsSite, 'sipp', '127.0.0.1:5060', '-sf', join(root, 'scenarios', 'sipp-plain-uac-proxied.xml'), '-s', 'bob', '-i', '127.0.0.5', '-p', '5090',
      '-m', '1', '-rtp_echo', '-mp', '6000', '-mi', '127.0.0.5', '-nostdin', '-timeout', '40s', '-timeout_error', '-trace_msg',
    ], { name: 'sipp-pbx-phone', cwd: dir });
    expect(await sipp.waitForExit(45000), sipp.tail(3000)).to.equal(0);
    const bridged = await gateway.waitForStderr(/gateway: bridged call pbx-to-endpoint to (\S+) answered/, 20000);
    expect(bridged[1]).to.equal(reg[1]);
    const ice = await peer.waitForIceCompleted(5000);
    expect(ice.completed).to.equal(true);
    expect(ice.selectedPairs[0]?.remote.address, 'baresip\'s media goes to the gateway\'s endpoint side').to.equal(GW_IP);
    await peer.waitForCallTerminated(15000);
    await peer.stop();
    const heard = peer.decodedWavs();
    expect(heard, 'baresip recorded the call').to.have.length.greaterThan(0);
    await assertToneInWav(heard[heard.length - 1]!, 440, { skipMs: 500 });
    const log = readdirSync(dir).find((f) => f.endsWith('_messages.log'));
    expect(log, 'SIPp message log').to.not.equal(undefined);
    const messages = readFileSync(join(dir, log!), 'utf8');
    const ok = messages.slice(messages.search(/SIP\/2\.0 200 OK[\s\S]*?CSeq: 1 INVITE/));
    const sdp = ok.slice(ok.indexOf('v=0'), ok.indexOf('----', ok.indexOf('v=0')) >>> 0);
    expect(sdp).to.match(/^c=IN IP4 127\.0\.0\.3\s*$/m);
    expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
  });
});
