/**
 * Canonical IP addresses and transport addresses: the one comparison everybody uses.
 *
 * An address reaches icephone as text from many places (SDP candidates and c= lines, the
 * operating system's view of a datagram's source, STUN/TURN attributes, SIP URIs and Via
 * headers, the command line), and the same address has many spellings: `2001:DB8::2`,
 * `2001:db8::2`, `2001:0db8:0000:0000:0000:0000:0000:0002`, `::ffff:192.0.2.1` for
 * `192.0.2.1` on a dual-stack socket, `fe80::1%eth0` from Node for a link-local source.
 * Comparing the text (`===`) gets all of those wrong (issue 10: "asymmetric response" in a
 * connectivity check, a duplicate peer-reflexive candidate). Every place where an address
 * enters is expected to store {@link canonicalIp} text, and every comparison goes through
 * {@link sameIp} / {@link sameTransportAddress} (or a {@link transportAddressKey} map key),
 * which canonicalise again so that an address stored by a caller outside icephone still
 * compares right.
 *
 * The canonical text, and what is the same address:
 * - IPv4: dotted decimal, four parts 0..255 without leading zeros. A part with a leading zero
 *   (`010.0.0.1`) is rejected, not guessed: inet_aton reads it as octal, others as decimal.
 * - IPv6: RFC 5952 §4: hexadecimal groups in lower case without leading zeros, the longest run
 *   of two or more zero groups written `::` (the first on a tie, §4.2.3), never `::` for a
 *   single zero group (§4.2.2). Embedded dotted IPv4 tails are read; on output, mixed notation
 *   (RFC 5952 §5) is kept for IPv4-translated addresses (`::ffff:0:a.b.c.d`, RFC 2765).
 * - IPv4-mapped IPv6 (`::ffff:a.b.c.d`, `::FFFF:c000:201`, RFC 4291 §2.5.5.2) is canonicalised
 *   to the IPv4 address it maps, with family IPv4. It names the same IPv4 host: it is how a
 *   dual-stack (`udp6` bound to `::`) socket reports an IPv4 peer, and RFC 8445 §5.1.1.1 keeps
 *   such addresses out of candidates. Sending to an IPv4 address from an IPv6 socket needs the
 *   mapped form again: {@link socketAddressFor}. ({@link formatIpBytes}, the byte-level text,
 *   keeps the RFC 5952 §5 `::ffff:a.b.c.d` form.)
 * - Zone ids (`fe80::1%eth0`, RFC 4007 §11): the address part is canonicalised and the zone is
 *   kept verbatim in the canonical text (a link-local destination may need it), but the zone is
 *   not part of the identity used by comparisons and keys: SDP cannot carry a zone (RFC 8839
 *   connection-address), so a candidate signalled as `fe80::1` must match a datagram Node
 *   reports from `fe80::1%eth0`, and a socket bound on one link only hears that link anyway.
 *   Zones are allowed only on IPv6 and must be RFC 3986 unreserved characters (`eth0`, `3`).
 * - Host names (SDP allows an FQDN, e.g. mDNS `<uuid>.local`) are not IP literals: the
 *   comparisons take them case-insensitively (DNS names, RFC 4343), the canonicalisers reject them.
 */
import { ParseError } from './errors.js';

export type AddressFamily = 'IPv4' | 'IPv6';

/** An IP literal taken apart: the address bytes (4 or 16, network order) and any zone id. */
export interface IpLiteral {
  bytes: Buffer;
  /** RFC 4007 §11 zone index, without the `%`. */
  zone?: string;
}

/** RFC 3986 unreserved characters: what a zone id may hold (RFC 6874 §2 in URIs). */
const ZONE = /^[A-Za-z0-9._~-]+$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const DECIMAL_PART = /^[0-9]{1,3}$/;

type Parsed = IpLiteral | { error: string };

function isError(p: Parsed): p is { error: string } {
  return 'error' in p;
}

function parseIpv4(text: string): Buffer | string {
  const parts = text.split('.');
  if (parts.length !== 4) return `IPv4 needs 4 dotted decimal parts, found ${parts.length}`;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!DECIMAL_PART.test(p)) return `IPv4 part ${JSON.stringify(p)} is not 1-3 decimal digits`;
    if (p.length > 1 && p.startsWith('0')) return `IPv4 part ${JSON.stringify(p)} has a leading zero (octal to inet_aton, decimal to others: ambiguous)`;
    const n = Number(p);
    if (n > 255) return `IPv4 part ${n} is above 255`;
    out[i] = n;
  }
  return out;
}

