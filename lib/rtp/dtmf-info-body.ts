/**
 * DTMF carried in SIP INFO requests (RFC 6086 bodies), the signalling-path alternative to RFC 4733
 * events for peers that offer no telephone-event. No SIP here: the caller (lib/sip) hands over the
 * request's Content-Type and body and gets a digit, or builds a body to send.
 *
 * Two body formats are in use, neither standardised by the IETF:
 * - `application/dtmf-relay` (Cisco's, also sent by Asterisk): lines `key=value`,
 *   ```
 *   Signal=5
 *   Duration=160
 *   ```
 *   `Signal` is the key ('0'-'9', '*', '#', 'A'-'D', and '!' for flash like everywhere in
 *   icephone; some phones write the event codes 10-16 for '*' … flash, accepted too); `Duration`
 *   is the tone length in ms (1..60000), optional. Keys are case-insensitive, white space around
 *   keys and values is ignored, lines end in CRLF, LF or CR, blank lines and unknown keys are
 *   skipped.
 * - `application/dtmf`: the body is the key alone (`5`), white space around it ignored.
 * A body without a duration yields DEFAULT_DTMF_DURATION_MS (100 ms).
 */
import { ParseError } from '../base/errors.js';
import { DEFAULT_DTMF_DURATION_MS, MAX_DTMF_DURATION_MS } from './dtmf-sender.js';
import { dtmfDigitOf, dtmfEventOf, type DtmfDigit } from './telephone-event.js';

export const DTMF_RELAY_CONTENT_TYPE = 'application/dtmf-relay';
export const DTMF_CONTENT_TYPE = 'application/dtmf';

/** A digit from (or for) an INFO body. */
export interface DtmfInfo {
  digit: DtmfDigit;
  /** Tone length in ms: the body's Duration, or 100 when it has none. */
  durationMs: number;
}

/** Bodies longer than this are not DTMF (a bound on what is scanned). */
const MAX_BODY_LENGTH = 1024;

/** A key: one DTMF character, or an event code 0-16 written in decimal. */
function readSignal(text: string, where: string): DtmfDigit {
  if (/^\d{2}$/.test(text)) {
    const digit = dtmfDigitOf(Number(text));
    if (digit !== undefined) return digit;
  }
  const event = dtmfEventOf(text);
  if (event === undefined) throw new ParseError(`${JSON.stringify(text)} is not a DTMF key (0-9 * # A-D ! or event code 10-16)`, where);
  return dtmfDigitOf(event)!;
}

function bodyText(body: string | Buffer): string {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.length > MAX_BODY_LENGTH) throw new ParseError(`DTMF INFO body of ${text.length} characters is too long`, 'body');
  return text;
}

/**
 * Reads an `application/dtmf-relay` body (`Signal=5\r\nDuration=160`).
 * @throws ParseError (`where` is the key or line number) on a line without `=`, a repeated or
 *   missing Signal, a Signal that is no DTMF key, or a Duration that is not an integer 1..60000.
 */
export function parseDtmfRelayBody(body: string | Buffer): DtmfInfo {
  let signal: DtmfDigit | undefined;
  let durationMs: number | undefined;
  const lines = bodyText(body).split(/\r\n|\r|\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ParseError(`dtmf-relay line ${JSON.stringify(line)} is not key=value`, `line ${index + 1}`);
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'signal') {
      if (signal !== undefined) throw new ParseError('dtmf-relay body has two Signal lines', 'Signal');
      signal = readSignal(value, 'Signal');
    } else if (key === 'duration') {
      if (durationMs !== undefined) throw new ParseError('dtmf-relay body has two Duration lines', 'Duration');
      if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > MAX_DTMF_DURATION_MS) {
        throw new ParseError(`dtmf-relay Duration ${JSON.stringify(value)} is not an integer 1..${MAX_DTMF_DURATION_MS} (ms)`, 'Duration');
      }
      durationMs = Number(value);
    }
  });
  if (signal === undefined) throw new ParseError('dtmf-relay body has no Signal line', 'Signal');
  return { digit: signal, durationMs: durationMs ?? DEFAULT_DTMF_DURATION_MS };
}

/**
 * Reads an `application/dtmf` body: one key, white space around it ignored.
 * @throws ParseError when the body is anything else.
 */
export function parseDtmfBody(body: string | Buffer): DtmfInfo {
  const text = bodyText(body).trim();
  if (text === '') throw new ParseError('application/dtmf body is empty', 'body');
  return { digit: readSignal(text, 'body'), durationMs: DEFAULT_DTMF_DURATION_MS };
}

/**
 * Reads the body of an INFO request by its Content-Type (`application/dtmf-relay` or
 * `application/dtmf`, case-insensitive, parameters ignored).
 * @throws ParseError for another content type (`where` = 'Content-Type') or a bad body.
 */
export function parseDtmfInfoBody(contentType: string, body: string | Buffer): DtmfInfo {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === DTMF_RELAY_CONTENT_TYPE) return parseDtmfRelayBody(body);
  if (type === DTMF_CONTENT_TYPE) return parseDtmfBody(body);
  throw new ParseError(`Content-Type ${JSON.stringify(contentType)} is not a DTMF INFO body`, 'Content-Type');
}

/**
 * Writes an `application/dtmf-relay` body: `Signal=<key>\r\nDuration=<ms>\r\n`.
 * @throws RangeError when `digit` is no DTMF key or the duration is not an integer 1..60000.
 */
export function formatDtmfRelayBody(info: { digit: string; durationMs?: number }): string {
  const event = dtmfEventOf(info.digit);
  if (event === undefined) throw new RangeError(`${JSON.stringify(info.digit)} is not a DTMF digit (0-9 * # A-D !)`);
  const durationMs = info.durationMs ?? DEFAULT_DTMF_DURATION_MS;
  if (!Number.isInteger(durationMs) || durationMs < 1 || durationMs > MAX_DTMF_DURATION_MS) {
    throw new RangeError(`DTMF duration ${durationMs} ms is not an integer 1..${MAX_DTMF_DURATION_MS}`);
  }
  return `Signal=${dtmfDigitOf(event)}\r\nDuration=${durationMs}\r\n`;
}
