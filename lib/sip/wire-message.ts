import { ParseError } from '../base/errors.js';
import { boundedMemo } from '../base/memo.js';
import { SIP_MAX_HEADER_BYTES } from '../net/sip-size-limits.js';

/**
 * The transport's own view of a SIP message on the wire (RFC 3261 §7, §18.3): just enough
 * parsing to validate, route, rewrite the top Via and the Contact, and key retransmissions.
 * sip.js parses the message again, fully, once the transport hands it up.
 */
export interface SipHeader {
  /** Header name as written (possibly compact, e.g. `v`). */
  name: string;
  /** Value, unfolded (RFC 3261 §7.3.1 line folding removed), trimmed. */
  value: string;
}

export interface WireMessage {
  kind: 'request' | 'response';
  /** Request method (requests only). */
  method: string;
  /** Request-URI (requests only). */
  requestUri: string;
  /** Status code (responses only; 0 for requests). */
  status: number;
  /** Reason phrase (responses only). */
  reason: string;
  headers: SipHeader[];
  body: Buffer;
}

/** Compact header forms, RFC 3261 §7.3.3 and the IANA registry. */
const COMPACT: Record<string, string> = {
  v: 'via', i: 'call-id', l: 'content-length', m: 'contact', f: 'from', t: 'to',
  c: 'content-type', e: 'content-encoding', k: 'supported', s: 'subject', r: 'refer-to', o: 'event', u: 'allow-events',
};

/**
 * Lower-case full name of a header (compact forms expanded). Memoised for the names seen first (a
 * message's headers are looked up by name many times over; issue 14 measured the lower-casing at
 * 1.7% of the answerer's CPU); names past the first 512 distinct ones are computed each time.
 */
export const canonicalName: (name: string) => string = boundedMemo((name) => {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}, 512);

const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const CRLF2 = Buffer.from('\r\n\r\n');
/**
 * sip.js 0.21.2's grammar reads `Method = INVITEm / ACKm / OPTIONSm / BYEm / CANCELm / REGISTERm /
 * SUBSCRIBEm / NOTIFYm / REFERm / PUBLISHm / extension_method`, a PEG ordered choice: a method that
 * starts with one of these names and goes on (`INVITEE`, `BYE-1`), a valid token, fails to parse,
 * and in a response's CSeq that failure is a TypeError in its parser.js (make fuzz). Such a
 * message cannot be answered or matched anyway; the wire check refuses it with a ParseError.
 */
const SIPJS_METHOD_LITERALS = ['INVITE', 'ACK', 'OPTIONS', 'BYE', 'CANCEL', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'PUBLISH'];
/** Headers a message carries at most once (RFC 3261 §7.3.1, §20; sip.js parses each with setHeader). */
const SINGLE_VALUED = new Set(['call-id', 'from', 'to', 'cseq', 'max-forwards', 'content-length']);

/** Maximum size of the header section we accept (issue 13: parse cost and memory; lib/net/sip-size-limits.ts). */
export const MAX_HEADER_BYTES = SIP_MAX_HEADER_BYTES;

/**
 * Parses one SIP message.
 * @param stream true for a message framed from a stream (TCP): then Content-Length is
 *   mandatory (RFC 3261 §18.3 "it MUST be used with stream oriented transports").
 * @throws ParseError naming what failed: a bad start line, a header line without a colon,
 *   a missing mandatory header (Via, Call-ID, CSeq, From, To), a repeated Call-ID, From, To, CSeq,
 *   Max-Forwards or Content-Length, a CSeq that is not number and token, a Via without branch,
 *   a CSeq whose method differs from the request's, or a body shorter than Content-Length.
 */
