/**
 * Fuzz targets for SIP bytes from the network: one UDP datagram, and a TCP byte stream, through
 * the steps `SipTransport.receive` (lib/sip/transport.ts) takes before sip.js sees a message, then
 * through the parse sip.js does on what the transport hands it (`Core.Parser.parseMessage` with
 * the fast grammar of lib/sip/sipjs/fast-parser.ts installed, as every Phone runs it).
 *
 * `SipTransport.receive` is private and bound to a socket, so its steps are repeated here in
 * order, with the same exported functions: CRLF keep-alive check, `parseWireMessage`, the top Via
 * rewrite of `receiveRequest` (received/rport) or `receiveResponse` (sip.js's viaHost, no port),
 * `serializeWireMessage`, then sip.js. Keep them in step with transport.ts.
 *
 * Contracts: our wire parser throws `ParseError` (transport.ts drops and counts the message);
 * sip.js's `Parser.parseMessage` returns `undefined` for a message it cannot parse (counted as a
 * rejection here); anything else thrown is a finding.
 */
import { Core } from 'sip.js';
import { SipStreamFramer } from '../../../lib/net/tcp-framing.js';
import { installFastSipParser, parseSipMessage } from '../../../lib/sip/sipjs/fast-parser.js';
import { parseRAck } from '../../../lib/sip/sipjs/reliable-provisional.js';
import { hasOptionTag } from '../../../lib/sdp/preconditions.js';
import {
  cseqMethod, getHeader, parseUriTarget, parseWireMessage, replaceTopVia, serializeWireMessage, splitHeaderValues, topVia,
} from '../../../lib/sip/wire-message.js';
import { sipCorpus } from '../../../test/fixtures/sip-corpus/index.js';
import { attempt, normalizeStream, streamReads, streamSeeds, type FuzzTarget, type Verdict } from '../engine.js';

/** sip.js's `viaHost` as the Phone sets it; responses reach sip.js with this sent-by. */
const VIA_HOST = 'icephone.invalid';
const FROM = { address: '192.0.2.1', port: 5062 };

/** Headers sip.js parses later, on demand (`IncomingMessage.parseHeader`) in its core and API. */
const LAZY_HEADERS = ['Contact', 'Event', 'Subscription-State', 'Content-Disposition', 'Replaces', 'Refer-To', 'Content-Type', 'Max-Forwards', 'Record-Route'];

function sipSeeds(): Buffer[] {
  return sipCorpus().map((m) => Buffer.from(m.text, 'utf8'));
}

/** Header lines of the corpus, boundary values, and the separators SIP's grammar turns on. */
function sipDictionary(): string[] {
  const lines = new Set<string>();
  for (const m of sipCorpus()) for (const l of m.text.split('\r\n\r\n')[0]!.split('\r\n').slice(1)) if (l.length < 200) lines.add(`${l}\r\n`);
  return [
    ...[...lines].slice(0, 200),
    'SIP/2.0', 'SIP/2.0 ', ' SIP/2.0\r\n', 'sip:', 'sips:', 'tel:', '@', ';branch=', ';branch=z9hG4bK', ';rport', ';received=', ';tag=', ';lr', ';maddr=',
    ';transport=tcp', 'Via: ', 'v: ', 'Content-Length: ', 'l: ', 'CSeq: ', 'Call-ID: ', 'From: ', 'To: ', 'Contact: ', 'm: ', 'Max-Forwards: ',
    'Record-Route: ', 'Route: ', 'Require: 100rel', 'RSeq: ', 'RAck: ', 'Content-Type: application/sdp', '*', '<sip:a@b>', '"\\"', 'INVITE', 'ACK',
    'BYE', 'UPDATE', 'PRACK', 'REGISTER', 'OPTIONS', 'CANCEL', 'SIP/2.0/UDP ', 'SIP/2.0/TCP ', '[2001:db8::1]', ':5060', ':65536', ':0',
    '\r\n ', '\r\n\t', ' 2147483648 ', ' 4294967296 INVITE',
  ];
}

/** Sets Content-Length to the real body length (a mutant otherwise rarely gets past it). */
function fixContentLength(b: Buffer): Buffer {
  const end = b.indexOf('\r\n\r\n');
  if (end < 0) return b;
  const head = b.subarray(0, end).toString('latin1').replace(/(^|\r\n)(content-length|l)[ \t]*:[^\r\n]*/gi, `$1$2: ${b.length - end - 4}`);
  return Buffer.concat([Buffer.from(head, 'latin1'), b.subarray(end)]);
}

const quietLogger = { error: () => undefined, warn: () => undefined, log: () => undefined, debug: () => undefined } as unknown as Core.Logger;

