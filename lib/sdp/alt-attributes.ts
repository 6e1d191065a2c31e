/**
 * The syntax of the legacy `a=alt` attribute of draft-rosenberg-sipping-ice-01 §7.
 *
 * ```
 * alt-attribute = "alt" ":" id SP qvalue SP derived-from SP
 *                 username SP password SP
 *                 unicast-address SP port [unicast-address SP port]
 *                 ;qvalue from RFC 3261
 *                 ;unicast-address, port from RFC 2327
 * usernam = non-ws-string        (sic: "username")
 * passwor = non-ws-string        (sic: "password")
 * id = token
 * derived-from = ":" / id
 * ```
 * Errata in the grammar itself, which this codec resolves the way the draft's figures do: the rule
 * names `usernam`/`passwor` are typos for `username`/`password`, and the optional RTCP pair lacks
 * its leading SP (Figure 5 writes `192.0.2.1 9988 192.0.2.1 9990`), so the writer puts an SP there
 * and the reader requires one.
 *
 * Writing is strict (`formatAltAttribute` emits only grammar-conforming lines). Reading is liberal
 * where deployed endpoints, and the draft's own §9 figures, deviate from the grammar; each accepted
 * deviation is reported in the `warnings` of the parse result (see `AltWarningCode`). A line that
 * cannot be understood throws a `ParseError` whose `where` names the field.
 *
 * This file is the syntax only. What the lines stand for (the alternate, its ranking by qvalue and
 * its ICE candidates, draft §5.3/§5.5) is lib/ice/alternate.ts; the qvalue's spelling (RFC 3261
 * §20.10) is lib/base/qvalue.ts.
 */
import { normalizeAddress } from '../base/address.js';
import { ParseError } from '../base/errors.js';
import { formatQvalue, qvalueText, readQvalue } from '../base/qvalue.js';
import type { AltCandidate } from '../ice/alternate.js';
import { isValidConnectionAddress } from './ice-attributes.js';

/**
 * Deviations from the §7 grammar that the reader accepts.
 * - `address-port-joined`: `10.0.2.88:6584` written as one field instead of address SP port
 *   (draft Figure 22 and Figure 26, alternate 2). IPv6 needs brackets: `[2001:db8::1]:5000`.
 * - `address-bracketed`: an IPv6 address in brackets with the port as its own field,
 *   `[2001:db8::1] 5000` (the URI form of RFC 3986 §3.2.2, which some writers use everywhere).
 * - `extra-whitespace`: runs of spaces/tabs, or leading/trailing white space, between fields
 *   (hand-edited and re-folded SDP; RFC 2327 fields are separated by exactly one SP).
 * - `qvalue-rank`: an integer above 1 in place of the qvalue (`2` ranking above `1`), as deployed
 *   endpoints wrote them; kept as that number in `qvalue` (lib/base/qvalue.ts `readQvalue`; how it
 *   compares with 0..1 qvalues of the same m-section: lib/ice/alternate.ts `compareQvalues`).
 * - `duplicate-address`: two alternates with the same transport address (§7: each "MUST contain a
 *   different IP address and port"); both are kept.
 * - `derived-from-unknown`, `derived-from-qvalue`: from `checkDerivedFrom`, a derived-from id the
 *   peer never sent, or a peer derived qvalue that is not the qvalue of the peer alternate it came
 *   from (§5.5: "The priority of this transport address is set to the value of the qvalue of that
 *   alternative from the offer"; draft Figure 19, alternate 7, says derived from 2 (qvalue 0.5)
 *   with qvalue 0.4, while the text says the address came through alternate 3, which has 0.4).
 */
export type AltWarningCode = 'address-port-joined' | 'address-bracketed' | 'extra-whitespace' | 'qvalue-rank' | 'duplicate-address' | 'derived-from-unknown' | 'derived-from-qvalue';

export interface AltWarning {
  code: AltWarningCode;
  /** The grammar field concerned: `address`, `rtcp-address`, `id`, `derived-from`, `line`. */
  field: string;
  message: string;
  /** Index of the line in the list given to `parseAltAttributes`/`checkDerivedFrom`. */
  line?: number;
}

export interface AltParseResult {
  alternate: AltCandidate;
  /** Deviations accepted on this line; empty for a grammar-conforming line. */
  warnings: AltWarning[];
}

export interface AltListParseResult {
  alternates: AltCandidate[];
  warnings: AltWarning[];
  /** Lines refused with `dropInvalid` (always empty without it). */
  dropped: AltDroppedLine[];
}

/** RFC 3261 §25.1 `token`. */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
/** RFC 4566 non-ws-string = 1*(VCHAR / %x80-FF); UTF-16 code units above 0x7f stand for the latter. */
const NON_WS_STRING = /^[\x21-\x7e\u0080-\uffff]+$/;

