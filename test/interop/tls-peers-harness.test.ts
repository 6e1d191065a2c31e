/**
 * Proves the TLS side of the peer harnesses (test/helpers/baresip.ts `tls`/`register`,
 * test/helpers/kamailio.ts `tls`) with the peers alone, so that a failure of icephone's TLS
 * interop tests says something about icephone:
 * - kamailio's TLS socket presents the test CA's server leaf (a Node TLS client verifying against
 *   the test CA and the name 127.0.0.1 connects) and answers an OPTIONS over it with 200;
 * - baresip calls baresip over TLS with SRTP (mediaenc=srtp-mand): the INVITE crosses TLS, both
 *   enable SRTP, each hears the other's tone;
 * - two baresips register at kamailio over TLS and one calls the other's AOR through it: the
 *   INVITE reaches the callee over its own registration's connection, tones both ways.
 * All on loopback without ICE (baresip's ICE ignores loopback), so no root is needed.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { baresipAvailable, missingBaresipModules, startBaresip, type BaresipInstance } from '../helpers/baresip.js';
import { testCertificates, type TestCertificates } from '../helpers/certs.js';
import { haveKamailioTls, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { freePortPair, freeTcpPort, freeUdpPort } from '../helpers/ports.js';
import { isRoot, skipUnless, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';

const CALL_SECONDS = 4;

/** Sends `request` over TLS to 127.0.0.1:port, verifying the server against `caFile`; resolves with the first response. */
function tlsRequest(port: number, caFile: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(caFile) }, () => {
      socket.write(request);
    });
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no response over TLS in 10 s; got: ${text}`)); }, 10_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (/\r\n\r\n/.test(text)) { clearTimeout(timer); socket.end(); resolve(text); }
    });
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

/** baresip's -s trace heads each message with "PROTO SRC -> DST"; the protocols that carried `method` requests. */
function protocolsOf(peer: BaresipInstance, method: string): string[] {
  return [...peer.process.output().matchAll(new RegExp(`^(UDP|TCP|TLS) \\S+ -> \\S+\\r?\\n+${method} sip`, 'gm'))].map((m) => m[1]!);
}

describe('interop: TLS peer harnesses (baresip, kamailio)', function () {
  this.timeout(60_000);
  let certs: TestCertificates;
  const peers: BaresipInstance[] = [];
  let proxy: Kamailio | undefined;

  before(async function () {
    if (!baresipAvailable() || !haveKamailioTls()) {
      const what = !baresipAvailable() ? (which('baresip') ? `baresip modules missing: ${missingBaresipModules().join(', ')}` : 'baresip is not installed') : 'kamailio or kamailio-tls-modules is not installed';
      if (isRoot()) throw new Error(`${what} although running as root: run scripts/install-deps.sh`);
      skipUnless.call(this, false, `${what} (sudo scripts/install-deps.sh installs it)`);
    }
    certs = await testCertificates();
  });
  afterEach(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    for (const p of peers.splice(0)) p.remove();
    await proxy?.stop();
    proxy = undefined;
  });

  async function startProxy(): Promise<number> {
    const tlsPort = await freeTcpPort();
    proxy = await startKamailio({
      listen: '127.0.0.1', port: await freeUdpPort(), domain: 'icephone.test',
      tls: { port: tlsPort, certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: certs.caFile },
    });
    return tlsPort;
  }

  it('kamailio: its TLS socket verifies against the test CA and answers OPTIONS with 200', async () => {
    const tlsPort = await startProxy();
    const response = await tlsRequest(tlsPort, certs.caFile, [
      `OPTIONS sip:127.0.0.1:${tlsPort};transport=tls SIP/2.0`,
      'Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-harness-1;rport',
      'Max-Forwards: 70',
      'From: <sip:harness@icephone.test>;tag=h1',
      `To: <sip:127.0.0.1:${tlsPort}>`,
      'Call-ID: tls-harness-options-1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '', '',
    ].join('\r\n'));
    assert.match(response, /^SIP\/2\.0 200 /);
    assert.match(response, /^Call-ID: tls-harness-options-1\r$/m);
    assert.match(response, /^Via: SIP\/2\.0\/TLS 127\.0\.0\.1:5999;branch=z9hG4bK-harness-1;rport=\d+;received=127\.0\.0\.1\r$/m);
  });

  it('baresip calls baresip over TLS with SRTP (srtp-mand): INVITE over TLS, SRTP on both, tones both ways', async () => {
    const bob = await startBaresip({
      listenPort: await freePortPair(), user: 'bob', ice: false, toneHz: 440, sipTrace: true,
      extraModules: ['srtp.so'], accountParams: ['mediaenc=srtp-mand'], tls: { combinedFile: certs.server.combinedFile, caFile: certs.caFile },
    });
    peers.push(bob);
    assert.equal(bob.uri, `sip:bob@127.0.0.1:${bob.tlsPort};transport=tls`);
    const alice = await startBaresip({
      listenPort: await freePortPair(), user: 'alice', ice: false, toneHz: 660, sipTrace: true, durationSec: CALL_SECONDS,
      extraModules: ['srtp.so'], accountParams: ['mediaenc=srtp-mand'], tls: { combinedFile: certs.client.combinedFile }, dial: bob.uri,
    });
    peers.push(alice);
    await alice.waitForCallEstablished(10_000);
    assert.equal(await alice.process.waitForExit((CALL_SECONDS + 5) * 1000), 0);
    await bob.waitForCallTerminated(10_000);
    await bob.stop();
    assert.deepEqual(protocolsOf(alice, 'INVITE'), ['TLS']);
    assert.deepEqual(protocolsOf(bob, 'INVITE'), ['TLS']);
    for (const p of [alice, bob]) assert.match(p.process.output(), /SRTP is Enabled \(cryptosuite=AES_CM_128_HMAC_SHA1_(80|32)\)/, `${p.uri}: no SRTP`);
    await assertToneInWav(bob.decodedWavs()[0]!, 660);
    await assertToneInWav(alice.decodedWavs()[0]!, 440);
  });

  it('two baresips register at kamailio over TLS, alice calls sip:bob@icephone.test through it, tones both ways', async () => {
    const tlsPort = await startProxy();
    const outboundProxy = `sip:127.0.0.1:${tlsPort};transport=tls`;
    const tls = { combinedFile: certs.client.combinedFile, caFile: certs.caFile };
    const bob = await startBaresip({ listenPort: await freePortPair(), user: 'bob', ice: false, toneHz: 440, sipTrace: true, tls, register: { domain: 'icephone.test', outboundProxy } });
    peers.push(bob);
    assert.equal(await bob.waitForRegistered(10_000), 'TLS');
    await proxy!.process.waitForOutput(/registered sip:bob@icephone\.test contact <sip:bob-\S*;transport=tls>;expires=\d+ from 127\.0\.0\.1:\d+/, 10_000);
    const alice = await startBaresip({
      listenPort: await freePortPair(), user: 'alice', ice: false, toneHz: 660, sipTrace: true, tls, durationSec: CALL_SECONDS + 2,
      register: { domain: 'icephone.test', outboundProxy }, dial: 'sip:bob@icephone.test',
    });
    peers.push(alice);
    await alice.waitForCallEstablished(15_000);
    await bob.waitForCallTerminated((CALL_SECONDS + 10) * 1000);
    await Promise.all([alice.stop(), bob.stop()]);
    // The INVITE went alice → kamailio → bob, over TLS on both legs; kamailio used bob's own connection.
    assert.deepEqual(protocolsOf(alice, 'INVITE'), ['TLS']);
    assert.deepEqual(protocolsOf(bob, 'INVITE'), ['TLS']);
    assert.match(bob.process.output(), new RegExp(`^TLS 127\\.0\\.0\\.1:${tlsPort} -> \\S+\\r?\\n+INVITE sip:bob`, 'm'));
    assert.match(bob.process.output(), new RegExp(`^Record-Route: <sip:127\\.0\\.0\\.1:${tlsPort};transport=tls;lr`, 'm'));
    assert.match(proxy!.process.output(), /routing INVITE sip:bob\S*;transport=tls to sip:127\.0\.0\.1:\d+;transport=tls/);
    await assertToneInWav(bob.decodedWavs()[0]!, 660);
    await assertToneInWav(alice.decodedWavs()[0]!, 440);
  });
});
