/**
 * Half trickle (RFC 8838 §4) toward a peer without trickle ICE: `icephone call --trickle half` to
 * Debian's baresip (whose ice module has no trickle) sends a full first offer (every candidate,
 * a=end-of-candidates) that also says a=ice-options:trickle, sends no INFO (baresip never showed
 * support), and the call connects with the tone heard both ways. Namespaces on 198.51.100.0/24 as
 * in baresip.test.ts (baresip gathers no loopback candidates).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { parseTrace } from '../e2e/preconditions-trace.js';
import { testTempDir } from '../helpers/tmp.js';

const ICEPHONE_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';

describe('half trickle toward baresip (no trickle ICE)', function () {
  this.timeout(60000);
  let lab: NetnsLab | undefined;
  let nsIcephone = '';
  let nsBaresip = '';
  let peer: BaresipInstance | undefined;

  before(function () {
    const ns = netnsSupport();
    const missing = !baresipAvailable() ? 'baresip is not installed' : missingBaresipModules().length ? `baresip modules missing: ${missingBaresipModules().join(', ')}` : undefined;
    if (!isRoot()) {
      process.stderr.write('skipped: baresip interop needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    if (missing) throw new Error(`${missing}: run scripts/install-deps.sh as root`);
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    lab = new NetnsLab();
    nsIcephone = lab.createNamespace('tice');
    nsBaresip = lab.createNamespace('tbsp');
    lab.connect(nsIcephone, `${ICEPHONE_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
  });

  afterEach(async () => {
    if (peer) {
      await peer.stop();
      peer = undefined;
    }
  });

  after(() => lab?.destroy());

  it('icephone --trickle half calls baresip: full offer with end-of-candidates, no INFO, ICE completes, tone both ways', async () => {
    const dir = testTempDir('icephone-bsp-trickle-');
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const run = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--trickle', 'half', '--trace', '--duration', '4', '--play', 'tone:440', '--record', join(dir, 'icephone.wav'), '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    const code = await exitWithin(run, 40000);
    expect(code, run.stderr().slice(-4000)).to.equal(0);
    const [s] = run.summaries();
    const trace = parseTrace(run.stderr());
    const invite = trace.find((m) => m.dir === 'send' && m.label === 'INVITE')!;
    expect(invite.sdp).to.include('a=ice-options:trickle');
    expect(invite.sdp).to.include('a=end-of-candidates');
    const offered = invite.sdp.filter((l) => l.startsWith('a=candidate:')).length;
    // The full offer: every candidate gathered (both components, as offered before rtcp-mux was settled).
    expect(offered).to.be.at.least(s.ice.localCandidates.length);
    expect(trace.some((m) => m.label === 'INFO'), 'no INFO toward a peer without trickle').to.equal(false);
    expect(s.call.trickle).to.include({ mode: 'half', infoSent: 0, fragmentsApplied: 0 });
    expect(['connected', 'completed']).to.include(s.ice.state);
    expect(s.ice.selectedPair.remote.address).to.equal(BARESIP_IP);
    const ice = await peer.waitForIceCompleted(5000);
    expect(ice.completed).to.equal(true);
    await peer.waitForCallTerminated(10000);
    await peer.stop();
    const heard = peer.decodedWavs();
    expect(heard, 'baresip recorded the call').to.have.length.greaterThan(0);
    await assertToneInWav(heard[heard.length - 1]!, 440);
    await assertToneInWav(join(dir, 'icephone.wav'), 440);
  });
});
