/**
 * Hold both ways and DTMF with Debian's baresip (in network namespaces, as test/interop/baresip.test.ts):
 * icephone holds baresip (re-INVITE sendonly), baresip holds icephone (its `hold` command over
 * ctrl_tcp); while held neither side's RTP counter moves (iptables counts every non-SIP UDP
 * datagram arriving in each namespace) and after the resume both rise again. DTMF sent by
 * `icephone call --dtmf` is reported by baresip.
 */
import { expect } from 'chai';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot } from '../helpers/process.js';

const ICEPHONE_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';

describe('interop with baresip: hold, resume and DTMF', function () {
  this.timeout(90000);
  let lab: NetnsLab | undefined;
  let nsIcephone = '';
  let nsBaresip = '';
  let peer: BaresipInstance | undefined;

  before(function () {
    if (!isRoot()) {
      process.stderr.write('skipped: baresip interop needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    if (!baresipAvailable() || missingBaresipModules().length) throw new Error('baresip or its modules missing: run scripts/install-deps.sh as root');
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    lab = new NetnsLab();
    nsIcephone = lab.createNamespace('ice');
    nsBaresip = lab.createNamespace('bsp');
    lab.connect(nsIcephone, `${ICEPHONE_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
    // Counting rules (no target): every UDP datagram that is not SIP, per namespace.
    for (const ns of [nsIcephone, nsBaresip]) lab.exec(ns, 'iptables', ['-A', 'INPUT', '-p', 'udp', '!', '--dport', '5060', '-m', 'udp', '!', '--sport', '5060']);
  });
  afterEach(async () => {
    if (peer) await peer.stop();
    peer = undefined;
  });
  after(() => lab?.destroy());

  /** Packets counted so far by the counting rule of each namespace: [icephone, baresip]. */
  function counts(): [number, number] {
    const read = (ns: string) => {
      const line = lab!.exec(ns, 'iptables', ['-L', 'INPUT', '-v', '-n', '-x']).split('\n').find((l) => /udp/.test(l) && !/DROP|ACCEPT/.test(l));
      return line ? Number(line.trim().split(/\s+/)[0]) : 0;
    };
    return [read(nsIcephone), read(nsBaresip)];
  }
  const at = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Samples [mid-hold, end of hold, after resume] measured from `t0` (ms) and checks them. */
  async function expectHeldThenResumed(t0: number, holdMs: number, resumeMs: number): Promise<void> {
    await at(t0 + holdMs + 800 - Date.now());
    const a = counts();
    await at(t0 + resumeMs - 300 - Date.now());
    const b = counts();
    await at(t0 + resumeMs + 1500 - Date.now());
    const c = counts();
    // While held: no RTP either way (RTCP, every few seconds, may still pass: a handful at most).
    expect(b[0] - a[0], `icephone received while held (${a} -> ${b})`).to.be.at.most(4);
    expect(b[1] - a[1], `baresip received while held (${a} -> ${b})`).to.be.at.most(4);
    // After the resume both streams are back (50 packets/s each way).
    expect(c[0] - b[0], 'icephone receives again').to.be.greaterThan(30);
    expect(c[1] - b[1], 'baresip receives again').to.be.greaterThan(30);
  }

  it('icephone holds baresip (re-INVITE sendonly) and resumes: both RTP counters flat while held, rising after', async () => {
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const call = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--duration', '8', '--hold-at', '2', '--resume-at', '5', '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await call.waitForStderr(/sip: answered/, 20000);
    const t0 = Date.now();
    await expectHeldThenResumed(t0, 2000, 5000);
    expect(await exitWithin(call, 30000), call.stderr().slice(-3000)).to.be.oneOf([0, 1]);
    expect(call.stderr()).to.match(/a=sendonly/);
    const [s] = call.summaries();
    expect(s.call.holds.map((h: any) => h.by)).to.deep.equal(['local']);
  });

  it('baresip holds icephone (its hold command) and resumes: both RTP counters flat while held, rising after', async () => {
    const answer = runIcephone(
      ['answer', '--listen', `${ICEPHONE_IP}:5070`, '--max-calls', '1', '--duration', '9', '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    await answer.waitForStderr(/sip: listening/, 15000);
    peer = await startBaresip({ listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, dial: `sip:bob@${ICEPHONE_IP}:5070`, ctrlPort: 4444 });
    await peer.waitForCallEstablished(20000);
    await peer.waitForIceCompleted(10000);
    const t0 = Date.now();
    await at(2000);
    await peer.command('hold');
    await at(t0 + 5000 - Date.now());
    const resumed = peer.command('resume');
    await expectHeldThenResumed(t0, 2000, 5000);
    await resumed;
    expect(await exitWithin(answer, 30000), answer.stderr().slice(-3000)).to.be.oneOf([0, 1]);
    expect(answer.stderr()).to.match(/sip: held by the peer/);
    expect(answer.stderr()).to.match(/sip: resumed by the peer/);
    const [s] = answer.summaries();
    expect(s.call.holds.map((h: any) => h.by)).to.deep.equal(['remote']);
  });

  for (const [mode, policy] of [['srtp-mand', 'mandatory'], ['srtp', 'optional']] as const) {
    it(`SRTP with baresip (mediaenc=${mode}) and icephone --srtp ${policy}, both directions: tones found both ways`, async () => {
      for (const direction of ['icephone calls', 'baresip calls']) {
        const extraModules = ['srtp.so'];
        if (direction === 'icephone calls') {
          peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, accountParams: [`mediaenc=${mode}`], extraModules });
          const call = runIcephone(
            ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--duration', '4', '--srtp', policy, '--srtp-allow-insecure-keys', '--json', '--trace'],
            { prefix: ['ip', 'netns', 'exec', nsIcephone] },
          );
          expect(await exitWithin(call, 30000), call.stderr().slice(-3000)).to.equal(0);
          const [s] = call.summaries();
          expect(s.srtp, `${direction}: ${call.stderr().split('\n').filter((l: string) => /crypto|SAVP|srtp/i.test(l)).join('\n')}`).to.not.equal(null);
          expect(s.rtp.packetsReceived).to.be.greaterThan(100);
          expect(s.dropped.srtp).to.be.at.most(2);
        } else {
          const answer = runIcephone(
            ['answer', '--listen', `${ICEPHONE_IP}:5070`, '--max-calls', '1', '--duration', '4', '--srtp', policy, '--srtp-allow-insecure-keys', '--json', '--trace'],
            { prefix: ['ip', 'netns', 'exec', nsIcephone] },
          );
          await answer.waitForStderr(/sip: listening/, 15000);
          peer = await startBaresip({ listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, dial: `sip:bob@${ICEPHONE_IP}:5070`, accountParams: [`mediaenc=${mode}`], extraModules });
          expect(await exitWithin(answer, 30000), answer.stderr().slice(-3000)).to.equal(0);
          const [s] = answer.summaries();
          expect(s.srtp, direction).to.not.equal(null);
          expect(s.rtp.packetsReceived).to.be.greaterThan(100);
        }
        await peer.waitForCallTerminated(10000);
        await peer.stop();
        const heard = peer.decodedWavs();
        expect(heard.length, 'baresip recorded the call').to.be.greaterThan(0);
        const { assertToneInWav } = await import('../helpers/tone.js');
        await assertToneInWav(heard[heard.length - 1]!, 440);
        peer = undefined;
      }
    });
  }

  it('icephone call --dtmf 159#: baresip reports the digits', async () => {
    peer = await startBaresip({ listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440 });
    const call = runIcephone(
      ['call', `sip:bob@${BARESIP_IP}:5060`, '--listen', `${ICEPHONE_IP}:5070`, '--duration', '4', '--dtmf', '159#', '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    expect(await exitWithin(call, 30000), call.stderr().slice(-3000)).to.equal(0);
    await peer.waitForCallTerminated(10000);
    // baresip 1.0 prints "received event: 'D' (end=0)" at an event's start and "(end=1)" at its end.
    const heard = [...peer.process.output().matchAll(/received event: '(\S)' \(end=1\)/g)].map((m) => m[1]).join('');
    expect(heard, peer.process.output().split('\n').filter((l) => /dtmf/i.test(l)).join('\n')).to.equal('159#');
  });
});
