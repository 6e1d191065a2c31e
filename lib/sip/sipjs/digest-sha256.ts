/**
 * sip.js 0.21.2's client digest (`DigestAuthentication#authenticate`, core/messages/
 * digest-authentication.js) aborts on any algorithm but MD5, and its message parser keeps only the
 * last `WWW-Authenticate` of a response: a server that lists MD5 first and SHA-256 last (RFC 8760
 * §2.4 lets it order them as it prefers) left our caller unable to authenticate. This adds SHA-256
 * (RFC 8760 §2, RFC 7616 §3.4.1 with H = SHA-256; qop=auth or no qop): sip.js prepares the request as
 * for MD5 (realm, nonce, nc, cnonce, qop), then the response is computed with SHA-256 and the
 * Authorization says `algorithm=SHA-256`. A preset MD5 HA1 (`authorizationHa1`) cannot serve a
 * SHA-256 challenge: that one is declined as before. Installed by `installSipJsAdapter()`.
 */
import { createHash } from 'node:crypto';
import { DigestAuthentication } from 'sip.js/lib/core/messages/digest-authentication.js';

interface DigestInternals {
  authenticate(request: unknown, challenge: Record<string, unknown>, body?: string): boolean;
  algorithm?: string;
  username?: string;
  password?: string;
  ha1?: string;
  realm?: string;
  nonce?: string;
  ncHex: string;
  cnonce?: string;
  qop?: string;
  method?: string;
  uri?: { toString(): string };
  response?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let installed = false;

export function installDigestSha256(): void {
  if (installed) return;
  installed = true;
  const proto = DigestAuthentication.prototype as unknown as DigestInternals;
  const original = proto.authenticate;
  proto.authenticate = function (this: DigestInternals, request, challenge, body) {
    const algorithm = typeof challenge?.algorithm === 'string' ? challenge.algorithm.toUpperCase() : undefined;
    if (algorithm !== 'SHA-256') return original.call(this, request, challenge, body);
    if (this.ha1) return false;
    if (!original.call(this, request, { ...challenge, algorithm: 'MD5' }, body)) return false;
    if (this.qop === 'auth-int') return false;
    const ha1 = sha256(`${this.username}:${this.realm}:${this.password ?? ''}`);
    const ha2 = sha256(`${this.method}:${String(this.uri)}`);
    this.algorithm = 'SHA-256';
    this.response = this.qop === 'auth'
      ? sha256(`${ha1}:${this.nonce}:${this.ncHex}:${this.cnonce}:auth:${ha2}`)
      : sha256(`${ha1}:${this.nonce}:${ha2}`);
    return true;
  };
}
