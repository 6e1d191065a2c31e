/**
 * SIP over TLS (RFC 3261 §26.2) with SRTP keyed by SDES (RFC 4568) against Debian's baresip, in
 * network namespaces as test/interop/baresip.test.ts: icephone calls baresip and baresip calls
 * icephone over TLS, with baresip `mediaenc=srtp-mand` against icephone `--srtp mandatory`, and
 * best-effort `mediaenc=srtp` against `--srtp optional`. No `--srtp-allow-insecure-keys`: over TLS
 * the keys may go in the SDP (RFC 4568 §8.3). Each call checks what a user would: the INVITE
 * crossed TLS (baresip's own SIP trace), both sides report the same SRTP suite, icephone's `--json`
 * summary says `sip.transport` tls and names the suite, and each side hears the other's tone.
 * And the trust check is real: with another CA as `--tls-ca` icephone refuses baresip's
 * certificate, no INVITE reaches baresip, and the call fails.
 *
 * Certificates: the test CA of test/helpers/certs.ts signs one leaf per peer with its namespace
 * address as subjectAltName (RFC 5922 §7.1), so icephone verifies baresip's certificate with
 * `--tls-ca` (baresip 1.0.0 does not verify servers at all; see test/helpers/baresip.ts).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { testCertificates, type TestCertificates } from '../helpers/certs.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const ICEPHONE_IP = '198.51.100.1';
const BARESIP_IP = '198.51.100.2';
const run = promisify(execFile);

interface Leaf { certFile: string; keyFile: string; combinedFile: string }

/** A leaf signed by the test CA whose only subjectAltName is `IP:ip`. */
async function leafFor(certs: TestCertificates, dir: string, name: string, ip: string): Promise<Leaf> {
  const f = (suffix: string) => join(dir, `${name}${suffix}`);
  writeFileSync(f('.ext'), `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('.key'), '-out', f('.csr'), '-subj', `/CN=${ip}`]);
  await run('openssl', ['x509', '-req', '-in', f('.csr'), '-CA', certs.caFile, '-CAkey', certs.caKeyFile, '-set_serial', `0x${Date.now().toString(16)}${name.length}`, '-days', '2', '-extfile', f('.ext'), '-out', f('.pem')]);
  writeFileSync(f('-combined.pem'), readFileSync(f('.pem'), 'utf8') + readFileSync(f('.key'), 'utf8'));
  return { certFile: f('.pem'), keyFile: f('.key'), combinedFile: f('-combined.pem') };
}

describe('interop with baresip over TLS with SRTP', function () {
  this.timeout(120000);
  let lab: NetnsLab | undefined;
  let nsIcephone = '';
  let nsBaresip = '';
  let peer: BaresipInstance | undefined;
  let certs: TestCertificates;
  let icephoneLeaf: Leaf;
  let baresipLeaf: Leaf;

  before(async function () {
    if (!isRoot()) {
      process.stderr.write('skipped: baresip interop needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    if (!baresipAvailable() || missingBaresipModules().length) throw new Error('baresip or its modules missing: run scripts/install-deps.sh as root');
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    certs = await testCertificates();
    const dir = mkdtempSync(join(certs.dir, 'netns-leaves-'));
    icephoneLeaf = await leafFor(certs, dir, 'icephone', ICEPHONE_IP);
    baresipLeaf = await leafFor(certs, dir, 'baresip', BARESIP_IP);
    lab = new NetnsLab();
    nsIcephone = lab.createNamespace('tice');
    nsBaresip = lab.createNamespace('tbsp');
    lab.connect(nsIcephone, `${ICEPHONE_IP}/24`, nsBaresip, `${BARESIP_IP}/24`);
  });
  afterEach(async () => {
    if (peer) await peer.stop();
    peer = undefined;
  });
  after(() => lab?.destroy());

  const tlsFlags = (): string[] => ['--transport', 'tls', '--tls-cert', icephoneLeaf.certFile, '--tls-key', icephoneLeaf.keyFile, '--tls-ca', certs.caFile];

  /** After one call: the checks of the file's docstring, for icephone's run `ice` and the current `peer`. */
  async function checkCall(ice: IcephoneRun, direction: string, dir: string): Promise<void> {
    const code = await exitWithin(ice, 40000);
    expect(code, `${direction}: ${ice.stderr().slice(-4000)}`).to.equal(0);
    const [s] = ice.summaries();
    expect(s.sip.transport, direction).to.equal('tls');
    expect(s.srtp, `${direction}: ${ice.stderr().split('\n').filter((l: string) => /crypto|SAVP|srtp/i.test(l)).join('\n')}`).to.not.equal(null);
    expect(s.rtp.packetsReceived, direction).to.be.greaterThan(100);
    expect(s.dropped.srtp, direction).to.be.at.most(2);
    await peer!.waitForCallTerminated(10000);
    await peer!.stop();
    const out = peer!.process.output();
    // baresip's -s trace heads every message with "PROTO SRC -> DST"; the INVITE went over TLS.
    expect(out, `${direction}: baresip's trace`).to.match(/^TLS \S+ -> \S+\r?\n+INVITE sip:/m);
    expect(out).to.not.match(/^(UDP|TCP) \S+ -> \S+\r?\n+INVITE sip:/m);
    // Both ends name the same suite.
    const m = out.match(/SRTP is Enabled \(cryptosuite=(\S+)\)/);
    expect(m, `${direction}: baresip did not enable SRTP`).to.not.equal(null);
    expect(s.srtp.suite, direction).to.equal(m![1]);
    const heard = peer!.decodedWavs();
    expect(heard.length, `${direction}: baresip recorded the call`).to.be.greaterThan(0);
    await assertToneInWav(heard[heard.length - 1]!, 660);
    await assertToneInWav(join(dir, 'icephone.wav'), 440);
    peer = undefined;
  }

  it('icephone does not trust another CA: the TLS handshake with baresip fails, no INVITE reaches it, the call fails', async () => {
    peer = await startBaresip({
      listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, sipTrace: true,
      accountParams: ['mediaenc=srtp-mand'], extraModules: ['srtp.so'], tls: { combinedFile: baresipLeaf.combinedFile, caFile: certs.caFile },
    });
    const call = runIcephone(
      ['call', peer.uri, '--listen', `${ICEPHONE_IP}:5070`, '--transport', 'tls', '--tls-cert', icephoneLeaf.certFile, '--tls-key', icephoneLeaf.keyFile,
        '--tls-ca', certs.otherCaFile, '--duration', '2', '--srtp', 'mandatory', '--json'],
      { prefix: ['ip', 'netns', 'exec', nsIcephone] },
    );
    const code = await exitWithin(call, 40000);
    expect(code, call.stderr().slice(-3000)).to.equal(1);
    expect(call.stderr()).to.match(/TLS to 198\.51\.100\.2:5061: server certificate not trusted/);
    expect(peer.process.output()).to.not.match(/INVITE sip:/);
    expect(peer.process.output()).to.not.match(/Call established/);
  });

  for (const [mode, policy] of [['srtp-mand', 'mandatory'], ['srtp', 'optional']] as const) {
    it(`icephone --srtp ${policy} calls baresip mediaenc=${mode} over TLS: SRTP both ways, tones heard both ways`, async () => {
      const dir = testTempDir('icephone-bsp-tls-');
      peer = await startBaresip({
        listenPort: 5060, user: 'bob', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, sipTrace: true,
        accountParams: [`mediaenc=${mode}`], extraModules: ['srtp.so'], tls: { combinedFile: baresipLeaf.combinedFile, caFile: certs.caFile },
      });
      expect(peer.uri).to.equal(`sip:bob@${BARESIP_IP}:5061;transport=tls`);
      const call = runIcephone(
        ['call', peer.uri, '--listen', `${ICEPHONE_IP}:5070`, ...tlsFlags(), '--duration', '4', '--srtp', policy,
          '--play', 'tone:660', '--record', join(dir, 'icephone.wav'), '--json', '--trace'],
        { prefix: ['ip', 'netns', 'exec', nsIcephone] },
      );
      await checkCall(call, 'icephone calls', dir);
    });

    it(`baresip mediaenc=${mode} calls icephone --srtp ${policy} over TLS: SRTP both ways, tones heard both ways`, async () => {
      const dir = testTempDir('icephone-bsp-tls-');
      const answer = runIcephone(
        ['answer', '--listen', `${ICEPHONE_IP}:5070`, ...tlsFlags(), '--max-calls', '1', '--duration', '4', '--srtp', policy,
          '--play', 'tone:660', '--record', join(dir, 'icephone.wav'), '--json', '--trace'],
        { prefix: ['ip', 'netns', 'exec', nsIcephone] },
      );
      await answer.waitForStderr(/sip: listening/, 15000);
      peer = await startBaresip({
        listenPort: 5060, user: 'alice', host: BARESIP_IP, netns: nsBaresip, toneHz: 440, sipTrace: true,
        accountParams: [`mediaenc=${mode}`], extraModules: ['srtp.so'], tls: { combinedFile: baresipLeaf.combinedFile, caFile: certs.caFile },
        dial: `sip:bob@${ICEPHONE_IP}:5070;transport=tls`,
      });
      await checkCall(answer, 'baresip calls', dir);
    });
  }
});