/** draft §7 `id = token` (RFC 3261 §25.1), also the form of `derived-from` when it is not ":". */
export function isAltId(s: unknown): boolean {
  return typeof s === 'string' && TOKEN.test(s);
}

/** draft §7 `username`/`password` = RFC 4566 non-ws-string (no SP, no control characters, no NUL). */
export function isNonWsString(s: unknown): boolean {
  return typeof s === 'string' && NON_WS_STRING.test(s);
}

/** Short, single-line rendering of untrusted input for error messages. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function parsePort(text: string | undefined, field: string): number {
  if (text === undefined || text === '') throw new ParseError(`missing ${field}`, field);
  if (!/^\d{1,5}$/.test(text)) throw new ParseError(`${field} ${quote(text)} is not a number`, field);
  const port = Number(text);
  // Port 0 cannot receive STUN or media; an alternate exists to be checked (draft §7).
  if (port < 1 || port > 65535) throw new ParseError(`${field} ${port} not in 1..65535`, field);
  return port;
}

function parseAddress(text: string | undefined, field: string): string {
  if (text === undefined || text === '') throw new ParseError(`missing ${field}`, field);
  // RFC 4007 §11 zone ids (fe80::1%eth0) name an interface of the writer's host: nothing the peer can use.
  if (text.includes(':') && text.includes('%')) throw new ParseError(`${field} ${quote(text)} has an IPv6 zone id, which names an interface of the sender's host`, field);
  if (!isValidConnectionAddress(text)) throw new ParseError(`${field} ${quote(text)} is not an IPv4/IPv6 address or FQDN`, field);
  return normalizeAddress(text); // IP literals canonical (base/address.ts), names as written
}

/** `10.0.2.88:6584`, `[2001:db8::1]:5000`, `host.example.com:5000` → [address, port], else undefined. */
function splitJoined(text: string): [string, string] | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) return [bracketed[1]!, bracketed[2]!];
  if (isValidConnectionAddress(text)) return undefined; // a bare IPv6 address has colons too
  const m = /^([^:]+):(\d+)$/.exec(text);
  return m ? [m[1]!, m[2]!] : undefined;
}

/**
 * Parses one alt attribute: `a=alt:1 1.0 : user 9kksj== 10.0.1.1 1010`, `alt:…` or the bare value.
 * @throws ParseError whose `where` is the failing field: `alt`, `id`, `qvalue`, `derived-from`,
 *   `username`, `password`, `address`, `port`, `rtcp-address`, `rtcp-port`.
 */
export function parseAltAttribute(value: string): AltParseResult {
  if (typeof value !== 'string') throw new ParseError('alt attribute is not a string', 'alt');
  const warnings: AltWarning[] = [];
  let text = value.replace(/\r?\n$/, '');
  if (text.startsWith('a=')) text = text.slice(2);
  if (text.startsWith('alt:')) text = text.slice(4);
  else if (/^alt[ \t]*:/i.test(text)) throw new ParseError(`attribute name ${quote(text.slice(0, text.indexOf(':')))} is not "alt"`, 'alt');
  // Deviation: extra white space. RFC 2327 separates fields with one SP; we take any run of SP/HTAB.
  if (/^[ \t]|[ \t]$|[ \t]{2,}|\t/.test(text)) {
    warnings.push({ code: 'extra-whitespace', field: 'alt', message: 'fields separated by other than one SP' });
  }
  const fields = text.trim() === '' ? [] : text.trim().split(/[ \t]+/);
  const [id, qvalueField, derivedFromText, username, password] = fields;

  if (id === undefined) throw new ParseError('empty alt attribute', 'id');
  if (!TOKEN.test(id)) throw new ParseError(`id ${quote(id)} is not a token`, 'id');
  const qvalue = readQvalue(qvalueField);
  if (qvalue.rank) {
    // Deviation: an integer rank where §7 wants an RFC 3261 qvalue (lib/ice/alternate.ts orders it).
    warnings.push({ code: 'qvalue-rank', field: 'qvalue', message: `qvalue ${quote(qvalueField!)} read as an integer rank, above every 0..1 qvalue` });
  }
  if (derivedFromText === undefined) throw new ParseError('missing derived-from', 'derived-from');
  if (derivedFromText !== ':' && !TOKEN.test(derivedFromText)) throw new ParseError(`derived-from ${quote(derivedFromText)} is neither ":" nor an id`, 'derived-from');

  const rest = fields.slice(5);
  // Name the credentials when what stands in their place is plainly address SP port (or
  // address:port with nothing after it): they were left out, and "address" would mislead.
  if (username !== undefined && password !== undefined && isLiteralAddress(username) && /^\d+$/.test(password)) {
    throw new ParseError('missing username and password before the address', 'username');
  }
  if (password !== undefined && ((isLiteralAddress(password) && (rest.length === 0 || /^\d+$/.test(rest[0]!))) || (rest.length === 0 && splitJoined(password) !== undefined))) {
    throw new ParseError('missing password before the address', 'password');
  }
  if (username === undefined) throw new ParseError('missing username', 'username');
  if (!NON_WS_STRING.test(username)) throw new ParseError(`username ${quote(username)} is not a non-ws-string`, 'username');
  if (password === undefined) throw new ParseError('missing password', 'password');
  if (!NON_WS_STRING.test(password)) throw new ParseError(`password ${quote(password)} is not a non-ws-string`, 'password');

  const rtp = takeTransportAddress(rest, 0, 'address', 'port', warnings);
  if (rtp === undefined) throw new ParseError('missing address', 'address');
  const alternate: AltCandidate = {
    id,
    qvalue: qvalue.value,
    derivedFrom: derivedFromText === ':' ? null : derivedFromText,
    username,
    password,
    address: rtp.address,
    port: rtp.port,
  };
  const rtcp = takeTransportAddress(rest, rtp.next, 'rtcp-address', 'rtcp-port', warnings);
  if (rtcp !== undefined) {
    alternate.rtcpAddress = rtcp.address;
    alternate.rtcpPort = rtcp.port;
    if (rtcp.next < rest.length) throw new ParseError(`unexpected ${quote(rest[rtcp.next]!)} after rtcp-port`, 'rtcp-port');
  }
  return { alternate, warnings };
}

