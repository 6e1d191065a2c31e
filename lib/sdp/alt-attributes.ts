/**
 * The legacy `a=alt` attribute of draft-rosenberg-sipping-ice-01 §7, and its mapping to and from the
 * ICE agent's candidates (RFC 8445 §5.1, written as RFC 8839 §5.1 `a=candidate`).
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
 * ## qvalue ↔ RFC 8445 priority (draft §5.3, §5.5, §2)
 * The draft ranks alternates by a qvalue in 0..1 (RFC 3261 §25.1 syntax, so at most three decimals:
 * 1001 levels), RECOMMENDING, from best to worst, local IPv6, local IPv4, STUN derived, TURN/RSIP/
 * TEREDO derived, and local VPN addresses (§5.3). Between equal qvalues a peer derived address wins
 * (§5.5: "between two transport addresses with the same q-value, a STUN derived address always has
 * higher priority"; §9.1.2: "a peer-derived address is always preferred"), and alternates "are
 * ordered in terms of preference" (§2), so document order breaks the remaining ties.
 *
 * RFC 8445 §5.1.2.1 computes `priority = 2^24 * type preference + 2^8 * local preference +
 * (256 - component ID)`. We read the top 24 bits (type preference 0..126 : local preference
 * 0..65535) as one preference number and fill it qvalue-first:
 * ```
 * preference      = qvalue*1000 * 8192 + (peer derived ? 4096 : 0) + (4095 - min(index, 4095))
 * type preference = preference >>> 16          (0..125)
 * local preference = preference & 0xffff
 * ```
 * so sorting candidates by priority sorts them exactly as the draft sorts alternates, and
 * `priorityToQvalue(p) = floor((p >>> 8) / 8192) / 1000` recovers the qvalue even when the `alt-q`
 * extension is lost. The price is RFC 8445 §5.1.2.2's rule that the type preference be "identical
 * for all candidates of the same type": no type-first scheme can reproduce the draft's order
 * (Figure 26 ranks a peer derived 1.0 above a STUN derived 0.8 above a peer derived 0.4, and §5.3
 * ranks VPN host addresses below relayed ones), and these priorities are the peer's own ranking of
 * its addresses, which is what a remote candidate's priority means in pair priority (§6.1.2.3).
 * Going the other way, an RFC 8445 priority maps to `min(1, floor((p >>> 8) / 8192) / 1000)`:
 * recommended host (126) → 1.0, prflx (110) → 0.880–0.887, srflx (100) → 0.800–0.807,
 * relay (0) → 0.0–0.007. The map is monotonic, so priority order is kept (ties may merge).
 *
 * ## derived-from ↔ peer reflexive, related address (draft §5.5, §7)
 * The draft's "peer derived transport address" is RFC 8445's peer reflexive candidate: the
 * MAPPED-ADDRESS learned from a check sent to the peer. `derived-from` is ":" for every other
 * alternate and otherwise the peer's alternate id the check was sent to; the draft requires media to
 * such an address to be sent *from* that peer alternate (§7), a pairing constraint for the agent.
 * This is not RFC 8839's `raddr`/`rport`, which is the candidate's own base (RFC 8445 §5.1.1.2) and
 * which the alt line does not carry. So: derived-from id → type `prflx` and extension
 * `alt-derived-from <id>`; ":" → no extension and, as the alt line does not say how an address was
 * obtained, type `host` unless the caller's `typeOf` knows better. For non-host types RFC 8839 §5.1
 * wants `raddr`/`rport`; we write the unspecified address of the same family and port 9 (the form
 * used when the related address is not disclosed) and ignore `raddr`/`rport` when reading back.
 *
 * ## Extension attributes carrying what `a=candidate` cannot (RFC 8839 §5.1 extension-att)
 * - `alt-id <id>`: the alternate's id (on both components' candidates).
 * - `alt-q <qvalue>`: the qvalue as written by `formatQvalue`.
 * - `alt-derived-from <id>`: present only for peer derived alternates.
 * - `alt-username <username>`, `alt-password <password>`: the per-alternate STUN credentials of
 *   draft §5.2/§7 (RFC 8839 has only one `ice-ufrag`/`ice-pwd` per media section, whose syntax the
 *   draft's values, such as `9kksj==`, do not even meet).
 * - `alt-rtcp implied`: on a component 2 candidate made from an alt line without an RTCP pair, whose
 *   RTCP address is implied to be the RTP address with port + 1 (§7, last paragraph).
 * With these, alt → candidates → alt gives back the same alternates (id, qvalue, derived-from,
 * credentials, RTCP pair or its absence); the order is kept by the priorities and by list order.
 */