export function parseWireMessage(data: Buffer, stream = false): WireMessage {
  const headerEnd = data.indexOf(CRLF2);
  if (headerEnd < 0) throw new ParseError('no empty line ends the header section', 'header section');
  if (headerEnd > MAX_HEADER_BYTES) throw new ParseError(`header section longer than ${MAX_HEADER_BYTES} bytes`, 'header section');
  const head = data.subarray(0, headerEnd).toString('utf8');
  if (head.includes('\0')) throw new ParseError('NUL byte in header section', 'header section');
  const rawLines = head.split('\r\n');
  const startLine = rawLines[0] ?? '';
  const msg: WireMessage = { kind: 'request', method: '', requestUri: '', status: 0, reason: '', headers: [], body: Buffer.alloc(0) };

  if (startLine.startsWith('SIP/2.0 ')) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (RFC 3261 §7.2)
    const m = /^SIP\/2\.0 ([1-6]\d\d)(?: (.*))?$/.exec(startLine);
    if (!m) throw new ParseError(`bad status line '${clip(startLine)}'`, 'start line');
    msg.kind = 'response';
    msg.status = Number(m[1]);
    msg.reason = m[2] ?? '';
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1)
    const parts = startLine.split(' ');
    if (parts.length !== 3 || !TOKEN.test(parts[0]!) || parts[2] !== 'SIP/2.0' || !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(parts[1]!)) {
      throw new ParseError(`bad request line '${clip(startLine)}'`, 'start line');
    }
    msg.method = parts[0]!;
    msg.requestUri = parts[1]!;
  }

  // The first header of each name the checks below read (what getHeader would return), found
  // in this one pass instead of a search of every header per name.
  const first = new Map<string, SipHeader>();
  for (let i = 1; i < rawLines.length; i++) {
    const line = rawLines[i]!;
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) {
      const last = msg.headers[msg.headers.length - 1];
      if (!last) throw new ParseError('continuation line before any header', `line ${i + 1}`);
      // RFC 3261 §7.3.1: the folding is one SP; the value stays trimmed (a value may start on the next line).
      const more = line.trim();
      last.value = last.value === '' ? more : more === '' ? last.value : `${last.value} ${more}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(`header line without a colon '${clip(line)}'`, `line ${i + 1}`);
    const name = line.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new ParseError(`bad header name '${clip(name)}'`, `line ${i + 1}`);
    const header: SipHeader = { name, value: line.slice(colon + 1).trim() };
    msg.headers.push(header);
    // RFC 3261 §7.3.1: only a header whose value is a comma-separated list may appear more than
    // once. sip.js keeps the last of these while we read the first, and throws a TypeError on a
    // response whose last CSeq its grammar refuses (make fuzz; RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
    const canonical = canonicalName(name);
    if (!first.has(canonical)) first.set(canonical, header);
    else if (SINGLE_VALUED.has(canonical)) throw new ParseError(`repeated ${canonical} header`, `line ${i + 1}`);
  }
  // Read after the loop: a continuation line may still have extended a value.
  const valueOf = (name: string): string | undefined => first.get(name)?.value;

  for (const required of ['via', 'call-id', 'cseq', 'from', 'to']) {
    if (!valueOf(required)) throw new ParseError(`missing mandatory header ${required}`, required);
  }
  // RFC 3261 §20.16/§25.1: CSeq = 1*DIGIT LWS Method, Method = token. Checked here for responses
  // too: sip.js's parser reads `method` of a CSeq its grammar refused and throws a TypeError
  // (core/messages/parser.js, found by make fuzz: test/fixtures/fuzz/regressions.json).
  const cseq = /^(\d{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(valueOf('cseq')!);
  if (!cseq) throw new ParseError('bad CSeq', 'cseq');
  if (SIPJS_METHOD_LITERALS.some((l) => cseq[2]!.length > l.length && cseq[2]!.startsWith(l))) {
    throw new ParseError(`CSeq method ${cseq[2]} is a token sip.js's grammar refuses`, 'cseq');
  }
  if (msg.kind === 'request' && cseq[2] !== msg.method) throw new ParseError(`CSeq method ${cseq[2]} differs from ${msg.method}`, 'cseq');
  const via = parseVia(splitHeaderValues(valueOf('via')!)[0] ?? '');
  if (!via.params.has('branch')) throw new ParseError('top Via has no branch parameter', 'via');

  const bodyStart = headerEnd + 4;
  const available = data.length - bodyStart;
  const lengthHeader = valueOf('content-length');
  if (lengthHeader === undefined) {
    if (stream) throw new ParseError('Content-Length missing on a stream transport', 'content-length');
    msg.body = Buffer.from(data.subarray(bodyStart));
  } else {
    if (!/^\d{1,9}$/.test(lengthHeader)) throw new ParseError(`bad Content-Length '${clip(lengthHeader)}'`, 'content-length');
    const length = Number(lengthHeader);
    // RFC 3261 §18.3: "If the transport packet ends before the end of the message body,
    // this is considered an error" ... octets beyond the body MUST be discarded.
    if (length > available) throw new ParseError(`body shorter (${available}) than Content-Length ${length}`, 'content-length');
    msg.body = Buffer.from(data.subarray(bodyStart, bodyStart + length));
  }
  return msg;
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 60 ? `${printable.slice(0, 60)}...` : printable;
}

/** First value of a header (by full or compact name), or undefined. */
export function getHeader(msg: WireMessage, name: string): string | undefined {
  const want = canonicalName(name);
  return msg.headers.find((h) => canonicalName(h.name) === want)?.value;
}

