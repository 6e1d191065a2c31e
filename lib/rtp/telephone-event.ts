/**
 * The RFC 4733 §2.3 telephone-event payload (named events: DTMF digits and flash) and the DTMF
 * event codes of RFC 4733 §3.2 Table 7.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |     event     |E|R| volume    |          duration             |
 * ```
 *
 * Events 0-16 are written as characters: '0'-'9' for 0-9, '*' for 10, '#' for 11, 'A'-'D' for
 * 12-15 and '!' for 16 (hook flash). '!' is our choice: no keypad key, so it cannot be mistaken
 * for a digit in a digit string.
 */
import { ByteReader } from '../base/bytes.js';
import { ParseError } from '../base/errors.js';

/** Octets of one event report (RFC 4733 §2.3). */
export const TELEPHONE_EVENT_PAYLOAD_LENGTH = 4;
/** Largest value of the 16-bit duration field, in timestamp units (RFC 4733 §2.3.5, §2.5.1.3). */
export const MAX_EVENT_DURATION = 0xffff;
/** Largest volume, -63 dBm0 (RFC 4733 §2.3.4: the power level with its sign dropped). */
export const MAX_EVENT_VOLUME = 63;

/** One decoded event report, RFC 4733 §2.3. */
export interface TelephoneEvent {
  /** Event code 0-255 (§2.3.1); 0-16 are DTMF digits and flash (§3.2). */
  event: number;
  /** E bit (§2.3.2): this report is the end of the event (of its final segment, §2.5.1.3). */
  end: boolean;
  /** R bit (§2.3.3): "The sender MUST set it to zero, and the receiver MUST ignore it." Kept for fidelity. */
  reserved: boolean;
  /** Power level 0-63 meaning 0 to -63 dBm0 (§2.3.4); larger is quieter. */
  volume: number;
  /**
   * Duration 0-65535 in RTP timestamp units (samples at the payload's clock rate) from the packet's
   * RTP timestamp, the start of the event or segment, to the time this report describes (§2.3.5).
   */
  duration: number;
}

/** A DTMF key or hook flash: the characters for event codes 0-16. */
export type DtmfDigit =
  | '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D' | '!';

/** Character of each event code 0-16 (RFC 4733 §3.2 Table 7), index = event code. */
const DIGITS: readonly DtmfDigit[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', '!'];
/** Event code of hook flash (RFC 4733 §3.2 Table 7). */
export const FLASH_EVENT = 16;

/** The character of an event code, or undefined for codes above 16 (not DTMF). */
export function dtmfDigitOf(event: number): DtmfDigit | undefined {
  return Number.isInteger(event) ? DIGITS[event] : undefined;
}

/**
 * The event code of a DTMF character ('0'-'9', '*', '#', 'A'-'D' in either case, '!' for flash),
 * or undefined for any other string.
 */
export function dtmfEventOf(digit: string): number | undefined {
  if (digit.length !== 1) return undefined;
  const index = DIGITS.indexOf(digit.toUpperCase() as DtmfDigit);
  return index < 0 ? undefined : index;
}

function checkField(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`telephone-event ${what} ${value} is not an integer in 0..${max}`);
  }
}

/** Fields for encodeTelephoneEvent; `reserved` defaults to false as §2.3.3 requires of senders. */
export type TelephoneEventInit = Omit<TelephoneEvent, 'reserved'> & { reserved?: boolean };

/**
 * Encodes one event report (RFC 4733 §2.3) into its 4 octets.
 * @throws RangeError when event, volume or duration is out of range (0-255, 0-63, 0-65535).
 */
export function encodeTelephoneEvent(e: TelephoneEventInit): Buffer {
  checkField(e.event, 255, 'event');
  checkField(e.volume, MAX_EVENT_VOLUME, 'volume');
  checkField(e.duration, MAX_EVENT_DURATION, 'duration');
  const buf = Buffer.alloc(TELEPHONE_EVENT_PAYLOAD_LENGTH);
  buf[0] = e.event;
  buf[1] = (e.end ? 0x80 : 0) | (e.reserved ? 0x40 : 0) | e.volume;
  buf.writeUInt16BE(e.duration, 2);
  return buf;
}

/**
 * Decodes a telephone-event RTP payload (RFC 4733 §2.3): exactly one 4-octet report. Several
 * events in one packet travel as RFC 2198 redundant blocks under their own payload type
 * (§2.5.1.5), never as a longer telephone-event payload, so any other length is an error.
 * @throws ParseError when the payload is shorter or longer than 4 octets.
 */
export function decodeTelephoneEvent(payload: Buffer): TelephoneEvent {
  const r = new ByteReader(payload);
  const event = r.u8('telephone-event event code');
  const flags = r.u8('telephone-event E/R/volume');
  const duration = r.u16('telephone-event duration');
  if (r.remaining !== 0) {
    throw new ParseError(`telephone-event payload is ${payload.length} octets, expected ${TELEPHONE_EVENT_PAYLOAD_LENGTH}`, TELEPHONE_EVENT_PAYLOAD_LENGTH);
  }
  return { event, end: (flags & 0x80) !== 0, reserved: (flags & 0x40) !== 0, volume: flags & 0x3f, duration };
}
