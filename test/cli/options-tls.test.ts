/** SIP over TLS on the command line (issue 13): --transport tls, --tls-cert/--tls-key/--tls-ca/--tls-insecure, sips: targets, --srtp over TLS. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../lib/base/errors.js';
import { parseCommon, phoneOptionsFrom } from '../../lib/cli/options.js';
import { testCertificates, type TestCertificates } from '../helpers/certs.js';

const opts = (argv: string[], context: { target?: string; answering?: boolean } = {}) =>
  phoneOptionsFrom(parseCommon(['--listen', '127.0.0.1:0', ...argv]).values, context);

async function usageError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    const message = (e as Error).message;
    expect(message.split('\n'), 'one line').to.have.length(1);
    return message;
  }
  throw new Error('expected a UsageError');
}

describe('cli/options: SIP over TLS (issue 13)', () => {
  let certs: TestCertificates;
  before(async () => { certs = await testCertificates(); });

  it('--transport tls with a certificate, key and CA: the PEM bytes, verification on', async () => {
    const o = await opts(['--transport', 'tls', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--tls-ca', certs.caFile], { answering: true });
    expect(o.transport).to.equal('tls');
    expect(o.tls!.cert!.equals(readFileSync(certs.certFile))).to.equal(true);
    expect(o.tls!.key!.equals(readFileSync(certs.keyFile))).to.equal(true);
    expect(o.tls!.ca!.equals(readFileSync(certs.caFile))).to.equal(true);
    expect(o.tls!.verify).to.equal(true);
  });

  it('a caller needs no certificate; --tls-insecure turns verification off; no --tls-ca means the system CAs', async () => {
    const o = await opts(['--transport', 'tls', '--tls-insecure'], { target: 'sip:bob@127.0.0.1:5061' });
    expect(o.tls).to.deep.equal({ cert: undefined, key: undefined, ca: undefined, verify: false });
  });

  it('a sips: target makes the transport TLS; with --transport udp/tcp it is refused', async () => {
    expect((await opts([], { target: 'sips:bob@127.0.0.1' })).transport).to.equal('tls');
    expect((await opts([], { target: 'sip:bob@127.0.0.1' })).transport).to.equal('udp');
    expect(await usageError(opts(['--transport', 'tcp'], { target: 'sips:bob@127.0.0.1' }))).to.match(/sips: URI is reached over TLS only \(RFC 5630\)/);
    expect((await opts(['--register', 'sips:alice@example.com'], { answering: false })).transport).to.equal('tls');
    expect((await opts(['--outbound-proxy', 'sips:proxy.example.com'], { target: 'sip:bob@example.com' })).transport).to.equal('tls');
    expect(await usageError(opts(['--transport', 'udp', '--outbound-proxy', 'sips:proxy.example.com']))).to.match(/TLS only .*\(sips:proxy\.example\.com\)$/);
  });

  it('--srtp over TLS needs no --srtp-allow-insecure-keys; over UDP and TCP the refusal stays', async () => {
    const o = await opts(['--transport', 'tls', '--srtp', 'mandatory']);
    expect(o.media!.srtp).to.equal('mandatory');
    expect(o.media!.srtpAllowInsecureKeys).to.equal(false);
    for (const t of ['udp', 'tcp']) expect(await usageError(opts(['--transport', t, '--srtp', 'optional']))).to.match(/TLS signalling \(RFC 4568 §8\.3\), not (udp|tcp); use --transport tls/);
  });

  it('bad flags and files: one-line usage errors', async () => {
    expect(await usageError(opts(['--transport', 'sctp']))).to.match(/--transport: expected udp, tcp or tls, got 'sctp'/);
    expect(await usageError(opts(['--transport', 'tls'], { answering: true }))).to.match(/answering needs --tls-cert FILE and --tls-key FILE/);
    expect(await usageError(opts(['--transport', 'tls', '--tls-cert', certs.certFile]))).to.match(/--tls-cert and --tls-key go together/);
    expect(await usageError(opts(['--tls-ca', certs.caFile]))).to.match(/need --transport tls/);
    expect(await usageError(opts(['--transport', 'tls', '--tls-ca', '/nonexistent/ca.pem']))).to.equal('--tls-ca: cannot read /nonexistent/ca.pem: ENOENT');
    expect(await usageError(opts(['--transport', 'tls', '--tls-ca', certs.keyFile]))).to.match(/--tls-ca: .* holds no PEM certificate/);
    expect(await usageError(opts(['--transport', 'tls', '--tls-cert', certs.keyFile, '--tls-key', certs.keyFile]))).to.match(/--tls-cert: .* holds no PEM certificate/);
    expect(await usageError(opts(['--transport', 'tls', '--tls-cert', certs.certFile, '--tls-key', certs.certFile]))).to.match(/--tls-key: .* holds no PEM private key/);
    // a key that does not belong to the certificate
    expect(await usageError(opts(['--transport', 'tls', '--tls-cert', certs.certFile, '--tls-key', certs.client.keyFile]))).to.match(/--tls-cert\/--tls-key: unusable: .*key values mismatch/i);
  });
});
