import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import {
  decodeTelephoneEvent,
  dtmfDigitOf,
  dtmfEventOf,
  encodeTelephoneEvent,
  type TelephoneEvent,
} from '../../lib/rtp/telephone-event.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('telephone-event payload (RFC 4733 §2.3)', () => {
  // [name, octets, decoded]
  const vectors: Array<[string, string, TelephoneEvent]> = [
    ['digit 1 start, volume 10, 160 samples', '01 0a 00a0', { event: 1, end: false, reserved: false, volume: 10, duration: 160 }],
    ['digit # end, volume 10, 800 samples', '0b 8a 0320', { event: 11, end: true, reserved: false, volume: 10, duration: 800 }],
    ['flash, loudest, zero duration', '10 00 0000', { event: 16, end: false, reserved: false, volume: 0, duration: 0 }],
    ['event 255, quietest, maximum duration, E', 'ff bf ffff', { event: 255, end: true, reserved: false, volume: 63, duration: 65535 }],
    ['R bit set (kept, to be ignored)', '05 4a 0140', { event: 5, end: false, reserved: true, volume: 10, duration: 320 }],
    ['E and R bits set', '0c ff 1234', { event: 12, end: true, reserved: true, volume: 63, duration: 0x1234 }],
    ['SIPp dtmf_2833_1.pcap first report', '01 0a 0000', { event: 1, end: false, reserved: false, volume: 10, duration: 0 }],
  ];
  for (const [name, octets, decoded] of vectors) {
    it(`decodes ${name}`, () => {
      expect(decodeTelephoneEvent(hex(octets))).to.deep.equal(decoded);
    });
    it(`encodes ${name}`, () => {
      expect(encodeTelephoneEvent(decoded).toString('hex')).to.equal(octets.replace(/\s+/g, ''));
    });
  }

  it('round-trips every event code and volume', () => {
    for (let event = 0; event <= 255; event += 17) {
      for (let volume = 0; volume <= 63; volume += 9) {
        const e: TelephoneEvent = { event, end: event % 2 === 0, reserved: false, volume, duration: event * 257 };
        expect(decodeTelephoneEvent(encodeTelephoneEvent(e))).to.deep.equal(e);
      }
    }
  });

  it('writes R = 0 unless asked (§2.3.3 sender MUST)', () => {
    expect(encodeTelephoneEvent({ event: 3, end: false, volume: 7, duration: 1 })[1]).to.equal(7);
  });

  const malformed: Array<[string, string, string | number]> = [
    ['empty', '', 0],
    ['1 octet', '01', 1],
    ['2 octets (no duration)', '01 0a', 2],
    ['3 octets (half a duration)', '01 0a 00', 2],
    ['5 octets', '01 0a 00a0 00', 4],
    ['8 octets (two reports)', '01 0a 00a0 02 0a 00a0', 4],
  ];
  for (const [name, octets, where] of malformed) {
    it(`rejects a ${name} payload with a ParseError`, () => {
      let caught: unknown;
      try {
        decodeTelephoneEvent(hex(octets));
      } catch (e) {
        caught = e;
      }
      expect(caught).to.be.instanceOf(ParseError);
      expect((caught as ParseError).where).to.equal(where);
      expect((caught as ParseError).message).to.match(/telephone-event/);
    });
  }

  const outOfRange: Array<[string, Partial<TelephoneEvent>]> = [
    ['event 256', { event: 256 }],
    ['event -1', { event: -1 }],
    ['event 1.5', { event: 1.5 }],
    ['volume 64', { volume: 64 }],
    ['duration 65536', { duration: 65536 }],
    ['duration -1', { duration: -1 }],
    ['duration NaN', { duration: NaN }],
  ];
  for (const [name, fields] of outOfRange) {
    it(`refuses to encode ${name}`, () => {
      expect(() => encodeTelephoneEvent({ event: 1, end: false, volume: 10, duration: 160, ...fields })).to.throw(RangeError, /telephone-event/);
    });
  }
});

describe('DTMF event codes (RFC 4733 §3.2 Table 7)', () => {
  const table: Array<[number, string]> = [
    [0, '0'], [1, '1'], [2, '2'], [3, '3'], [4, '4'], [5, '5'], [6, '6'], [7, '7'], [8, '8'], [9, '9'],
    [10, '*'], [11, '#'], [12, 'A'], [13, 'B'], [14, 'C'], [15, 'D'], [16, '!'],
  ];
  for (const [event, digit] of table) {
    it(`event ${event} is '${digit}' both ways`, () => {
      expect(dtmfDigitOf(event)).to.equal(digit);
      expect(dtmfEventOf(digit)).to.equal(event);
    });
  }
  it('accepts lower-case a-d', () => {
    expect(['a', 'b', 'c', 'd'].map(dtmfEventOf)).to.deep.equal([12, 13, 14, 15]);
  });
  it('has no character for codes above 16 or non-integers', () => {
    expect(dtmfDigitOf(17)).to.equal(undefined);
    expect(dtmfDigitOf(255)).to.equal(undefined);
    expect(dtmfDigitOf(-1)).to.equal(undefined);
    expect(dtmfDigitOf(1.5)).to.equal(undefined);
  });
  it('has no code for other strings', () => {
    for (const s of ['', 'E', 'e', '12', ' ', ',', 'p', '**']) expect(dtmfEventOf(s), JSON.stringify(s)).to.equal(undefined);
  });
});
