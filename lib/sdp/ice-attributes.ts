/**
 * SDP attributes for ICE (RFC 8839 §5): the `candidate` attribute codec, `remote-candidates`,
 * and the `ice-ufrag` / `ice-pwd` syntax checks.
 *
 * Receiving is strict about the fields the grammar fixes (a bad line throws a ParseError that names
 * the field, so the caller can drop just that line) and tolerant where real peers differ from the
 * grammar: runs of white space between fields, lower-case transport names (Chrome writes `udp`),
 * and `raddr`/`rport`/`tcptype` found in any order after `typ` (RFC 6544 defines tcptype as an
 * extension attribute, so it may legally follow other extensions).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress } from '../base/address.js';
import { ParseError } from '../base/errors.js';
import type { Candidate, CandidateType } from '../ice/candidate.js';

/** One entry of `a=remote-candidates` (RFC 8839 §5.2). */
export interface RemoteCandidate {
  component: number;
  address: string;
  port: number;
}

/** RFC 8839 §5.1: `priority = 1*10DIGIT`, "a positive integer between 1 and (2**31 - 1)". */
export const MAX_CANDIDATE_PRIORITY = 2 ** 31 - 1;

const ICE_CHARS = /^[A-Za-z0-9+/]+$/;
const CANDIDATE_TYPES: readonly CandidateType[] = ['host', 'srflx', 'prflx', 'relay'];
const TCP_TYPES = ['active', 'passive', 'so'] as const;
/** RFC 4566 token (used for transport-extension and extension-att-name). */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
/** extension-att-value = byte-string; on one white-space-separated line this means visible chars. */
const VISIBLE = /^[\x21-\x7e\x80-\uffff]+$/;

/** `ice-char = ALPHA / DIGIT / "+" / "/"` (RFC 8839 §5.4), with a length range. */
export function isIceChars(s: string, min: number, max: number): boolean {
  return typeof s === 'string' && s.length >= min && s.length <= max && ICE_CHARS.test(s);
}

/** RFC 8839 §5.4: `ice-ufrag-att = "ice-ufrag:" ufrag; ufrag = 4*256ice-char`. */
export function isValidUfrag(s: string): boolean {
  return isIceChars(s, 4, 256);
}

/** RFC 8839 §5.4: `ice-pwd-att = "ice-pwd:" password; password = 22*256ice-char`. */
export function isValidPwd(s: string): boolean {
  return isIceChars(s, 22, 256);
}

/** RFC 8839 §5.1 foundation: `1*32ice-char`. */
export function isValidFoundation(s: string): boolean {
  return isIceChars(s, 1, 32);
}

/**
 * RFC 8839 §5.1 connection-address: IPv4, IPv6 (no zone id) or an FQDN (which includes the mDNS
 * `<uuid>.local` names browsers write, RFC 8839 §5.1 and draft-ietf-mmusic-mdns-ice-candidates).
 * Dotted-decimal strings that are not valid IPv4 addresses are rejected rather than taken as names.
 */