/** RFC 4291 §2.2 text forms: 8 groups, `::` for one or more zero groups, a dotted IPv4 tail. */
function parseIpv6(text: string): Buffer | string {
  const halves = text.split('::');
  if (halves.length > 2) return `more than one '::'`;
  const groupsOf = (s: string, tailAllowed: boolean): number[] | string => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.includes('.')) {
        if (!tailAllowed || i !== parts.length - 1) return `dotted IPv4 ${JSON.stringify(p)} allowed only as the last 32 bits`;
        const v4 = parseIpv4(p);
        if (typeof v4 === 'string') return `embedded ${v4}`;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (p === '') {
        return `empty group (a single ':' at the start or end, or ':::')`;
      } else if (!HEX_GROUP.test(p)) {
        return `group ${JSON.stringify(p)} is not 1-4 hexadecimal digits`;
      } else {
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 1) {
    const all = groupsOf(text, true);
    if (typeof all === 'string') return all;
    if (all.length !== 8) return `${all.length} groups without '::', IPv6 needs 8`;
    groups = all;
  } else {
    const head = groupsOf(halves[0]!, false);
    if (typeof head === 'string') return head;
    const tail = groupsOf(halves[1]!, true);
    if (typeof tail === 'string') return tail;
    if (head.length + tail.length > 7) return `'::' stands for no group: ${head.length + tail.length} groups are written`;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, i * 2);
  return out;
}

function parse(text: string): Parsed {
  if (typeof text !== 'string') return { error: 'not a string' };
  if (text.length === 0) return { error: 'empty' };
  if (text.length > 64 + 46) return { error: 'too long' };
  if (text.startsWith('[')) return { error: 'brackets belong around an IPv6 address in a URI or host:port, not in the address' };
  if (/\s/.test(text)) return { error: 'contains white space' };
  const percent = text.indexOf('%');
  const addressText = percent < 0 ? text : text.slice(0, percent);
  const zone = percent < 0 ? undefined : text.slice(percent + 1);
  if (!addressText.includes(':')) {
    if (!/^[0-9.]+$/.test(addressText)) return { error: 'neither dotted-decimal IPv4 nor IPv6 text' };
    if (zone !== undefined) return { error: 'a zone id is only allowed on IPv6' };
    const v4 = parseIpv4(addressText);
    return typeof v4 === 'string' ? { error: v4 } : { bytes: v4 };
  }
  const v6 = parseIpv6(addressText);
  if (typeof v6 === 'string') return { error: v6 };
  if (zone === undefined) return { bytes: v6 };
  if (!ZONE.test(zone)) return { error: zone === '' ? 'empty zone id after %' : `zone id ${JSON.stringify(zone)} is not unreserved characters` };
  return { bytes: v6, zone };
}

function fail(text: string, reason: string): never {
  const shown = typeof text === 'string' ? JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text) : String(text);
  throw new ParseError(`${shown} is not an IP address: ${reason}`, 'IP address');
}

/**
 * Takes an IPv4 or IPv6 literal apart (RFC 4291 §2.2 forms, an RFC 4007 `%zone` suffix).
 * @throws ParseError saying what is wrong (leading zero, group not hex, two `::`, …).
 */
export function parseIp(text: string): IpLiteral {
  const p = parse(text);
  if (isError(p)) fail(text, p.error);
  return p;
}

/** True when `text` is an IPv4 or IPv6 literal {@link parseIp} accepts. */
export function isIp(text: string): boolean {
  return !isError(parse(text));
}

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function isTranslated(b: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (b[i] !== 0) return false;
  return b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0;
}

/**
 * RFC 5952 text of 4 or 16 address bytes: dotted quad, or lower-case hexadecimal groups without
 * leading zeros, the longest run of two or more zero groups as `::` (the first on a tie), and
 * mixed notation for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-translated (`::ffff:0:a.b.c.d`)
 * addresses (§5). Byte-level: no unmapping (that is {@link canonicalIp}'s).
 * @throws RangeError for any other length.
 */
export function formatIpBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address is 4 or 16 bytes, not ${bytes.length}`);
  const b = bytes;
  if (isMapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (isTranslated(b)) return `::ffff:0:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // §4.2.2/§4.2.3: the longest run of at least two zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function canonicalOf(p: IpLiteral, withZone: boolean): string {
  if (p.bytes.length === 16 && isMapped(p.bytes)) return formatIpBytes(p.bytes.subarray(12));
  const text = formatIpBytes(p.bytes);
  return withZone && p.zone !== undefined ? `${text}%${p.zone}` : text;
}

