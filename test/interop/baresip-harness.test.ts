/**
 * Proves the baresip harness: baresip "alice" calls baresip "bob" (each in a network namespace) with ICE
 * (`medianat=ice`), both send a 440 Hz sine for a few seconds, and each side's decoded WAV
 * (what it heard) holds that tone. If this fails, interop failures against baresip say nothing
 * about icephone.
 */
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { strict as assert } from 'node:assert';
import {
  baresipAvailable,
  iceHostAddresses,
  missingBaresipModules,
  parseBaresipLine,
  startBaresip,
  type BaresipIceResult,
  type BaresipInstance,
} from '../helpers/baresip.js';
import { freePortPair } from '../helpers/ports.js';
import { isRoot, skipUnless, which } from '../helpers/process.js';
import { analyzeWav, assertToneInWav } from '../helpers/tone.js';

const TONE_HZ = 440;
const RMS_FLOOR = 0.01; // ausine's sine through PCMU measures about 0.2; silence is 0.
const CALL_SECONDS = 5;

/** Asserts that a decoded WAV holds at least `minSeconds` of audio with energy, dominated by `hz`. */
async function assertTone(path: string, hz: number, minSeconds: number): Promise<void> {
  // Skip the first half second (call set-up, jitter buffer fill).
  const analysis = await analyzeWav(path, hz, { skipMs: 500 });
  assert.ok(analysis.durationMs >= minSeconds * 1000, `${path}: ${analysis.durationMs} ms of audio, expected at least ${minSeconds} s`);
  assert.ok(analysis.rms > RMS_FLOOR, `${path}: RMS ${analysis.rms.toFixed(4)} is not above ${RMS_FLOOR} (silence?)`);
  await assertToneInWav(path, hz, { skipMs: 500 });
}

describe('baresip harness: output parser', function () {
  it('reads ICE state, role and the selected pairs from the lines baresip 1.0.0 prints', function () {
    const result: BaresipIceResult = { completed: false, failed: false, selectedPairs: [] };
    for (const line of [
      'ice: audio: Default local candidates: 192.0.2.2:10438 / 192.0.2.2:10439',
      'ice: audio: connectivity check is complete (update=1)',
      ' local_mode=Full, remote_mode=Full, local_role=Controlling',
      '  *  {comp=1}  Succeeded {DVN} eth0:host:192.0.2.2:10438 <---> host:192.0.2.2:8006',
      '     {comp=1}  Succeeded { V } eth0:host:192.0.2.2:10438 <---> prflx:192.0.2.2:9000',
      '  *  {comp=2}  Succeeded {DVN} eth0:host:192.0.2.2:10439 <---> host:192.0.2.2:8007',
      "stream: mnat 'ice' connected: raddr 192.0.2.2:8006 192.0.2.2:8007",
    ]) {
      parseBaresipLine(line, result);
    }
    assert.deepEqual(result, {
      completed: true,
      failed: false,
      role: 'controlling',
      defaultLocal: ['192.0.2.2:10438', '192.0.2.2:10439'],
      connectedRemote: ['192.0.2.2:8006', '192.0.2.2:8007'],
      selectedPairs: [
        {
          component: 1,
          flags: 'DVN',
          local: { type: 'host', address: '192.0.2.2', port: 10438, interfaceName: 'eth0' },
          remote: { type: 'host', address: '192.0.2.2', port: 8006 },
        },
        {
          component: 2,
          flags: 'DVN',
          local: { type: 'host', address: '192.0.2.2', port: 10439, interfaceName: 'eth0' },
          remote: { type: 'host', address: '192.0.2.2', port: 8007 },
        },
      ],
    });

    const failed: BaresipIceResult = { completed: false, failed: false, selectedPairs: [] };
    parseBaresipLine('\x1b[31mice: set default cands failed (No such file or directory)', failed);
    assert.equal(failed.failed, true);
    assert.equal(failed.failure, 'ice: set default cands failed (No such file or directory)');
  });
});

const ALICE_IP = '198.51.100.11';
const BOB_IP = '198.51.100.12';

