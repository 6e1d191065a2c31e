import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { testCertificates } from '../helpers/certs.js';

describe('test certificates helper (test/helpers/certs.ts)', () => {
  it('makes a CA and leaves with the documented SANs, each signed by its CA, once per process', async () => {
    const certs = await testCertificates();
    assert.equal(await testCertificates(), certs);
    const ca = new X509Certificate(readFileSync(certs.caFile));
    const otherCa = new X509Certificate(readFileSync(certs.otherCaFile));
    assert.equal(ca.ca, true);
    const server = new X509Certificate(readFileSync(certs.certFile));
    assert.ok(server.verify(ca.publicKey));
    assert.ok(!server.verify(otherCa.publicKey));
    assert.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:sip:localhost');
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkIP('::1'), '::1');
    const wrong = new X509Certificate(readFileSync(certs.wrongName.certFile));
    assert.equal(wrong.checkHost('localhost'), undefined);
    assert.equal(wrong.checkIP('127.0.0.1'), undefined);
    assert.equal(new X509Certificate(readFileSync(certs.sipUri.certFile)).subjectAltName, 'URI:sip:sip.example.test');
    const other = new X509Certificate(readFileSync(certs.other.certFile));
    assert.ok(other.verify(otherCa.publicKey) && !other.verify(ca.publicKey));
    assert.ok(new X509Certificate(readFileSync(certs.client.certFile)).verify(ca.publicKey));
    assert.match(readFileSync(certs.server.combinedFile, 'utf8'), /BEGIN CERTIFICATE[\s\S]*BEGIN PRIVATE KEY/);
    assert.ok(existsSync(certs.server.chainFile));
  });
});
