/**
 * Test certificates for SIP over TLS (RFC 3261 §26, RFC 5922), made with the `openssl` CLI once per
 * mocha process in a temporary directory that is removed when the process exits.
 *
 * ```ts
 * const certs = await testCertificates();
 * // certs.caFile: trust anchor (PEM); certs.certFile / certs.keyFile: server leaf
 * ```
 *
 * All keys are ECDSA P-256, all certificates valid for 2 days. Every leaf is signed by the test CA
 * (except the ones under `other`), has `extendedKeyUsage=serverAuth,clientAuth`, so any leaf may act
 * as client or server.
 *
 * | leaf          | subject CN     | subjectAltName                                                    |
 * |---------------|----------------|-------------------------------------------------------------------|
 * | server        | localhost      | DNS:localhost, IP:127.0.0.1, IP:::1, URI:sip:localhost            |
 * | client        | icephone-client| DNS:localhost, IP:127.0.0.1, IP:::1                               |
 * | wrongName     | wrong.example  | DNS:wrong.example (matches neither localhost nor 127.0.0.1)        |
 * | sipUri        | sip-only.test  | URI:sip:sip.example.test only (RFC 5922 §7.1 SIP-URI SAN)          |
 * | other         | localhost      | the server's SANs, but signed by a second, unrelated CA (`otherCaFile`) |
 *
 * Needs `openssl` on PATH; rejects with the openssl error otherwise.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testTempDir } from './tmp.js';

const run = promisify(execFile);

/** A leaf certificate: files in PEM. */
export interface TestLeaf {
  /** The certificate (PEM). */
  certFile: string;
  /** Its private key (PEM, unencrypted PKCS#8). */
  keyFile: string;
  /** Certificate then key in one PEM file (what baresip's `sip_certificate` and some servers want). */
  combinedFile: string;
  /** Certificate, then the issuing CA (a chain file). */
  chainFile: string;
}

export interface TestCertificates {
  /** The temporary directory holding every file below (removed at process exit). */
  dir: string;
  /** The test CA certificate (PEM): the trust anchor to pass as `--tls-ca` / `ca`. */
  caFile: string;
  /** The test CA's key (PEM), should a test want to sign more with openssl. */
  caKeyFile: string;
  /** A second CA that signed nothing the peers use: a wrong trust anchor. */
  otherCaFile: string;
  /** Server leaf (see the table above); `certFile`/`keyFile` repeat `server`'s for convenience. */
  certFile: string;
  keyFile: string;
  server: TestLeaf;
  client: TestLeaf;
  wrongName: TestLeaf;
  sipUri: TestLeaf;
  /** Signed by `otherCaFile`'s CA, with the server's SANs. */
  other: TestLeaf;
}

let made: Promise<TestCertificates> | undefined;
let madeDir: string | undefined;

process.on('exit', () => {
  if (madeDir !== undefined) rmSync(madeDir, { recursive: true, force: true });
});

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl(dir, [
    'req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

async function makeLeaf(dir: string, name: string, cn: string, san: string, ca: { cert: string; key: string }): Promise<TestLeaf> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await openssl(dir, ['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  await openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${Date.now().toString(16)}${name.length}`, '-out', certFile, '-days', '2', '-extfile', ext]);
  const certPem = readFileSync(certFile, 'utf8');
  const combinedFile = join(dir, `${name}-combined.pem`);
  writeFileSync(combinedFile, certPem + readFileSync(keyFile, 'utf8'));
  const chainFile = join(dir, `${name}-chain.pem`);
  writeFileSync(chainFile, certPem + readFileSync(ca.cert, 'utf8'));
  return { certFile, keyFile, combinedFile, chainFile };
}

async function make(): Promise<TestCertificates> {
  const dir = testTempDir('icephone-certs-');
  madeDir = dir;
  const ca = await makeCa(dir, 'ca', 'icephone test CA');
  const otherCa = await makeCa(dir, 'other-ca', 'icephone other CA');
  const local = 'DNS:localhost,IP:127.0.0.1,IP:::1';
  const server = await makeLeaf(dir, 'server', 'localhost', `${local},URI:sip:localhost`, ca);
  const client = await makeLeaf(dir, 'client', 'icephone-client', local, ca);
  const wrongName = await makeLeaf(dir, 'wrong-name', 'wrong.example', 'DNS:wrong.example', ca);
  const sipUri = await makeLeaf(dir, 'sip-uri', 'sip-only.test', 'URI:sip:sip.example.test', ca);
  const other = await makeLeaf(dir, 'other', 'localhost', local, otherCa);
  return {
    dir,
    caFile: ca.cert,
    caKeyFile: ca.key,
    otherCaFile: otherCa.cert,
    certFile: server.certFile,
    keyFile: server.keyFile,
    server,
    client,
    wrongName,
    sipUri,
    other,
  };
}

/**
 * The test certificates, made on the first call (a few hundred ms) and shared by every later call
 * in the same process. Rejects when `openssl` is missing or fails (the message has its stderr).
 */
export function testCertificates(): Promise<TestCertificates> {
  made ??= make();
  return made;
}
