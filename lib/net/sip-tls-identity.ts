/**
 * Server identity for SIP over TLS (RFC 5922 §7.1-7.2, RFC 3261 §26.3.1).
 *
 * The identities a certificate gives (§7.1): every subjectAltName of type URI with scheme `sip`
 * or `sips` (its host part), and every dNSName; only when it has none of these, the subject's
 * Common Name. The target host (the host of the URI we resolved to reach the server) must equal
 * one of them, compared case-insensitively and exactly (§7.2: no wildcard matching; a SIP URI
 * SAN with a user part is not a domain identity and is ignored). For an IP address target (which
 * RFC 5922 does not cover) an iPAddress SAN must hold that address, as RFC 2818 §3.1 has it.
 */
import type { PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { sameIp } from '../base/address.js';

/** A certificate that does not identify the server we meant to reach, or that we do not trust. */
export class TlsIdentityError extends Error {
  override readonly name = 'TlsIdentityError';
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** The identities a certificate's subjectAltName string (Node's `subjectaltname`) gives. */
export interface CertificateIdentities {
  /** Hosts of `URI:sip:host` / `URI:sips:host` SANs (no user part), lower-case. */
  sipDomains: string[];
  /** dNSName SANs, lower-case. */
  dnsNames: string[];
  /** iPAddress SANs as Node prints them. */
  ipAddresses: string[];
}

/**
 * Splits Node's `subjectaltname` text (`DNS:a, IP Address:1.2.3.4, URI:sip:example.com`; values with
 * a comma come JSON-quoted) into identities.
 */
export function certificateIdentities(subjectAltName: string | undefined): CertificateIdentities {
  const out: CertificateIdentities = { sipDomains: [], dnsNames: [], ipAddresses: [] };
  if (!subjectAltName) return out;
  const entries = subjectAltName.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  for (const raw of entries) {
    const entry = raw.trim();
    const colon = entry.indexOf(':');
    if (colon < 0) continue;
    const kind = entry.slice(0, colon);
    let value = entry.slice(colon + 1);
    if (value.startsWith('"')) {
      try { value = JSON.parse(value) as string; } catch { continue; }
    }
    if (kind === 'DNS') out.dnsNames.push(value.toLowerCase());
    else if (kind === 'IP Address') out.ipAddresses.push(value);
    else if (kind === 'URI') {
      // RFC 5922 §7.1: "sip:" (or sips:) URI with no user part; parameters and headers ignored.
      const m = /^sips?:([^;?]+)$/i.exec(value.split(/[;?]/)[0] ?? '');
      if (m && !m[1]!.includes('@')) out.sipDomains.push(m[1]!.replace(/:\d+$/, '').toLowerCase());
    }
  }
  return out;
}

/**
 * Checks that `cert` identifies `target` (a host name, or an IP address).
 * @returns undefined when it does, else a TlsIdentityError naming the target and what the certificate holds.
 */
export function checkSipServerIdentity(target: string, cert: PeerCertificate): TlsIdentityError | undefined {
  const host = target.replace(/^\[|\]$/g, '');
  const ids = certificateIdentities(cert.subjectaltname);
  const listed = [
    ...ids.sipDomains.map((d) => `URI:sip:${d}`),
    ...ids.dnsNames.map((d) => `DNS:${d}`),
    ...ids.ipAddresses.map((a) => `IP:${a}`),
  ];
  if (isIP(host)) {
    if (ids.ipAddresses.some((a) => isIP(a) && sameIp(a, host))) return undefined;
    return new TlsIdentityError(`certificate does not match IP address ${host} (subjectAltName: ${listed.join(', ') || 'none'})`, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  if (ids.sipDomains.includes(name) || ids.dnsNames.includes(name)) return undefined;
  if (ids.sipDomains.length === 0 && ids.dnsNames.length === 0) {
    const cn = cert.subject?.CN;
    const cns = Array.isArray(cn) ? cn : cn ? [cn] : [];
    if (cns.some((c) => c.toLowerCase() === name)) return undefined;
    listed.push(...cns.map((c) => `CN=${c}`));
  }
  return new TlsIdentityError(`certificate does not match host ${host} (identities: ${listed.join(', ') || 'none'})`, 'ERR_TLS_CERT_ALTNAME_INVALID');
}