export function isValidConnectionAddress(s: string): boolean {
  if (typeof s !== 'string' || s.length === 0 || s.length > 253) return false;
  if (s.includes(':')) return !s.includes('%') && isIPv6(s);
  if (/^[0-9.]+$/.test(s)) return isIPv4(s);
  const labels = (s.endsWith('.') ? s.slice(0, -1) : s).split('.');
  return labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

function parsePort(text: string | undefined, field: string): number {
  if (text === undefined) throw new ParseError(`missing ${field}`, field);
  if (!/^\d{1,5}$/.test(text)) throw new ParseError(`${field} ${quote(text)} is not a number`, field);
  const port = Number(text);
  if (port > 65535) throw new ParseError(`${field} ${port} not in 0..65535`, field);
  return port;
}

/**
 * A connection-address field, IP literals in canonical form (base/address.ts: `2001:DB8::2` is
 * `2001:db8::2`, `::ffff:192.0.2.1` is `192.0.2.1`), so the candidate compares equal to the
 * source address of the peer's packets (issue 10). FQDNs are kept as written.
 */
function parseAddress(text: string | undefined, field: string): string {
  if (text === undefined) throw new ParseError(`missing ${field}`, field);
  if (!isValidConnectionAddress(text)) throw new ParseError(`${field} ${quote(text)} is not an IPv4/IPv6 address or FQDN`, field);
  return normalizeAddress(text);
}

function parseComponent(text: string | undefined, field = 'component'): number {
  if (text === undefined) throw new ParseError(`missing ${field}`, field);
  if (!/^\d{1,3}$/.test(text)) throw new ParseError(`${field} ${quote(text)} is not a number`, field);
  const component = Number(text);
  if (component < 1 || component > 256) throw new ParseError(`${field} ${component} not in 1..256`, field);
  return component;
}

/** Short, single-line rendering of untrusted input for error messages. */
function quote(s: string): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}…` : s;
  return JSON.stringify(cut);
}

/**
 * Parses the value of a candidate attribute (RFC 8839 §5.1):
 * ```
 * candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP priority SP
 *                       connection-address SP port SP cand-type [SP rel-addr] [SP rel-port] *(SP cand-extension)
 * ```
 * Accepts `a=candidate:…`, `candidate:…` or the bare value. Transports other than UDP and TCP
 * (RFC 6544), and candidate types other than host/srflx/prflx/relay, throw: the `Candidate` shape
 * cannot carry them, and RFC 8839 §5.1 lets an agent ignore candidates it does not understand.
 * @throws ParseError with `where` naming the field that failed.
 */
export function parseCandidateAttribute(value: string): Candidate {
  if (typeof value !== 'string') throw new ParseError('candidate attribute is not a string', 'candidate');
  // SDP white space only (fields are split on SP/HTAB below): String.prototype.trim would also eat
  // U+00A0, U+FEFF... at the end of an extension value that is legal in the middle of the line,
  // so a candidate written back in another order would no longer parse (make fuzz).
  let text = value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  if (text.startsWith('a=')) text = text.slice(2);
  if (/^candidate:/i.test(text)) text = text.slice('candidate:'.length);
  if (text.length === 0) throw new ParseError('empty candidate attribute', 'foundation');
  const fields = text.split(/[ \t]+/);

  const [foundation, componentText, transportText, priorityText, address, portText, typ, typeText] = fields;
  if (foundation === undefined || !isValidFoundation(foundation)) {
    throw new ParseError(`foundation ${quote(foundation ?? '')} is not 1-32 ice-chars`, 'foundation');
  }
  const component = parseComponent(componentText);

  if (transportText === undefined) throw new ParseError('missing transport', 'transport');
  if (!TOKEN.test(transportText)) throw new ParseError(`transport ${quote(transportText)} is not a token`, 'transport');
  const transport = transportText.toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') throw new ParseError(`unsupported transport ${quote(transportText)}`, 'transport');

  if (priorityText === undefined) throw new ParseError('missing priority', 'priority');
  if (!/^\d{1,10}$/.test(priorityText)) throw new ParseError(`priority ${quote(priorityText)} is not a number`, 'priority');
  const priority = Number(priorityText);
  // RFC 8839 §5.1: "MUST be a positive integer between 1 and (2**31 - 1)".
  if (priority < 1 || priority > MAX_CANDIDATE_PRIORITY) {
    throw new ParseError(`priority ${priority} not in 1..${MAX_CANDIDATE_PRIORITY}`, 'priority');
  }

  const candidateAddress = parseAddress(address, 'address');
  const port = parsePort(portText, 'port');

  if (typ !== 'typ') throw new ParseError(typ === undefined ? 'missing "typ"' : `expected "typ", found ${quote(typ)}`, 'typ');
  if (typeText === undefined) throw new ParseError('missing candidate type', 'typ');
  if (!(CANDIDATE_TYPES as readonly string[]).includes(typeText)) {
    throw new ParseError(`unsupported candidate type ${quote(typeText)}`, 'typ');
  }

  const candidate: Candidate = {
    foundation,
    component,
    transport,
    priority,
    address: candidateAddress,
    port,
    type: typeText as CandidateType,
  };

  const extensions: Array<[string, string]> = [];
  for (let i = 8; i < fields.length; i += 2) {
    const name = fields[i]!;
    const attributeValue = fields[i + 1];
    switch (name) {
      case 'raddr':
        if (candidate.relatedAddress !== undefined) throw new ParseError('duplicate raddr', 'raddr');
        candidate.relatedAddress = parseAddress(attributeValue, 'raddr');
        break;
      case 'rport':
        if (candidate.relatedPort !== undefined) throw new ParseError('duplicate rport', 'rport');
        candidate.relatedPort = parsePort(attributeValue, 'rport');
        break;
      case 'tcptype':
        // RFC 6544 §4.5: tcp-type-ext = "tcptype" SP tcp-type; tcp-type = "active" / "passive" / "so".
        if (candidate.tcpType !== undefined) throw new ParseError('duplicate tcptype', 'tcptype');
        if (attributeValue === undefined) throw new ParseError('missing tcptype value', 'tcptype');
        if (!(TCP_TYPES as readonly string[]).includes(attributeValue)) {
          throw new ParseError(`tcptype ${quote(attributeValue)} is not active, passive or so`, 'tcptype');
        }
        candidate.tcpType = attributeValue as Candidate['tcpType'];
        break;
      default:
        if (!TOKEN.test(name)) throw new ParseError(`extension name ${quote(name)} is not a token`, 'extension');
        if (attributeValue === undefined) throw new ParseError(`extension ${quote(name)} has no value`, 'extension');
        if (!VISIBLE.test(attributeValue)) throw new ParseError(`extension ${quote(name)} has an invalid value`, 'extension');
        extensions.push([name, attributeValue]);
    }
  }
  if (extensions.length > 0) candidate.extensions = extensions;
  return candidate;
}

/**
 * Writes the value of a candidate attribute (what follows `a=`), RFC 8839 §5.1:
 * `candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host`, then `raddr`/`rport`, `tcptype`
 * (RFC 6544 §4.5) and the extension pairs in their order. The transport is written upper-case as in
 * the RFC examples; receivers compare it case-insensitively.
 * @throws RangeError if a field would not survive `parseCandidateAttribute`.
 */
export function formatCandidateAttribute(c: Candidate): string {
  checkForWriting(c);
  let line = `candidate:${c.foundation} ${c.component} ${c.transport.toUpperCase()} ${c.priority} ${c.address} ${c.port} typ ${c.type}`;
  if (c.relatedAddress !== undefined) line += ` raddr ${c.relatedAddress}`;
  if (c.relatedPort !== undefined) line += ` rport ${c.relatedPort}`;
  if (c.tcpType !== undefined) line += ` tcptype ${c.tcpType}`;
  for (const [name, value] of c.extensions ?? []) line += ` ${name} ${value}`;
  return line;
}

function checkForWriting(c: Candidate): void {
  const fail = (what: string): never => {
    throw new RangeError(`cannot write candidate: ${what}`);
  };
  if (!isValidFoundation(c.foundation)) fail(`foundation ${quote(String(c.foundation))} is not 1-32 ice-chars`);
  if (!Number.isInteger(c.component) || c.component < 1 || c.component > 256) fail(`component ${c.component} not in 1..256`);
  if (c.transport !== 'udp' && c.transport !== 'tcp') fail(`transport ${quote(String(c.transport))}`);
  if (!Number.isInteger(c.priority) || c.priority < 1 || c.priority > MAX_CANDIDATE_PRIORITY) fail(`priority ${c.priority} not in 1..${MAX_CANDIDATE_PRIORITY}`);
  if (!isValidConnectionAddress(c.address)) fail(`address ${quote(String(c.address))}`);
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) fail(`port ${c.port} not in 0..65535`);
  if (!CANDIDATE_TYPES.includes(c.type)) fail(`type ${quote(String(c.type))}`);
  if (c.relatedAddress !== undefined && !isValidConnectionAddress(c.relatedAddress)) fail(`raddr ${quote(c.relatedAddress)}`);
  if (c.relatedPort !== undefined && (!Number.isInteger(c.relatedPort) || c.relatedPort < 0 || c.relatedPort > 65535)) fail(`rport ${c.relatedPort}`);
  if (c.tcpType !== undefined && !TCP_TYPES.includes(c.tcpType)) fail(`tcptype ${quote(String(c.tcpType))}`);
  for (const [name, value] of c.extensions ?? []) {
    if (!TOKEN.test(name) || ['raddr', 'rport', 'tcptype'].includes(name)) fail(`extension name ${quote(name)}`);
    if (!VISIBLE.test(value)) fail(`extension ${quote(name)} value ${quote(value)}`);
  }
}

/**
 * Writes `remote-candidates:1 192.0.2.3 45664 2 192.0.2.3 45665` (RFC 8839 §5.2): the value after
 * `a=`, like `formatCandidateAttribute`.
 * @throws RangeError on an empty list or an invalid entry.
 */
export function formatRemoteCandidates(list: RemoteCandidate[]): string {
  if (list.length === 0) throw new RangeError('remote-candidates needs at least one candidate');
  const parts = list.map((r) => {
    if (!Number.isInteger(r.component) || r.component < 1 || r.component > 256) throw new RangeError(`remote candidate component ${r.component} not in 1..256`);
    if (!isValidConnectionAddress(r.address)) throw new RangeError(`remote candidate address ${quote(String(r.address))}`);
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new RangeError(`remote candidate port ${r.port} not in 0..65535`);
    return `${r.component} ${r.address} ${r.port}`;
  });
  return `remote-candidates:${parts.join(' ')}`;
}

/**
 * Parses RFC 8839 §5.2 `remote-candidate-att = "remote-candidates:" remote-candidate
 * 0*(SP remote-candidate)`, `remote-candidate = component-ID SP connection-address SP port`.
 * Accepts the value with or without `a=remote-candidates:`.
 * @throws ParseError naming the field (`remote-candidates`, `component`, `address`, `port`).
 */
export function parseRemoteCandidates(value: string): RemoteCandidate[] {
  let text = value.trim();
  if (text.startsWith('a=')) text = text.slice(2);
  if (/^remote-candidates:/i.test(text)) text = text.slice('remote-candidates:'.length).trim();
  if (text.length === 0) throw new ParseError('remote-candidates is empty', 'remote-candidates');
  const fields = text.split(/[ \t]+/);
  if (fields.length % 3 !== 0) {
    throw new ParseError(`remote-candidates has ${fields.length} fields, not triples of component, address, port`, 'remote-candidates');
  }
  const list: RemoteCandidate[] = [];
  for (let i = 0; i < fields.length; i += 3) {
    list.push({
      component: parseComponent(fields[i]),
      address: parseAddress(fields[i + 1], 'address'),
      port: parsePort(fields[i + 2], 'port'),
    });
  }
  return list;
}
