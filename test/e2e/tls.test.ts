/**
 * SIP over TLS (RFC 3261 §26, RFC 5630 sips:) between icephone processes on loopback, with SRTP
 * keyed by SDES, which TLS makes allowed (RFC 4568 §8.3: no --srtp-allow-insecure-keys): tones
 * found both ways in the recordings; a tcpdump capture shows the SIP port carried TLS only (no
 * plaintext INVITE or a=crypto) and the media decoded as plain PCMU holds no tone. A caller that
 * does not trust the callee's CA fails in one line naming the certificate; --tls-insecure then
 * connects with one warning line; unreadable certificate files exit 2.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCertificates } from '../helpers/certs.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { readPcapFile } from '../helpers/pcap.js';
import { assertToneUnreadableOnWire } from '../helpers/srtp-capture.js';
import { freeTcpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('e2e: SIP over TLS with SRTP', function () {
  this.timeout(90000);

  it('sips call with --srtp mandatory and no insecure-keys flag: TLS on the wire, tones both ways, nothing readable in the capture', async function () {
    if (!which('tcpdump')) {
      if (isRoot()) throw new Error('tcpdump missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: tcpdump not installed\n');
      this.skip();
    }
    const certs = await testCertificates();
    const dir = testTempDir('icephone-tls-');
    const port = await freeTcpPort();
    // Two captures: the SIP port only (other tests on this machine send SIP over UDP on lo), and UDP for the media.
    const sipPcap = join(dir, 'sip.pcap');
    const pcap = join(dir, 'media.pcap');
    const sipDump = spawnProcess('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-w', sipPcap, `tcp port ${port}`], { name: 'tcpdump-sip' });
    const dump = spawnProcess('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-w', pcap, 'udp'], { name: 'tcpdump-media' });
    await sipDump.waitForOutput(/listening on/, 15000);
    await dump.waitForOutput(/listening on/, 15000);
    let caller;
    let callee;
    let cc;
    let ac;
    try {
      callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--transport', 'tls', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile,
        '--max-calls', '1', '--srtp', 'mandatory', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace']);
      await callee.waitForStderr(/sip: listening/, 15000);
      caller = runIcephone(['call', `sips:bob@localhost:${port}`, '--listen', '127.0.0.1:0', '--tls-ca', certs.caFile, '--srtp', 'mandatory',
        '--duration', '3', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace']);
      cc = await exitWithin(caller, 30000);
      ac = await exitWithin(callee, 30000);
    } finally {
      await Promise.all([sipDump.stop(), dump.stop()]);
    }
    expect(cc, caller.stderr().slice(-3000)).to.equal(0);
    expect(ac, callee.stderr().slice(-3000)).to.equal(0);
    // The SIP went over TLS: our trace says so, and so does the Via we sent.
    expect(caller.stderr()).to.match(new RegExp(`^>>> to 127\\.0\\.0\\.1:${port} \\(tls\\)\\nINVITE sips:bob@localhost:${port} SIP/2\\.0$`, 'm'));
    expect(caller.stderr()).to.match(/^Via: SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=/m);
    expect(callee.stderr()).to.match(/^<<< from 127\.0\.0\.1:\d+ \(tls\)\nBYE sips:/m);
    expect(caller.stderr()).to.match(/^m=audio \d+ RTP\/SAVP /m);
    for (const t of [caller.stderr(), callee.stderr()]) expect(t, 'no key material in the trace').to.not.match(/inline:[A-Za-z0-9+/]{20,}/);
    const [cs] = caller.summaries();
    const [as] = callee.summaries();
    expect(cs.sip).to.deep.equal({ transport: 'tls' });
    expect(as.sip).to.deep.equal({ transport: 'tls' });
    expect(cs.srtp).to.deep.equal({ suite: 'AES_CM_128_HMAC_SHA1_80' });
    expect(as.srtp).to.deep.equal({ suite: 'AES_CM_128_HMAC_SHA1_80' });
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);

    // The SIP port: TLS records (a handshake), and none of the SIP or SDP in the clear.
    const raw = readFileSync(sipPcap);
    expect(readPcapFile(sipPcap).records, 'TCP segments on the SIP port captured').to.be.greaterThan(10);
    expect(raw.includes(Buffer.from([0x16, 0x03])), 'a TLS handshake record').to.equal(true);
    for (const plain of ['INVITE sip', 'SIP/2.0', 'a=crypto', 'inline:', 'Call-ID']) expect(raw.includes(Buffer.from(plain)), `"${plain}" in the capture`).to.equal(false);
    // The media: SRTP, so decoding the caller's packets as plain PCMU gives no tone.
    assertToneUnreadableOnWire(pcap, cs.ice.selectedPair.local.port, as.ice.selectedPair.local.port, 440);
  });

  it('a caller that does not trust the callee\'s CA fails in one line naming the certificate; --tls-insecure connects with one warning', async () => {
    const certs = await testCertificates();
    const dir = testTempDir('icephone-tls-');
    const port = await freeTcpPort();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--transport', 'tls', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile,
      '--max-calls', '1', '--srtp', 'mandatory', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const common = ['--listen', '127.0.0.1:0', '--srtp', 'mandatory', '--duration', '2', '--play', 'tone:440', '--json'];
    const refused = runIcephone(['call', `sips:bob@localhost:${port}`, '--tls-ca', certs.otherCaFile, ...common]);
    expect(await exitWithin(refused, 30000)).to.equal(1);
    const last = refused.stderr().trim().split('\n').pop()!;
    expect(last).to.match(new RegExp(`^icephone: call failed: 503 Service Unavailable \\(TLS to localhost at 127\\.0\\.0\\.1:${port}: server certificate not trusted: not issued by a trusted CA \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)\\)$`));
    expect(refused.summaries()[0].call.state).to.equal('failed');
    expect(callee.stderr(), 'no call reached the callee').to.not.match(/incoming call/);

    const insecure = runIcephone(['call', `sips:bob@localhost:${port}`, '--tls-ca', certs.otherCaFile, '--tls-insecure', ...common]);
    const ic = await exitWithin(insecure, 30000);
    expect(ic, insecure.stderr().slice(-2000)).to.equal(0);
    expect(insecure.stderr().split('\n').filter((l) => /--tls-insecure/.test(l))).to.deep.equal([
      'icephone: warning: --tls-insecure: the server\'s TLS certificate is not checked (anyone on the path can read the SIP and the SRTP keys)',
    ]);
    expect(await exitWithin(callee, 30000), callee.stderr().slice(-2000)).to.equal(0);
    expect(insecure.summaries()[0].srtp).to.deep.equal({ suite: 'AES_CM_128_HMAC_SHA1_80' });
    await assertToneInWav(join(dir, 'callee.wav'), 440);
  });

  it('bad TLS flags exit 2 with one line', async () => {
    const certs = await testCertificates();
    for (const [args, reason] of [
      [['answer', '--listen', '127.0.0.1:0', '--transport', 'tls'], /answering needs --tls-cert FILE and --tls-key FILE/],
      [['call', 'sips:bob@127.0.0.1:5061', '--listen', '127.0.0.1:0', '--tls-ca', join(certs.dir, 'missing.pem')], /--tls-ca: cannot read .*missing\.pem: ENOENT/],
      [['call', 'sips:bob@127.0.0.1:5061', '--listen', '127.0.0.1:0', '--transport', 'udp'], /sips: URI is reached over TLS only/],
    ] as const) {
      const run = runIcephone([...args]);
      expect(await exitWithin(run, 15000)).to.equal(2);
      expect(run.stderr().trim().split('\n'), run.stderr()).to.have.length(1);
      expect(run.stderr()).to.match(reason);
    }
  });
});
