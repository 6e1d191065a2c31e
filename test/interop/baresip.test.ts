/**
 * Interop with a real ICE peer, Debian's baresip (modules ice, g711, ausine, sndfile): icephone
 * calls baresip and baresip calls icephone; ICE completes on both sides and the 440 Hz tone each
 * side sends is found in the other side's recording.
 *
 * baresip's ice module never gathers on loopback, so each peer runs in a network namespace of
 * the test's own, joined by a veth pair on 198.51.100.0/24 (a documentation range that exists
 * only inside these namespaces).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const ICEPHONE_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';

describe('interop with baresip (ICE, G.711)', function () {
  this.timeout(60000);
  let lab: NetnsLab | undefined;
  let nsIcephone = '';
  let nsBaresip = '';
  let peer: BaresipInstance | undefined;

  before(function () {
    const ns = netnsSupport();
    const missing = !baresipAvailable() ? 'baresip is not installed' : missingBaresipModules().length ? `baresip modules missing: ${missingBaresipModules().join(', ')}` : undefined;
    if (!isRoot()) {
      process.stderr.write(`skipped: baresip interop needs root for network namespaces (run make test as root)\n`);
      this.skip();
    }
    if (missing) throw new Error(`${missing}: run scripts/install-deps.sh as root`);
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    lab = new NetnsLab();
    nsIcephone = lab.createNamespace('ice');
    nsBaresip = lab.createNamespace('bsp');
    lab.connect(nsIcephone, `${ICEPHONE_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
  });

  afterEach(async () => {
    if (peer) {
      await peer.stop();
      peer = undefined;
    }
  });

  after(() => lab?.destroy());

  function checkIcephoneSummary(s: any, role: string): void {
    expect(['connected', 'completed']).to.include(s.ice.state);
    expect(s.ice.role).to.equal(role);
    expect(s.ice.format).to.equal('ice');
    expect(s.ice.selectedPair.local.address).to.equal(ICEPHONE_IP);
    expect(s.ice.selectedPair.remote.address).to.equal(BARESIP_IP);
    expect(s.rtp.packetsSent).to.be.greaterThan(100);
    expect(s.rtp.packetsReceived).to.be.greaterThan(100);
  }

  /** After the call: icephone exited 0 with the expected pair and role, baresip completed ICE in the
   * other role, and each recording holds the other side's 440 Hz tone. */
  async function checkCall(run: IcephoneRun, role: 'controlling' | 'controlled', dir: string): Promise<void> {
    const code = await exitWithin(run, 40000);
    expect(code, run.stderr().slice(-4000)).to.equal(0);
    const [s] = run.summaries();
    checkIcephoneSummary(s, role);
    const ice = await peer!.waitForIceCompleted(5000);
    expect(ice.completed).to.equal(true);
    expect(ice.role).to.equal(role === 'controlling' ? 'controlled' : 'controlling');
    await peer!.waitForCallTerminated(10000);
    await peer!.stop();
    const heard = peer!.decodedWavs();
    expect(heard, 'baresip recorded the call').to.have.length.greaterThan(0);
    await assertToneInWav(heard[heard.length - 1], 440);
    await assertToneInWav(join(dir, 'icephone.wav'), 440);
  }

  it('icephone calls baresip: ICE completes on both sides and each hears the other\'s 440 Hz tone', async () => {
    const dir = testTempDir('icephone-bsp-');
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const call = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--duration', '4', '--play', 'tone:440', '--record', join(dir, 'icephone.wav'), '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await checkCall(call, 'controlling', dir);
  });

  it('baresip calls icephone: ICE completes on both sides and each hears the other\'s 440 Hz tone', async () => {
    const dir = testTempDir('icephone-bsp-');
    const answer = runIcephone(
      ['answer', '--listen', `${ICEPHONE_IP}:5070`, '--max-calls', '1', '--duration', '4', '--play', 'tone:440', '--record', join(dir, 'icephone.wav'), '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await answer.waitForStderr(/sip: listening/, 15000);
    peer = await startBaresip({ listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, dial: `sip:bob@${ICEPHONE_IP}:5070` });
    await checkCall(answer, 'controlled', dir);
  });

  it('baresip calls `icephone answer --ice-lite`: baresip controls and nominates, icephone completes (RFC 8445 §8.2)', async () => {
    const dir = testTempDir('icephone-bsp-');
    const answer = runIcephone(
      ['answer', '--listen', `${ICEPHONE_IP}:5070`, '--ice-lite', '--max-calls', '1', '--duration', '4', '--play', 'tone:440', '--record', join(dir, 'icephone.wav'), '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await answer.waitForStderr(/sip: listening/, 15000);
    peer = await startBaresip({ listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, dial: `sip:bob@${ICEPHONE_IP}:5070` });
    await checkCall(answer, 'controlled', dir);
    expect(answer.stderr()).to.match(/^a=ice-lite\r?$/m);
    const [s] = answer.summaries();
    expect(s.ice.state).to.equal('completed');
    expect(s.ice.selectedPair.nominated).to.equal(true);
    expect(s.ice.localCandidates.every((c: any) => c.type === 'host')).to.equal(true);
  });
});