import { normalizeAddress } from '../base/address.js';
import { ParseError } from '../base/errors.js';
import { computePriority, type Candidate, type CandidateType } from '../ice/candidate.js';
import { isValidConnectionAddress } from './ice-attributes.js';

/** One `a=alt` line: an alternate transport address (pair, for RTP) of draft §7. */
export interface AltCandidate {
  /** `id = token`, unique among the alternates one agent sends in a dialog. */
  id: string;
  /** Preference 0..1, three decimals at most (RFC 3261 qvalue). 1 is most preferred. */
  qvalue: number;
  /** The peer's alternate id this address was learned through (peer derived), or null for ":". */
  derivedFrom: string | null;
  /** STUN USERNAME the recipient must use in checks to this alternate (non-ws-string). */
  username: string;
  /** STUN PASSWORD the recipient must use in checks to this alternate (non-ws-string). */
  password: string;
  /** RTP (or the stream's only) transport address. */
  address: string;
  port: number;
  /** Explicit RTCP transport address; absent means RTCP goes to `address`:`port + 1`. */
  rtcpAddress?: string;
  rtcpPort?: number;
}

/** The same thing under the draft's own name. */
export type Alternate = AltCandidate;

/**
 * Deviations from the §7 grammar that the reader accepts.
 * - `address-port-joined`: `10.0.2.88:6584` written as one field instead of address SP port
 *   (draft Figure 22 and Figure 26, alternate 2). IPv6 needs brackets: `[2001:db8::1]:5000`.
 * - `extra-whitespace`: runs of spaces/tabs, or leading/trailing white space, between fields
 *   (hand-edited and re-folded SDP; RFC 2327 fields are separated by exactly one SP).
 * - `duplicate-address`: two alternates with the same transport address (§7: each "MUST contain a
 *   different IP address and port"); both are kept.
 * - `derived-from-unknown`, `derived-from-qvalue`: from `checkDerivedFrom`, a derived-from id the
 *   peer never sent, or a peer derived qvalue that is not the qvalue of the peer alternate it came
 *   from (§5.5: "The priority of this transport address is set to the value of the qvalue of that
 *   alternative from the offer"; draft Figure 19, alternate 7, says derived from 2 (qvalue 0.5)
 *   with qvalue 0.4, while the text says the address came through alternate 3, which has 0.4).
 */
export type AltWarningCode = 'address-port-joined' | 'extra-whitespace' | 'duplicate-address' | 'derived-from-unknown' | 'derived-from-qvalue';

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
}

/** Names of the RFC 8839 extension attributes that carry alt fields on `a=candidate` lines. */
export const ALT_EXTENSION = {
  id: 'alt-id',
  qvalue: 'alt-q',
  derivedFrom: 'alt-derived-from',
  username: 'alt-username',
  password: 'alt-password',
  rtcp: 'alt-rtcp',
} as const;

/** RFC 3261 §25.1 `token`. */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
/** RFC 3261 §20.10 `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
/** RFC 4566 non-ws-string = 1*(VCHAR / %x80-FF); UTF-16 code units above 0x7f stand for the latter. */
const NON_WS_STRING = /^[\x21-\x7e\u0080-\uffff]+$/;
const ICE_CHARS = /^[A-Za-z0-9+/]{1,32}$/;

/** Short, single-line rendering of untrusted input for error messages. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/** Parses an RFC 3261 qvalue into thousandths. @throws ParseError at `field`. */
function parseQvalueMilli(text: string | undefined, field = 'qvalue'): number {
  if (text === undefined || text === '') throw new ParseError('missing qvalue', field);
  if (!QVALUE.test(text)) {
    const n = Number(text);
    const why = Number.isFinite(n) && /^[\d.]+$/.test(text) && (n < 0 || n > 1) ? 'not in 0..1' : 'is not an RFC 3261 qvalue (0, 0.xyz or 1.000)';
    throw new ParseError(`qvalue ${quote(text)} ${why}`, field);
  }
  const [whole, fraction = ''] = text.split('.');
  return Number(whole) * 1000 + Number(fraction.padEnd(3, '0'));
}

/** Parses a qvalue ("0.8", "1.0", "0.125") to a number. @throws ParseError at `qvalue`. */
export function parseQvalue(text: string): number {
  return parseQvalueMilli(text) / 1000;
}