/**
 * The canonical text of an IP literal (see the file comment): `2001:DB8:0::02` → `2001:db8::2`,
 * `::ffff:192.0.2.1` → `192.0.2.1`, `FE80::1%eth0` → `fe80::1%eth0`.
 * @throws ParseError for anything that is not an IP literal (host names included).
 */
export function canonicalIp(text: string): string {
  const p = parse(text);
  if (isError(p)) fail(text, p.error);
  if (p.zone !== undefined && isMapped(p.bytes)) fail(text, 'a zone id on an IPv4-mapped address');
  return canonicalOf(p, true);
}

/**
 * For fields that hold an IP literal or a host name (SDP connection-address, a SIP host):
 * the canonical IP text, or the name unchanged.
 */
export function normalizeAddress(text: string): string {
  const p = parse(text);
  if (isError(p) || (p.zone !== undefined && isMapped(p.bytes))) return text;
  return canonicalOf(p, true);
}

/** Family of an IP literal (IPv4-mapped IPv6 is IPv4). @throws ParseError when not an IP literal. */
export function ipFamily(text: string): AddressFamily {
  return canonicalIp(text).includes(':') ? 'IPv6' : 'IPv4';
}

/**
 * Family of an address that should be an IP literal, never throwing: the literal's family
 * (IPv4-mapped IPv6 is IPv4), else IPv6 for text with a colon and IPv4 otherwise (a host name).
 */
export function addressFamily(text: string): AddressFamily {
  if (!text.includes(':')) return 'IPv4';
  if (!/ffff/i.test(text)) return 'IPv6'; // cannot be IPv4-mapped
  const p = parse(text);
  return !isError(p) && p.bytes.length === 16 && isMapped(p.bytes) ? 'IPv4' : 'IPv6';
}

/**
 * The identity of an address for comparisons and map keys: canonical IP text without the zone,
 * or, for a host name, the name in lower case.
 */
export function addressKey(text: string): string {
  let key = ADDRESS_KEYS.get(text);
  if (key === undefined) {
    const p = parse(text);
    key = isError(p) ? String(text).toLowerCase() : canonicalOf(p, false);
    // Bounded: a flood of spoofed sources cannot grow it past ADDRESS_KEY_CACHE entries.
    if (ADDRESS_KEYS.size >= ADDRESS_KEY_CACHE) ADDRESS_KEYS.clear();
    ADDRESS_KEYS.set(text, key);
  }
  return key;
}

/**
 * addressKey results by text: every media packet's source is compared with a pair's remote
 * (sameTransportAddress, transportAddressKey), and parsing the same few addresses each time was a
 * measurable share of the per-packet cost (issue 14). Emptied when full; a pure function's memo.
 */
const ADDRESS_KEYS = new Map<string, string>();
const ADDRESS_KEY_CACHE = 4096;

/** Same IP address (any spelling, zone ignored) or, for host names, the same name in any case. */
export function sameIp(a: string, b: string): boolean {
  return a === b || addressKey(a) === addressKey(b);
}

/** `host:port`, or `[v6]:port`. The address is written as given. */
export function formatTransportAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Same transport address (RFC 8445 §3): same port, same IP as {@link sameIp} sees it. */
export function sameTransportAddress(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  return a.port === b.port && sameIp(a.address, b.address);
}

/** Map key of a transport address: `[2001:db8::2]:5000` for every spelling of it. */
export function transportAddressKey(a: { address: string; port: number }): string {
  return formatTransportAddress({ address: addressKey(a.address), port: a.port });
}

/** 127.0.0.0/8 or ::1 (any spelling). */
export function isLoopbackIp(text: string): boolean {
  const p = parse(text);
  if (isError(p)) return false;
  const key = canonicalOf(p, false);
  return key === '::1' || key.startsWith('127.');
}

/** The unspecified ("any") address: 0.0.0.0 or :: in any spelling (RFC 4291 §2.5.2). */
export function isUnspecifiedIp(text: string): boolean {
  const p = parse(text);
  return !isError(p) && p.bytes.every((x) => x === 0);
}

/**
 * The address to hand to a socket of `socketFamily` for sending to (or connecting to) `address`:
 * an IPv6 (dual-stack) socket reaches an IPv4 peer only through its IPv4-mapped form (Node
 * answers EINVAL to a plain IPv4 destination on a `udp6` socket), and an IPv4 socket reaches an
 * IPv4-mapped destination only as plain IPv4. Anything else is unchanged.
 */
export function socketAddressFor(address: string, socketFamily: AddressFamily): string {
  if (socketFamily === 'IPv6') return !address.includes(':') && isIp(address) ? `::ffff:${address}` : address;
  return address.includes(':') && addressFamily(address) === 'IPv4' ? normalizeAddress(address) : address;
}
