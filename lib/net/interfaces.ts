import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isLoopbackIp, normalizeAddress } from '../base/address.js';
import type { AddressFamily } from './socket.js';

/**
 * Local IP addresses usable for ICE host candidates (RFC 8445 §5.1.1.1).
 *
 * "Usable" means: the interface reports the address (Node lists only configured, up
 * interfaces), it is not internal (loopback) unless asked for, and it is IPv4 or a
 * global-scope IPv6 address. RFC 8445 §5.1.1.1: link-local IPv6 addresses "MUST NOT be
 * included" (unless loopback-only use); IPv4-mapped/compatible IPv6 and IPv4
 * link-local (169.254/16, RFC 3927) are skipped as well.
 */
export interface LocalAddress {
  address: string;
  family: AddressFamily;
  /** Interface name as the OS reports it (`eth0`, `lo`). */
  interfaceName: string;
  internal: boolean;
}

export interface ListAddressOptions {
  /** Also return loopback addresses (127.0.0.0/8, ::1). Default false. */
  includeLoopback?: boolean;
  /** Return IPv6 addresses. Default true. */
  includeIPv6?: boolean;
  /** Interface table to read (tests); default os.networkInterfaces(). */
  table?: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

/** True for IPv6 link-local fe80::/10. */
export function isIPv6LinkLocal(address: string): boolean {
  const a = address.toLowerCase().split('%')[0];
  return /^fe[89ab][0-9a-f]:/.test(a) || /^fe[89ab][0-9a-f]$/.test(a);
}

/** True for IPv4 link-local 169.254.0.0/16 (RFC 3927). */
export function isIPv4LinkLocal(address: string): boolean {
  return address.startsWith('169.254.');
}

/** True for 127.0.0.0/8 and ::1, in any spelling (base/address.ts). */
export function isLoopback(address: string): boolean {
  return isLoopbackIp(address);
}

/**
 * True for an IPv6 address of global scope: not link-local, not loopback, not unspecified,
 * not IPv4-mapped (::ffff:0:0/96), not site-local (fec0::/10, deprecated by RFC 3879).
 * Unique local addresses (fc00::/7) count as usable: they route inside a site.
 */
export function isGlobalIPv6(address: string): boolean {
  const a = address.toLowerCase().split('%')[0];
  if (a === '::' || a === '::1') return false;
  if (isIPv6LinkLocal(a)) return false;
  if (/^fe[c-f][0-9a-f]:/.test(a)) return false;
  if (a.startsWith('::ffff:') || /^::\d+\.\d+\.\d+\.\d+$/.test(a)) return false;
  if (a.startsWith('ff')) return false; // multicast
  return true;
}

/**
 * The addresses to gather host candidates on, in interface order (IPv4 and IPv6 as listed).
 * Duplicates (the same address on two interfaces) are returned once.
 */
export function listLocalAddresses(opts: ListAddressOptions = {}): LocalAddress[] {
  const table = opts.table ?? networkInterfaces();
  const includeIPv6 = opts.includeIPv6 ?? true;
  const out: LocalAddress[] = [];
  const seen = new Set<string>();
  for (const [name, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      const family: AddressFamily = info.family === 'IPv6' || (info.family as unknown) === 6 ? 'IPv6' : 'IPv4';
      // Filtered on the OS's text, returned (and deduplicated) in canonical form.
      const address = normalizeAddress(info.address);
      if (seen.has(address)) continue;
      const loopback = info.internal || isLoopback(address);
      if (loopback && !opts.includeLoopback) continue;
      if (family === 'IPv4') {
        if (isIPv4LinkLocal(address)) continue;
      } else {
        if (!includeIPv6) continue;
        if (!(loopback && address === '::1') && !isGlobalIPv6(info.address)) continue;
      }
      seen.add(address);
      out.push({ address, family, interfaceName: name, internal: loopback });
    }
  }
  return out;
}
