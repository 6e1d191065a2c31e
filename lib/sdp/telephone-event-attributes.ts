/**
 * SDP for RFC 4733 telephone events (§2.4.1, media type registration §7.1.1):
 *
 * ```
 * m=audio 49170 RTP/AVP 0 101
 * a=rtpmap:101 telephone-event/8000
 * a=fmtp:101 0-16
 * ```
 *
 * The fmtp value is the `events` parameter written bare: a list of comma-separated elements, each
 * an event code or two codes joined by a hyphen, the second larger than the first, meaning the
 * range between them; no white space; not necessarily sorted. Without an fmtp the list is 0-15
 * (the DTMF digits). Each side's list names the events it can receive, so the list in the peer's
 * SDP bounds what we may send, and ours (0-16: digits and flash, what DtmfReceiver reports) what it
 * may send us.
 *
 * The telephone-event clock rate must be the voice codec's: events and audio share the stream's
 * RTP timestamp clock (RFC 4733 §2.2.1; the media type's `rate`, §7.1.1, defaults to 8000), so a description offering `telephone-event/48000` for
 * Opus and `telephone-event/8000` for G.711 is answered with the 8000 one when G.711 is chosen.
 *
 * Building: put `telephoneEventCodec(pt)` after the voice codecs in `codecs` of
 * `buildDescription` (it writes the rtpmap) and `telephoneEventFmtp(pt)` in `extraMediaAttributes`.
 * Reading: `negotiateTelephoneEvent(parseDescription(sdp), chosenVoiceCodec)`.
 */
import { ParseError } from '../base/errors.js';
import type { CodecDescription, SdpAttribute } from './offer-answer.js';

/** Encoding name in a=rtpmap (RFC 4733 §7.1.1), compared case-insensitively. */
export const TELEPHONE_EVENT_ENCODING = 'telephone-event';
/** Our usual dynamic payload type for telephone-event in offers (any of 96-127 will do). */
export const DEFAULT_TELEPHONE_EVENT_PAYLOAD_TYPE = 101;
/** The events we send and receive: DTMF 0-15 and flash 16 (RFC 4733 §3.2). */
export const SUPPORTED_EVENTS: readonly number[] = Array.from({ length: 17 }, (_, i) => i);
/** The events a peer supports when its SDP has no fmtp for the payload type (RFC 4733 §7.1.1). */
export const DEFAULT_EVENTS: readonly number[] = Array.from({ length: 16 }, (_, i) => i);
/** Largest event code (the 8-bit event field, RFC 4733 §2.3.1). */
const MAX_EVENT_CODE = 255;

function checkPayloadType(payloadType: number): void {
  if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) {
    throw new RangeError(`payload type ${payloadType} not in 0..127`);
  }
}

/** The telephone-event format for `buildDescription`'s codecs: `a=rtpmap:<pt> telephone-event/<rate>`. */
export function telephoneEventCodec(payloadType = DEFAULT_TELEPHONE_EVENT_PAYLOAD_TYPE, clockRate = 8000): CodecDescription {
  checkPayloadType(payloadType);
  if (!Number.isInteger(clockRate) || clockRate <= 0) throw new RangeError(`clock rate ${clockRate} is not a positive integer`);
  return { payloadType, name: TELEPHONE_EVENT_ENCODING, clockRate };
}

/**
 * Writes an event list in canonical form: sorted, duplicates removed, runs of three or more as
 * ranges (`0-16`, `0-15,32,36-40`).
 * @throws RangeError on an empty list or a code outside 0..255.
 */
export function formatEventList(events: Iterable<number>): string {
  const sorted = [...new Set(events)].sort((a, b) => a - b);
  if (sorted.length === 0) throw new RangeError('an event list needs at least one event');
  for (const e of sorted) {
    if (!Number.isInteger(e) || e < 0 || e > MAX_EVENT_CODE) throw new RangeError(`event code ${e} not in 0..255`);
  }
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Reads an event list (RFC 4733 §2.4.1, §7.1.1): `0-15`, `0-15,66,70`, `16,0-15`.
 * @returns the event codes, sorted, without duplicates.
 * @throws ParseError, `where` being the character offset, on an empty list or element, white
 *   space, a code that is not 1-3 decimal digits or exceeds 255, or a range whose second code is
 *   not larger than its first.
 */
export function parseEventList(text: string): number[] {
  const events = new Set<number>();
  if (text.length === 0) throw new ParseError('empty telephone-event list', 0);
  let offset = 0;
  for (const element of text.split(',')) {
    const m = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(element);
    if (!m) {
      const what = element.length === 0 ? 'an empty element' : /\s/.test(element) ? 'white space' : JSON.stringify(element);
      throw new ParseError(`telephone-event list ${JSON.stringify(text)} has ${what}`, offset);
    }
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first > MAX_EVENT_CODE || last > MAX_EVENT_CODE) {
      throw new ParseError(`telephone-event list ${JSON.stringify(text)}: event code above 255 in "${element}"`, offset);
    }
    if (m[2] !== undefined && last <= first) {
      throw new ParseError(`telephone-event list ${JSON.stringify(text)}: range "${element}" does not increase`, offset);
    }
    for (let e = first; e <= last; e++) events.add(e);
    offset += element.length + 1;
  }
  return [...events].sort((a, b) => a - b);
}

