/**
 * Issue 12, registration through the gateway for a softphone behind a NAT (network namespaces):
 *
 *   phone ns (10.0.0.2) ── nat ns (10.0.0.1 | 198.51.100.2, MASQUERADE) ── site ns (198.51.100.1)
 *
 * The site namespace holds `icephone gateway` (endpoint side 198.51.100.1:5070, PBX side
 * 127.0.0.3:5080), kamailio (127.0.0.1:5060, REGISTER digest auth) and SIPp, the plain PBX phone
 * (127.0.0.5). `icephone answer --register` in the phone namespace registers through the gateway;
 * its Contact is its private address `10.0.0.2:5060`, to which the site has no route at all. So the
 * call SIPp places to the AOR reaches the softphone only if the gateway sends it over the flow the
 * REGISTER came from (198.51.100.2:PORT, the NAT's mapping), and the softphone hears its own tone
 * back through both legs only if media crosses the NAT too (ICE finds the peer-reflexive path).
 * A tcpdump on the NAT's public side shows the CRLF keep-alives going to that flow.
 */
import { expect } from 'chai';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { haveKamailio, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { readPcapFile } from '../helpers/pcap.js';
import { isRoot, spawnProcess, which, type ManagedProcess } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const GW_IP = '198.51.100.1';
const NAT_PUBLIC_IP = '198.51.100.2';
const NAT_PRIVATE_IP = '10.0.0.1';
const PHONE_IP = '10.0.0.2';
const PASSWORD = 'nat-Secret-9';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** CRLFCRLF datagrams from the gateway's endpoint-side socket in a capture (empty while it does not exist yet). */
function keepalivesIn(pcap: string): Array<{ address: string; port: number }> {
  if (!existsSync(pcap)) return [];
  try {
    return readPcapFile(pcap).datagrams
      .filter((d) => d.source.address === GW_IP && d.source.port === 5070 && d.payload.toString('latin1') === '\r\n\r\n')
      .map((d) => d.destination);
  } catch {
    return []; // a record half written by tcpdump: read again later
  }
}

describe('e2e: a softphone behind a NAT registers through icephone gateway and is reached over its flow (issue 12, netns)', function () {
  this.timeout(120000);
  let lab: NetnsLab | undefined;
  let nsSite = '';
  let nsNat = '';
  let nsPhone = '';
  let natPublicIf = '';
  let kamailio: Kamailio | undefined;
  let dir = '';

  before(async function () {
    if (!isRoot()) {
      process.stderr.write('skipped: the NAT test needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    const missing = !haveKamailio() ? 'kamailio' : !which('sipp') ? 'sipp' : !which('tcpdump') ? 'tcpdump' : !which('iptables') ? 'iptables' : undefined;
    if (missing) throw new Error(`${missing} is not installed: run scripts/install-deps.sh as root`);
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    dir = testTempDir('icephone-gwreg-nat-');
    lab = new NetnsLab();
    nsSite = lab.createNamespace('site');
    nsNat = lab.createNamespace('nat');
    nsPhone = lab.createNamespace('phone');
    natPublicIf = lab.connect(nsSite, `${GW_IP}/24`, nsNat, `${NAT_PUBLIC_IP}/24`).ifB;
    lab.connect(nsNat, `${NAT_PRIVATE_IP}/24`, nsPhone, `${PHONE_IP}/24`);
    lab.exec(nsPhone, 'ip', ['route', 'add', 'default', 'via', NAT_PRIVATE_IP]);
    lab.exec(nsNat, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    lab.exec(nsNat, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', natPublicIf, '-j', 'MASQUERADE']);
    kamailio = await startKamailio({ listen: '127.0.0.1', port: 5060, domain: 'icephone.test', verbose: true, registerAuth: { alice: PASSWORD }, prefix: ['ip', 'netns', 'exec', nsSite] });
  });
  after(async () => {
    await kamailio?.stop();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the PBX call reaches the private Contact over the NAT mapping, tones both ways, CRLF keep-alives to the mapping', async () => {
    const site = ['ip', 'netns', 'exec', nsSite];
    const pcap = join(dir, 'nat-public.pcap');
    let gateway: IcephoneRun | undefined;
    let softphone: IcephoneRun | undefined;
    let sipp: ManagedProcess | undefined;
    const dump = spawnProcess('ip', ['netns', 'exec', nsNat, 'tcpdump', '-i', natPublicIf, '-n', '-U', '-w', pcap, 'udp'], { name: 'tcpdump' });
    try {
      await dump.waitForOutput(/listening on/, 15000);
      gateway = runIcephone([
        'gateway', '--listen', `${GW_IP}:5070`, '--pbx-listen', '127.0.0.3:5080', '--pbx', 'sip:127.0.0.1:5060', '--pbx-domain', 'icephone.test',
        '--media-address', GW_IP, '--keepalive', '1', '--json', '--trace',
      ], { prefix: site });
      await gateway.waitForStderr(/gateway: listening on/, 20000);
      softphone = runIcephone([
        'answer', '--listen', `${PHONE_IP}:5060`, '--register', 'sip:alice@icephone.test', '--outbound-proxy', `sip:${GW_IP}:5070`,
        '--auth-user', 'alice', '--auth-pass', PASSWORD, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'softphone.wav'), '--json',
      ], { prefix: ['ip', 'netns', 'exec', nsPhone] });
      await softphone.waitForStderr(/sip: listening/, 30000);
      const reg = await gateway.waitForStderr(/gateway: registration registered sip:alice@icephone\.test contact (\S+) via (\S+):(\d+) as (\S+)/, 10000);
      expect(reg[1], 'the Contact the softphone wrote: private').to.equal(`sip:alice@${PHONE_IP}:5060`);
      expect(reg[2], 'the flow: the NAT\'s public side').to.equal(NAT_PUBLIC_IP);
      const flowPort = Number(reg[3]);

      // Keep-alives to the NAT mapping, seen on the NAT's public interface.
      const deadline = Date.now() + 10000;
      while (keepalivesIn(pcap).length < 2) {
        if (Date.now() > deadline) throw new Error(`fewer than 2 CRLF keep-alives from ${GW_IP}:5070 captured in 10 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const to of keepalivesIn(pcap)) expect(to).to.deep.equal({ address: NAT_PUBLIC_IP, port: flowPort });

      sipp = spawnProcess('ip', [
        ...site.slice(1), 'sipp', '127.0.0.1:5060', '-sf', join(root, 'scenarios', 'sipp-plain-uac-proxied.xml'), '-s', 'alice', '-i', '127.0.0.5', '-p', '5090',
        '-m', '1', '-rtp_echo', '-mp', '6000', '-mi', '127.0.0.5', '-nostdin', '-timeout', '40s', '-timeout_error',
      ], { name: 'sipp-pbx-phone', cwd: dir });
      expect(await sipp.waitForExit(45000), sipp.tail(3000)).to.equal(0);
      expect(await exitWithin(softphone, 30000), softphone.stderr().slice(-4000)).to.equal(0);
      const [sp] = softphone.summaries();
      expect(sp.ice.format).to.equal('ice');
      expect(sp.ice.selectedPair.remote.address).to.equal(GW_IP);
      expect(sp.rtp.packetsReceived).to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'softphone.wav'), 660, { skipMs: 500 });
      expect(gateway.stderr(), 'the INVITE went to the NAT mapping, not the private Contact')
        .to.match(new RegExp(`endpoint: >>> to ${NAT_PUBLIC_IP.replace(/\./g, '\\.')}:${flowPort}\\nINVITE sip:alice@10\\.0\\.0\\.2:5060 SIP/2\\.0`));
      expect(gateway.stderr()).to.not.match(/endpoint: >>> to 10\.0\.0\.2:/);
      const [g] = gateway.summaries();
      expect(g.bridge).to.deep.include({ direction: 'pbx-to-endpoint', outcome: 'answered' });
      expect(g.relayed.toEndpoint.relayed).to.be.greaterThan(100);
      expect(g.relayed.toPbx.relayed).to.be.greaterThan(100);
    } finally {
      softphone?.kill();
      await sipp?.stop();
      if (gateway) {
        gateway.kill();
        await exitWithin(gateway, 10000).catch(() => undefined);
      }
      await dump.stop();
    }
  });
});