/**
 * Writes a qvalue with at least one and at most three decimals and no trailing zeros beyond the
 * first: 1 → "1.0", 0.8 → "0.8", 0.125 → "0.125" (the draft's figures all read back unchanged).
 * @throws RangeError outside 0..1.
 */
export function formatQvalue(qvalue: number): string {
  const milli = qvalueToMilli(qvalue);
  if (milli === 1000) return '1.0';
  const digits = String(milli).padStart(3, '0').replace(/0+$/, '');
  return `0.${digits === '' ? '0' : digits}`;
}

function qvalueToMilli(qvalue: number): number {
  if (typeof qvalue !== 'number' || !Number.isFinite(qvalue) || qvalue < 0 || qvalue > 1) throw new RangeError(`qvalue ${qvalue} not in 0..1`);
  const milli = Math.round(qvalue * 1000);
  if (Math.abs(milli - qvalue * 1000) > 1e-6) throw new RangeError(`qvalue ${qvalue} has more than three decimals`);
  return milli;
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
  const [id, qvalueText, derivedFromText, username, password] = fields;

  if (id === undefined) throw new ParseError('empty alt attribute', 'id');
  if (!TOKEN.test(id)) throw new ParseError(`id ${quote(id)} is not a token`, 'id');
  const milli = parseQvalueMilli(qvalueText);
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
    qvalue: milli / 1000,
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
  return { address: parseAddress(first, addressField), port: parsePort(fields[at + 1], portField), next: at + 2 };
}

/**
 * Parses the alt attributes of one media section, in order. Adds list-level checks: ids must be
 * unique (a repeated id makes derived-from ambiguous, so it throws), transport addresses should be.
 * Warnings carry the `line` index into `values`.
 * @throws ParseError naming the field; the message starts with the line index.
 */
export function parseAltAttributes(values: string[]): AltListParseResult {
  const alternates: AltCandidate[] = [];
  const warnings: AltWarning[] = [];
  const ids = new Set<string>();
  const addresses = new Map<string, string>();
  values.forEach((value, line) => {
    let result: AltParseResult;
    try {
      result = parseAltAttribute(value);
    } catch (e) {
      if (e instanceof ParseError) throw new ParseError(`alt line ${line}: ${e.message.replace(/ \(at [^)]*\)$/, '')}`, e.where);
      throw e;
    }
    const alt = result.alternate;
    for (const w of result.warnings) warnings.push({ ...w, line });
    // draft §7: "id" is a unique identifier … within the scope of a dialog.
    if (ids.has(alt.id)) throw new ParseError(`alt line ${line}: duplicate id ${quote(alt.id)}`, 'id');
    ids.add(alt.id);
    // draft §7: "each of them MUST contain a different IP address and port".
    const key = `${alt.address.toLowerCase()} ${alt.port}`;
    const previous = addresses.get(key);
    if (previous !== undefined) {
      warnings.push({ code: 'duplicate-address', field: 'address', line, message: `alternate ${quote(alt.id)} repeats the address of ${quote(previous)}` });
    } else addresses.set(key, alt.id);
    alternates.push(alt);
  });
  return { alternates, warnings };
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
    } else if (qvalueToMilli(from.qvalue) !== qvalueToMilli(alt.qvalue)) {
      // draft §5.5: "The priority of this transport address is set to the value of the qvalue of
      // that alternative from the offer."
      warnings.push({
        code: 'derived-from-qvalue',
        field: 'qvalue',
        line,
        message: `alternate ${quote(alt.id)} has qvalue ${formatQvalue(alt.qvalue)} but peer alternate ${quote(from.id)} it is derived from has ${formatQvalue(from.qvalue)}`,
      });
    }
  });
  return warnings;
}

// ---------------------------------------------------------------------------------------------
// qvalue ↔ priority (see the module comment)

const QVALUE_STEP = 8192;
const PEER_DERIVED_BIT = 4096;
const MAX_TIE_BREAK = 4095;

/**
 * RFC 8445 §5.1.2.1 priority for an alternate: qvalue first, then peer derived, then position.
 * @param index position of the alternate in its list (earlier = preferred among equals).
 * @throws RangeError on a qvalue outside 0..1 or with more than three decimals, or a bad component.
 */
export function qvalueToPriority(qvalue: number, options: { peerDerived?: boolean; index?: number; component?: number } = {}): number {
  const index = Math.max(0, Math.min(options.index ?? 0, MAX_TIE_BREAK));
  const preference = qvalueToMilli(qvalue) * QVALUE_STEP + (options.peerDerived ? PEER_DERIVED_BIT : 0) + (MAX_TIE_BREAK - index);
  const typePreference = Math.floor(preference / 65536);
  // The type argument only picks a default type preference, which typePreference overrides.
  return computePriority('host', preference % 65536, options.component ?? 1, typePreference);
}