/** Method in the CSeq header (the transaction's method for a response). */
export function cseqMethod(msg: WireMessage): string {
  return (getHeader(msg, 'cseq') ?? '').trim().split(/\s+/)[1] ?? '';
}

/** Splits a header value at top-level commas (not inside quotes or angle brackets). */
export function splitHeaderValues(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '<') depth++;
    else if (ch === '>') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v.length > 0);
}

/** A parsed Via value (RFC 3261 §20.42). Params keep their order; a flag param maps to undefined. */
export interface Via {
  /** Transport token: UDP, TCP, TLS, WS... */
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string | undefined>;
}

/** @throws ParseError on a malformed Via value. */
export function parseVia(value: string): Via {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:]+)(?:\s*:\s*(\d{1,5}))?\s*(;.*)?$/.exec(value.trim());
  if (!m) throw new ParseError(`bad Via '${clip(value)}'`, 'via');
  const params = new Map<string, string | undefined>();
  for (const part of (m[4] ?? '').split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), undefined);
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  const via: Via = { transport: m[1]!.toUpperCase(), host: m[2]!, params };
  if (m[3] !== undefined) via.port = Number(m[3]);
  return via;
}

export function formatVia(via: Via): string {
  let s = `SIP/2.0/${via.transport} ${via.host}${via.port !== undefined ? `:${via.port}` : ''}`;
  for (const [k, v] of via.params) s += v === undefined ? `;${k}` : `;${k}=${v}`;
  return s;
}

/** Host:port and parameters of a SIP or SIPS URI (RFC 3261 §19.1.1), possibly inside `<...>`. */
export interface UriTarget {
  scheme: 'sip' | 'sips';
  host: string;
  port?: number;
  params: Map<string, string | undefined>;
}

/** @throws ParseError when the value holds no sip:/sips: URI. */
export function parseUriTarget(value: string): UriTarget {
  const bracket = /<([^>]*)>/.exec(value);
  const uri = (bracket ? bracket[1]! : value).trim();
  const m = /^(sips?):(?:[^@;?]*@)?(\[[0-9A-Fa-f:.]+\]|[^:;?>]+)(?::(\d{1,5}))?([^?]*)/i.exec(uri);
  if (!m) throw new ParseError(`not a SIP URI '${clip(uri)}'`, 'uri');
  const params = new Map<string, string | undefined>();
  for (const part of (m[4] ?? '').split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), undefined);
    else params.set(p.slice(0, eq).toLowerCase(), p.slice(eq + 1));
  }
  const target: UriTarget = { scheme: m[1]!.toLowerCase() as 'sip' | 'sips', host: m[2]!, params };
  if (m[3] !== undefined) target.port = Number(m[3]);
  return target;
}

/** Host without IPv6 brackets. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host:port` with brackets around IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The start line and header section with the empty line that ends it (header order kept). */
function serializeHead(msg: WireMessage): string {
  let head = msg.kind === 'request' ? `${msg.method} ${msg.requestUri} SIP/2.0\r\n` : `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  for (const h of msg.headers) head += `${h.name}: ${h.value}\r\n`;
  return `${head}\r\n`;
}

/** Serializes with the header order kept and the body appended as is. */
export function serializeWireMessage(msg: WireMessage): Buffer {
  return Buffer.concat([Buffer.from(serializeHead(msg), 'utf8'), msg.body]);
}

/**
 * The same message as text, for sip.js's transport interface (`Transport.onMessage(string)`):
 * what `serializeWireMessage(msg).toString('utf8')` gives, without the Buffer in between (the
 * header section is ASCII-delimited, so decoding the body alone gives the same characters).
 */
export function serializeWireMessageText(msg: WireMessage): string {
  return serializeHead(msg) + msg.body.toString('utf8');
}

/** Index of the first header with this name, or -1. */
export function headerIndex(msg: WireMessage, name: string): number {
  const want = canonicalName(name);
  return msg.headers.findIndex((h) => canonicalName(h.name) === want);
}

/** Replaces the top Via value (the first value of the first Via header line). */
export function replaceTopVia(msg: WireMessage, via: Via): void {
  const i = headerIndex(msg, 'via');
  if (i < 0) throw new ParseError('no Via to replace', 'via');
  const values = splitHeaderValues(msg.headers[i]!.value);
  values[0] = formatVia(via);
  msg.headers[i]!.value = values.join(', ');
}

/** The top Via, parsed. @throws ParseError if absent or malformed. */
export function topVia(msg: WireMessage): Via {
  const v = getHeader(msg, 'via');
  if (v === undefined) throw new ParseError('no Via', 'via');
  return parseVia(splitHeaderValues(v)[0] ?? '');
}