/**
 * After `Parser.parseMessage`: the sanity checks of sip.js's `UserAgent.onTransportMessage` that
 * read parsed fields, and the on-demand header parses its core does.
 */
function sipJsAfterParse(message: Core.IncomingRequestMessage | Core.IncomingResponseMessage): void {
  for (const name of LAZY_HEADERS) {
    const count = message.getHeaders(name).length;
    for (let i = 0; i < count; i++) message.parseHeader(name, i);
  }
  for (const header of ['from', 'to', 'call_id', 'cseq', 'via']) if (!message.hasHeader(header)) return;
  if (message instanceof Core.IncomingRequestMessage) {
    if (!message.toTag) void message.callId.substr(0, 5);
  } else if (message.via.host !== VIA_HOST || message.via.port !== undefined) {
    return;
  }
  Number(message.getHeader('content-length'));
}

/** The receive path of one message (datagram, or one frame of a stream). */
function receive(data: Buffer, stream: boolean): Verdict {
  // transport.ts: "CRLF keep-alive"
  if (/^[\r\n\t ]*$/.test(data.toString('latin1'))) return 'accepted';
  const msg = parseWireMessage(data, stream);
  // receiveRequest / receiveResponse: both throw ParseError on a bad top Via (caught and counted there).
  const via = topVia(msg);
  if (msg.kind === 'request') {
    if (via.params.has('rport')) {
      via.params.set('received', FROM.address);
      via.params.set('rport', String(FROM.port));
    } else {
      via.params.set('received', FROM.address);
    }
    replaceTopVia(msg, via);
    // Where a response to it goes, and where a request built from its Contact would (requestTarget).
    attempt(() => parseUriTarget(msg.requestUri));
  } else {
    cseqMethod(msg);
    via.host = VIA_HOST;
    delete via.port;
    replaceTopVia(msg, via);
  }
  for (const value of splitHeaderValues(getHeader(msg, 'contact') ?? '')) attempt(() => parseUriTarget(value));
  const route = getHeader(msg, 'record-route');
  if (route) for (const value of splitHeaderValues(route)) attempt(() => parseUriTarget(value));
  // Header values our SIP layer reads itself (lib/sip/sipjs/reliable-provisional.ts, preconditions-flow.ts): no throw.
  parseRAck(getHeader(msg, 'rack'));
  for (const header of ['require', 'supported']) hasOptionTag(getHeader(msg, header), 'precondition');
  // deliver(): what sip.js receives.
  const message = parseSipMessage(serializeWireMessage(msg).toString('utf8'));
  if (!message) return 'rejected';
  sipJsAfterParse(message);
  return 'accepted';
}

export const sipDatagramTarget: FuzzTarget = {
  name: 'sip-datagram',
  about: 'one UDP datagram through lib/sip/transport.ts receive (lib/sip/wire-message.ts: ParseError) into sip.js Parser.parseMessage with lib/sip/sipjs/fast-parser.ts (undefined = rejected)',
  kind: 'text',
  seeds: sipSeeds,
  dictionary: sipDictionary(),
  fixup: fixContentLength,
  prepare: installFastSipParser,
  run: (input) => receive(input, false),
};

/**
 * A TCP byte stream: `SipStreamFramer` (lib/net/tcp-framing.ts; never throws, errors are results)
 * cuts it into messages, each then takes the receive path with `stream = true` (Content-Length
 * mandatory). Byte 0 of the input says how the stream is cut into reads (engine.ts `streamReads`).
 */
export const sipStreamTarget: FuzzTarget = {
  name: 'sip-stream',
  about: 'a TCP byte stream through lib/net/tcp-framing.ts SipStreamFramer (never throws), then the receive path per message (ParseError / undefined)',
  kind: 'text',
  seeds: () => {
    const seeds = sipSeeds();
    const out: Buffer[] = [];
    for (let i = 0; i + 2 < seeds.length; i += 3) out.push(Buffer.concat([seeds[i]!, Buffer.from('\r\n\r\n'), seeds[i + 1]!, seeds[i + 2]!]));
    return streamSeeds(out);
  },
  dictionary: sipDictionary(),
  prepare: installFastSipParser,
  maxLength: 1 + 0x10000,
  normalize: normalizeStream,
  run(input) {
    const framer = new SipStreamFramer();
    let rejected = false;
    for (const read of streamReads(input)) {
      for (const frame of framer.push(read)) {
        if (frame.kind === 'error') rejected = true;
        else if (attempt(() => receive(frame.data, true)) !== 'accepted') rejected = true;
      }
    }
    return rejected ? 'rejected' : 'accepted';
  },
};

export const SIP_TARGETS: FuzzTarget[] = [sipDatagramTarget, sipStreamTarget];