describe('interop: baresip harness', function () {
  this.timeout(40_000);
  let lab: NetnsLab | undefined;
  let nsAlice = '';
  let nsBob = '';

  before(function () {
    if (!baresipAvailable()) {
      const what = which('baresip') ? `baresip modules missing: ${missingBaresipModules().join(', ')}` : 'baresip is not installed';
      // As root, scripts/install-deps.sh should have installed it: that is a failure, not a skip.
      if (isRoot()) throw new Error(`${what} although running as root: run scripts/install-deps.sh`);
      skipUnless.call(this, false, `${what} (install baresip-core, e.g. sudo scripts/install-deps.sh)`);
    }
    // baresip 1.0.0 never uses loopback addresses as ICE candidates, and test traffic stays on
    // loopback or in namespaces of our own: each baresip runs in its own namespace.
    if (!isRoot()) skipUnless.call(this, false, 'the two-baresip call needs root for its network namespaces');
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    lab = new NetnsLab();
    nsAlice = lab.createNamespace('alice');
    nsBob = lab.createNamespace('bob');
    lab.connect(nsAlice, `${ALICE_IP}/24`, nsBob, `${BOB_IP}/24`);
  });

  after(() => lab?.destroy());

  describe('two baresips in network namespaces', function () {
    let bob: BaresipInstance | undefined;
    let alice: BaresipInstance | undefined;
    let passed = false;

    afterEach(async function () {
      await Promise.all([alice?.stop(), bob?.stop()]);
      if (passed) {
        alice?.remove();
        bob?.remove();
      } else {
        for (const peer of [alice, bob]) if (peer) process.stderr.write(`kept ${peer.dir} (baresip.log, WAVs) for inspection\n`);
      }
    });

    it('alice calls bob with ICE and each hears the other\'s 440 Hz tone', async function () {
      bob = await startBaresip({ listenPort: 5060, user: 'bob', toneHz: TONE_HZ, host: BOB_IP, netns: nsBob });
      alice = await startBaresip({
        listenPort: 5060,
        host: ALICE_IP,
        netns: nsAlice,
        user: 'alice',
        toneHz: TONE_HZ,
        dial: bob.uri,
        durationSec: CALL_SECONDS,
      });

      assert.equal(await alice.waitForCallEstablished(5_000), bob.uri);
      assert.equal(await bob.waitForCallEstablished(5_000), alice.uri);

      const aliceIce = await alice.waitForIceCompleted(5_000);
      const bobIce = await bob.waitForIceCompleted(5_000);
      assert.equal(aliceIce.role, 'controlling');
      assert.equal(bobIce.role, 'controlled');
      await alice.waitForIncomingRtp(5_000);
      await bob.waitForIncomingRtp(5_000);

      // -t ends alice's process, which hangs up; bob then reports the end of the call.
      assert.equal(await alice.process.waitForExit((CALL_SECONDS + 5) * 1000), 0);
      await bob.waitForCallTerminated(5_000);
      await bob.stop();

      // ICE ran on the namespaces' addresses and each side's selected remote candidate is the
      // other side's RTP candidate.
      const hostAddresses = [ALICE_IP, BOB_IP];
      for (const [name, result] of [['alice', alice.iceResult()], ['bob', bob.iceResult()]] as const) {
        assert.equal(result.completed, true, `${name}: ICE not completed`);
        assert.equal(result.selectedPairs.length, 2, `${name}: expected selected pairs for RTP and RTCP`);
        for (const pair of result.selectedPairs) {
          assert.ok(hostAddresses.includes(pair.local.address), `${name}: local ${pair.local.address} not one of ${hostAddresses.join(', ')}`);
          assert.ok(pair.flags.includes('N'), `${name}: selected pair not nominated (${pair.flags})`);
        }
      }
      const aliceRtp = alice.iceResult().selectedPairs[0]!;
      const bobRtp = bob.iceResult().selectedPairs[0]!;
      assert.equal(`${aliceRtp.remote.address}:${aliceRtp.remote.port}`, `${bobRtp.local.address}:${bobRtp.local.port}`);
      assert.equal(`${bobRtp.remote.address}:${bobRtp.remote.port}`, `${aliceRtp.local.address}:${aliceRtp.local.port}`);

      for (const peer of [alice, bob]) {
        const decoded = peer.decodedWavs();
        assert.equal(decoded.length, 1, `${peer.uri}: expected one decoded WAV in ${peer.dir}`);
        assert.equal(peer.encodedWavs().length, 1, `${peer.uri}: expected one encoded WAV in ${peer.dir}`);
        await assertTone(decoded[0]!, TONE_HZ, CALL_SECONDS - 2);
      }
      passed = true;
    });
  });
});