/** The qvalue a priority stands for: exact for priorities from `qvalueToPriority`, monotonic for any. */
export function priorityToQvalue(priority: number): number {
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffffffff) throw new RangeError(`priority ${priority} not a 32-bit unsigned integer`);
  return Math.min(1000, Math.floor(Math.floor(priority / 256) / QVALUE_STEP)) / 1000;
}

// ---------------------------------------------------------------------------------------------
// alternates ↔ candidates

export interface AltToCandidateOptions {
  /**
   * Add a component 2 candidate at port + 1 for alternates without an RTCP pair (draft §7: RTCP
   * "sent to the port one higher"). Default true; pass false for rtcp-mux or non-RTP streams.
   */
  impliedRtcp?: boolean;
  /** Candidate type for an alternate; default `prflx` if peer derived, else `host`. */
  typeOf?: (alt: AltCandidate) => CandidateType;
}

/** RFC 8839 foundation (1*32 ice-char) for an alternate: its id when that fits, else a hash of it. */
function foundationFor(id: string): string {
  if (ICE_CHARS.test(id)) return id;
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (const byte of Buffer.from(id, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `x${hash.toString(16).padStart(8, '0')}`;
}

/**
 * The candidates of one alternate: component 1 (RTP), then component 2 (RTCP) when the alternate has
 * an RTCP pair or `impliedRtcp` is on. Both carry the `alt-*` extensions (see the module comment).
 */
export function alternateToCandidates(alt: AltCandidate, index = 0, options: AltToCandidateOptions = {}): Candidate[] {
  const peerDerived = alt.derivedFrom !== null;
  const type = options.typeOf?.(alt) ?? (peerDerived ? 'prflx' : 'host');
  const extensions: Array<[string, string]> = [
    [ALT_EXTENSION.id, alt.id],
    [ALT_EXTENSION.qvalue, formatQvalue(alt.qvalue)],
  ];
  if (alt.derivedFrom !== null) extensions.push([ALT_EXTENSION.derivedFrom, alt.derivedFrom]);
  extensions.push([ALT_EXTENSION.username, alt.username], [ALT_EXTENSION.password, alt.password]);

  const make = (component: number, address: string, port: number, extra: Array<[string, string]> = []): Candidate => {
    const c: Candidate = {
      foundation: foundationFor(alt.id),
      component,
      transport: 'udp',
      priority: qvalueToPriority(alt.qvalue, { peerDerived, index, component }),
      address,
      port,
      type,
    };
    if (type !== 'host') {
      // RFC 8839 §5.1 wants rel-addr/rel-port here; the alt line has no base to put in them.
      c.relatedAddress = address.includes(':') ? '::' : '0.0.0.0';
      c.relatedPort = 9;
    }
    c.extensions = [...extensions, ...extra];
    return c;
  };

  const candidates = [make(1, alt.address, alt.port)];
  if (alt.rtcpAddress !== undefined && alt.rtcpPort !== undefined) {
    candidates.push(make(2, alt.rtcpAddress, alt.rtcpPort));
  } else if ((options.impliedRtcp ?? true) && alt.port < 65535) {
    candidates.push(make(2, alt.address, alt.port + 1, [[ALT_EXTENSION.rtcp, 'implied']]));
  }
  return candidates;
}

/** All alternates' candidates, in alternate order (each alternate's RTP then RTCP candidate). */
export function alternatesToCandidates(alternates: AltCandidate[], options: AltToCandidateOptions = {}): Candidate[] {
  return alternates.flatMap((alt, index) => alternateToCandidates(alt, index, options));
}

export interface CandidateToAltOptions {
  /** Credentials for candidates without `alt-username`/`alt-password` (an RFC 8839 `ice-ufrag`). */
  username?: string;
  /** See `username` (an RFC 8839 `ice-pwd`). */
  password?: string;
}

export interface CandidateToAltResult {
  alternates: AltCandidate[];
  /** Candidates with no alt form: TCP (the draft is UDP only) and RTCP candidates without an RTP one. */
  skipped: Candidate[];
}

function extension(c: Candidate, name: string): string | undefined {
  return c.extensions?.find(([n]) => n === name)?.[1];
}

/**
 * Groups candidates into alternates: by `alt-id` when present, else each RTP candidate is an
 * alternate and takes the next unused RTCP candidate of the same foundation. Alternates come out in
 * the order of their RTP candidates; ids are kept, and generated ("1", "2", …, skipping ids in use)
 * for candidates that have none. qvalue comes from `alt-q`, else from the priority
 * (`priorityToQvalue`); derived-from from `alt-derived-from`, else ":" (an RFC 8839 prflx
 * candidate does not say which peer address it came through); credentials from
 * `alt-username`/`alt-password`, else `options`. The RTCP pair is written unless it was implied
 * (`alt-rtcp implied`, or, for a candidate without `alt-id`, the RTP address with port + 1).
 * @throws ParseError naming `alt-q`, `alt-id`, `username` or `password` when a field is bad or missing.
 */
export function candidatesToAlternates(candidates: Candidate[], options: CandidateToAltOptions = {}): CandidateToAltResult {
  const skipped: Candidate[] = [];
  const udp = candidates.filter((c) => {
    if (c.transport === 'udp' && (c.component === 1 || c.component === 2)) return true;
    skipped.push(c);
    return false;
  });

  interface Group {
    rtp?: Candidate;
    rtcp?: Candidate;
    id?: string;
  }
  const groups: Group[] = [];
  const byAltId = new Map<string, Group>();
  const rtcpByFoundation = new Map<string, Candidate[]>();
  for (const c of udp) {
    const altId = extension(c, ALT_EXTENSION.id);
    if (altId !== undefined) {
      if (!TOKEN.test(altId)) throw new ParseError(`alt-id ${quote(altId)} is not a token`, ALT_EXTENSION.id);
      let group = byAltId.get(altId);
      if (group === undefined) {
        group = { id: altId };
        byAltId.set(altId, group);
        groups.push(group);
      }
      const slot = c.component === 1 ? 'rtp' : 'rtcp';
      if (group[slot] !== undefined) throw new ParseError(`two component ${c.component} candidates with alt-id ${quote(altId)}`, ALT_EXTENSION.id);
      group[slot] = c;
    } else if (c.component === 1) {
      groups.push({ rtp: c });
    } else {
      const list = rtcpByFoundation.get(c.foundation) ?? [];
      list.push(c);
      rtcpByFoundation.set(c.foundation, list);
    }
  }
  for (const group of groups) {
    if (group.id === undefined && group.rtp !== undefined) group.rtcp = rtcpByFoundation.get(group.rtp.foundation)?.shift();
  }
  for (const list of rtcpByFoundation.values()) skipped.push(...list);

  const usedIds = new Set(byAltId.keys());
  let next = 1;
  const newId = (): string => {
    while (usedIds.has(String(next))) next++;
    usedIds.add(String(next));
    return String(next);
  };

  const alternates: AltCandidate[] = [];
  for (const group of groups) {
    const rtp = group.rtp;
    if (rtp === undefined) {
      if (group.rtcp !== undefined) skipped.push(group.rtcp);
      continue;
    }
    const qText = extension(rtp, ALT_EXTENSION.qvalue);
    const qvalue = qText !== undefined ? parseQvalueMilli(qText, ALT_EXTENSION.qvalue) / 1000 : priorityToQvalue(rtp.priority);
    const derivedFrom = extension(rtp, ALT_EXTENSION.derivedFrom) ?? null;
    if (derivedFrom !== null && !TOKEN.test(derivedFrom)) throw new ParseError(`alt-derived-from ${quote(derivedFrom)} is not an id`, ALT_EXTENSION.derivedFrom);
    const username = extension(rtp, ALT_EXTENSION.username) ?? options.username;
    const password = extension(rtp, ALT_EXTENSION.password) ?? options.password;
    if (username === undefined) throw new ParseError(`no username for candidate ${rtp.address} ${rtp.port} (no alt-username and no ice-ufrag)`, 'username');
    if (password === undefined) throw new ParseError(`no password for candidate ${rtp.address} ${rtp.port} (no alt-password and no ice-pwd)`, 'password');
    const alt: AltCandidate = { id: group.id ?? newId(), qvalue, derivedFrom, username, password, address: rtp.address, port: rtp.port };
    const rtcp = group.rtcp;
    if (rtcp !== undefined) {
      const implied =
        extension(rtcp, ALT_EXTENSION.rtcp) === 'implied' ||
        (group.id === undefined && rtcp.address === rtp.address && rtcp.port === rtp.port + 1);
      if (!implied) {
        alt.rtcpAddress = rtcp.address;
        alt.rtcpPort = rtcp.port;
      }
    }
    alternates.push(alt);
  }
  return { alternates, skipped };
}