/** `a=fmtp:<pt> <events>` as an attribute for `extraMediaAttributes`; events default to 0-16. */
export function telephoneEventFmtp(payloadType = DEFAULT_TELEPHONE_EVENT_PAYLOAD_TYPE, events: Iterable<number> = SUPPORTED_EVENTS): SdpAttribute {
  checkPayloadType(payloadType);
  return { name: 'fmtp', value: `${payloadType} ${formatEventList(events)}` };
}

/**
 * Reads the value of an `a=fmtp` line for telephone-event (`101 0-16`; the `a=fmtp:` prefix is
 * accepted too). Trailing white space is ignored; inside the list it is an error.
 * @throws ParseError when the payload type is not 0..127 or the event list is bad.
 */
export function parseTelephoneEventFmtp(value: string): { payloadType: number; events: number[] } {
  const text = value.replace(/^a=fmtp:/, '').replace(/\s+$/, '');
  const m = /^(\d{1,3})[ \t]+(.*)$/s.exec(text);
  if (!m || Number(m[1]) > 127) throw new ParseError(`fmtp ${JSON.stringify(value)} does not start with a payload type 0..127 and a space`, 'fmtp');
  try {
    return { payloadType: Number(m[1]), events: parseEventList(m[2]!) };
  } catch (e) {
    if (e instanceof ParseError && typeof e.where === 'number') {
      throw new ParseError(`fmtp: ${e.message.replace(/ \(at \d+\)$/, '')}`, m[0].length - m[2]!.length + e.where);
    }
    throw e;
  }
}

/** What offer/answer settled for telephone events. */
export interface TelephoneEventNegotiation {
  /** Payload type to send events with (and to recognise them by): the one in the peer's SDP. */
  payloadType: number;
  /** Its clock rate, equal to the voice codec's. */
  clockRate: number;
  /** Events the peer can receive (its fmtp, or 0-15 without one): send only these. */
  remoteEvents: number[];
  /** Our rtpmap for the answer (or the next offer), with the peer's payload type. */
  codec: CodecDescription;
  /** Our fmtp for it: the events we receive, 0-16. */
  fmtp: SdpAttribute;
  /** Set when the peer's fmtp did not parse: `remoteEvents` is then the default 0-15. */
  fmtpError?: string;
}

/**
 * Chooses the telephone-event format of a peer's description: the first (in m= line order)
 * `telephone-event` whose clock rate is the chosen voice codec's, keeping the peer's payload type
 * (RFC 3264 §6.1). Works for an offer (what to answer) and for an answer (what the offerer uses).
 * A bad fmtp does not refuse the format: the peer's events are taken as the default 0-15 and
 * `fmtpError` says why (interoperability over strictness; the rtpmap itself was fine).
 * @returns undefined when there is none at that rate, or when none of the peer's events is one
 *   we support (then leave telephone-event out of the answer).
 */
export function negotiateTelephoneEvent(
  remote: { codecs: CodecDescription[]; mediaAttributes: SdpAttribute[] },
  voice: { clockRate: number },
): TelephoneEventNegotiation | undefined {
  const offered = remote.codecs.find(
    (c) => c.name.toLowerCase() === TELEPHONE_EVENT_ENCODING && c.clockRate === voice.clockRate && (c.channels ?? 1) === 1,
  );
  if (!offered) return undefined;
  let remoteEvents: number[] = [...DEFAULT_EVENTS];
  let fmtpError: string | undefined;
  const fmtp = remote.mediaAttributes.find((a) => a.name === 'fmtp' && new RegExp(`^${offered.payloadType}(\\s|$)`).test(a.value ?? ''));
  if (fmtp) {
    try {
      remoteEvents = parseTelephoneEventFmtp(fmtp.value ?? '').events;
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      fmtpError = e.message;
    }
  }
  if (!remoteEvents.some((e) => SUPPORTED_EVENTS.includes(e))) return undefined;
  const result: TelephoneEventNegotiation = {
    payloadType: offered.payloadType,
    clockRate: offered.clockRate,
    remoteEvents,
    codec: telephoneEventCodec(offered.payloadType, offered.clockRate),
    fmtp: telephoneEventFmtp(offered.payloadType),
  };
  if (fmtpError !== undefined) result.fmtpError = fmtpError;
  return result;
}