function isLiteralAddress(s: string): boolean {
  return /^[\d.]+$/.test(s) ? isValidConnectionAddress(s) : s.includes(':') && isValidConnectionAddress(s);
}

/** Reads `address SP port` or (deviation) `address:port` from fields[at]. */
function takeTransportAddress(fields: string[], at: number, addressField: string, portField: string, warnings: AltWarning[]): { address: string; port: number; next: number } | undefined {
  const first = fields[at];
  if (first === undefined) return undefined;
  const joined = splitJoined(first);
  if (joined !== undefined) {
    // Deviation: draft Figures 22 and 26 write alternate 2 as "10.0.2.88:6584", one field.
    const address = parseAddress(joined[0], addressField);
    const port = parsePort(joined[1], portField);
    warnings.push({ code: 'address-port-joined', field: addressField, message: `${addressField} and ${portField} joined by ":" in ${quote(first)}` });
    return { address, port, next: at + 1 };
  }
  const bracketed = /^\[([^\]]*)\]$/.exec(first);
  if (bracketed) {
    // Deviation: an IPv6 address in URI brackets (RFC 3986 §3.2.2) with its port as its own field.
    const address = parseAddress(bracketed[1], addressField);
    if (!address.includes(':')) throw new ParseError(`${addressField} ${quote(first)}: only IPv6 addresses are written in brackets`, addressField);
    warnings.push({ code: 'address-bracketed', field: addressField, message: `${addressField} ${quote(first)} in brackets` });
    return { address, port: parsePort(fields[at + 1], portField), next: at + 2 };
  }
  return { address: parseAddress(first, addressField), port: parsePort(fields[at + 1], portField), next: at + 2 };
}

/** How `parseAltAttributes` treats a line that does not follow the draft §7 grammar. */
export interface AltParseOptions {
  /**
   * Drop a line that cannot be understood (or repeats an id) and list it in `dropped`, instead of
   * throwing: what a media session does with a peer's SDP, where one bad line must cost only that
   * line (as a bad `a=candidate` line does, lib/sdp/offer-answer.ts). Default false (throw).
   */
  dropInvalid?: boolean;
}

/** An `a=alt` line (draft §7) that `parseAltAttributes` dropped (`dropInvalid`), with why. */
export interface AltDroppedLine {
  /** Index into the `values` given. */
  line: number;
  value: string;
  error: ParseError;
}

/**
 * Parses the alt attributes of one media section, in order. Adds list-level checks: ids must be
 * unique (a repeated id makes derived-from ambiguous, so the line is refused), transport addresses
 * should be. Warnings carry the `line` index into `values`.
 * @throws ParseError naming the field, the message starting with the line index; with
 *   `dropInvalid` never, the line is listed in `dropped` instead.
 */
export function parseAltAttributes(values: string[], options: AltParseOptions = {}): AltListParseResult {
  const alternates: AltCandidate[] = [];
  const warnings: AltWarning[] = [];
  const dropped: AltDroppedLine[] = [];
  const ids = new Set<string>();
  const addresses = new Map<string, string>();
  const refuse = (line: number, value: string, error: ParseError): void => {
    if (!options.dropInvalid) throw error;
    dropped.push({ line, value, error });
  };
  values.forEach((value, line) => {
    let result: AltParseResult;
    try {
      result = parseAltAttribute(value);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      refuse(line, value, new ParseError(`alt line ${line}: ${e.message.replace(/ \(at [^)]*\)$/, '')}`, e.where));
      return;
    }
    const alt = result.alternate;
    // draft §7: "id" is a unique identifier … within the scope of a dialog.
    if (ids.has(alt.id)) {
      refuse(line, value, new ParseError(`alt line ${line}: duplicate id ${quote(alt.id)}`, 'id'));
      return;
    }
    ids.add(alt.id);
    for (const w of result.warnings) warnings.push({ ...w, line });
    // draft §7: "each of them MUST contain a different IP address and port".
    const key = `${alt.address.toLowerCase()} ${alt.port}`;
    const previous = addresses.get(key);
    if (previous !== undefined) {
      warnings.push({ code: 'duplicate-address', field: 'address', line, message: `alternate ${quote(alt.id)} repeats the address of ${quote(previous)}` });
    } else addresses.set(key, alt.id);
    alternates.push(alt);
  });
  return { alternates, warnings, dropped };
}

/**
 * Writes one alt attribute value (what follows `a=`), strictly per §7:
 * `alt:2 0.8 : user1 9kksk== 192.0.2.1 9988 192.0.2.1 9990`.
 * @throws RangeError naming the field if the alternate would not parse back.
 */
export function formatAltAttribute(alt: AltCandidate): string {
  const fail = (field: string, what: string): never => {
    throw new RangeError(`cannot write alt ${field}: ${what}`);
  };
  if (typeof alt.id !== 'string' || !TOKEN.test(alt.id)) fail('id', `${quote(String(alt.id))} is not a token`);
  let qvalue = '';
  try {
    qvalue = formatQvalue(alt.qvalue);
  } catch (e) {
    fail('qvalue', (e as Error).message);
  }
  if (alt.derivedFrom !== null && (typeof alt.derivedFrom !== 'string' || !TOKEN.test(alt.derivedFrom))) fail('derived-from', `${quote(String(alt.derivedFrom))} is not an id`);
  if (typeof alt.username !== 'string' || !NON_WS_STRING.test(alt.username)) fail('username', `${quote(String(alt.username))} is not a non-ws-string`);
  if (typeof alt.password !== 'string' || !NON_WS_STRING.test(alt.password)) fail('password', `${quote(String(alt.password))} is not a non-ws-string`);
  checkTransportAddress(alt.address, alt.port, 'address', 'port', fail);
  let line = `alt:${alt.id} ${qvalue} ${alt.derivedFrom ?? ':'} ${alt.username} ${alt.password} ${alt.address} ${alt.port}`;
  if (alt.rtcpAddress !== undefined || alt.rtcpPort !== undefined) {
    checkTransportAddress(alt.rtcpAddress, alt.rtcpPort, 'rtcp-address', 'rtcp-port', fail);
    line += ` ${alt.rtcpAddress} ${alt.rtcpPort}`;
  }
  return line;
}

function checkTransportAddress(address: unknown, port: unknown, addressField: string, portField: string, fail: (field: string, what: string) => never): void {
  if (typeof address !== 'string' || !isValidConnectionAddress(address)) fail(addressField, `${quote(String(address))} is not an IPv4/IPv6 address or FQDN`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail(portField, `${String(port)} not in 1..65535`);
}

/**
 * Cross-checks the derived-from ids of `alternates` against the alternates the peer sent
 * (draft §5.5, §7). Returns warnings, with `line` indexing `alternates`; nothing throws, as the
 * alternates stay usable.
 */
export function checkDerivedFrom(alternates: AltCandidate[], peerAlternates: AltCandidate[]): AltWarning[] {
  const peer = new Map(peerAlternates.map((a) => [a.id, a]));
  const warnings: AltWarning[] = [];
  alternates.forEach((alt, line) => {
    if (alt.derivedFrom === null) return;
    const from = peer.get(alt.derivedFrom);
    if (from === undefined) {
      warnings.push({ code: 'derived-from-unknown', field: 'derived-from', line, message: `alternate ${quote(alt.id)} is derived from ${quote(alt.derivedFrom)}, which the peer did not send` });
    } else if (Math.round(from.qvalue * 1000) !== Math.round(alt.qvalue * 1000)) {
      // draft §5.5: "The priority of this transport address is set to the value of the qvalue of
      // that alternative from the offer."
      warnings.push({
        code: 'derived-from-qvalue',
        field: 'qvalue',
        line,
        message: `alternate ${quote(alt.id)} has qvalue ${qvalueText(alt.qvalue)} but peer alternate ${quote(from.id)} it is derived from has ${qvalueText(from.qvalue)}`,
      });
    }
  });
  return warnings;
}
