import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { catchParseError } from '../helpers/parse-error.js';
import { ParseError } from '../../lib/base/errors.js';
import { buildDescription, negotiateCodec, parseDescription, SUPPORTED_CODECS } from '../../lib/sdp/offer-answer.js';
import {
  formatEventList,
  negotiateTelephoneEvent,
  parseEventList,
  parseTelephoneEventFmtp,
  telephoneEventCodec,
  telephoneEventFmtp,
} from '../../lib/sdp/telephone-event-attributes.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/sdp/${name}`, import.meta.url), 'utf8');
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('telephone-event SDP (RFC 4733 §2.4.1)', () => {
  describe('event lists', () => {
    const valid: Array<[string, number[]]> = [
      ['0-15', range(0, 15)],
      ['0-16', range(0, 16)],
      ['0-15,16', range(0, 16)],
      ['16,0-15', range(0, 16)],
      ['0-15,66,70', [...range(0, 15), 66, 70]],
      ['7', [7]],
      ['255', [255]],
      ['0-255', range(0, 255)],
      ['1,1,0-2', [0, 1, 2]],
      ['010', [10]],
    ];
    for (const [text, events] of valid) {
      it(`reads "${text}"`, () => expect(parseEventList(text)).to.deep.equal(events));
    }

    const invalid: Array<[string, number, RegExp]> = [
      ['', 0, /empty/],
      ['0-15,', 5, /empty element/],
      [',0-15', 0, /empty element/],
      ['0-15,,16', 5, /empty element/],
      ['0-15, 16', 5, /white space/],
      ['0 - 15', 0, /white space/],
      ['15-0', 0, /does not increase/],
      ['5-5', 0, /does not increase/],
      ['0-256', 0, /above 255/],
      ['0-15,300', 5, /above 255/],
      ['0-15-20', 0, /"0-15-20"/],
      ['a-d', 0, /"a-d"/],
      ['-1', 0, /"-1"/],
      ['1000', 0, /"1000"/],
      ['0x10', 0, /"0x10"/],
    ];
    for (const [text, where, message] of invalid) {
      it(`rejects ${JSON.stringify(text)} with a ParseError at ${where}`, () => {
        const e = catchParseError(() => parseEventList(text));
        expect(e.where).to.equal(where);
        expect(e.message).to.match(message);
      });
    }

    const formatted: Array<[number[], string]> = [
      [range(0, 16), '0-16'],
      [[16, ...range(0, 15)], '0-16'],
      [[0, 1], '0,1'],
      [[0, 1, 2], '0-2'],
      [[...range(0, 15), 32, 36, 37, 38, 40], '0-15,32,36-38,40'],
      [[5, 5, 5], '5'],
    ];
    for (const [events, text] of formatted) {
      it(`writes ${JSON.stringify(events)} as "${text}" (and reads it back)`, () => {
        expect(formatEventList(events)).to.equal(text);
        expect(parseEventList(text)).to.deep.equal([...new Set(events)].sort((a, b) => a - b));
      });
    }
    it('refuses to write an empty list or codes outside 0..255', () => {
      expect(() => formatEventList([])).to.throw(RangeError);
      expect(() => formatEventList([256])).to.throw(RangeError);
      expect(() => formatEventList([-1])).to.throw(RangeError);
    });
  });

  describe('rtpmap and fmtp', () => {
    it('builds the codec and the fmtp attribute', () => {
      expect(telephoneEventCodec()).to.deep.equal({ payloadType: 101, name: 'telephone-event', clockRate: 8000 });
      expect(telephoneEventCodec(96, 16000)).to.deep.equal({ payloadType: 96, name: 'telephone-event', clockRate: 16000 });
      expect(telephoneEventFmtp()).to.deep.equal({ name: 'fmtp', value: '101 0-16' });
      expect(telephoneEventFmtp(100, [...range(0, 15), 66, 70])).to.deep.equal({ name: 'fmtp', value: '100 0-15,66,70' });
      expect(() => telephoneEventCodec(128)).to.throw(RangeError);
      expect(() => telephoneEventFmtp(-1)).to.throw(RangeError);
    });

    it('reads fmtp values', () => {
      expect(parseTelephoneEventFmtp('101 0-16')).to.deep.equal({ payloadType: 101, events: range(0, 16) });
      expect(parseTelephoneEventFmtp('a=fmtp:96 0-15,16 \r\n')).to.deep.equal({ payloadType: 96, events: range(0, 16) });
    });

    const badFmtp: Array<[string, string | number]> = [
      ['101', 'fmtp'],
      ['101 ', 'fmtp'],
      ['x 0-15', 'fmtp'],
      ['128 0-15', 'fmtp'],
      ['101 0-15, 16', 9],
      ['101 0-15;foo=1', 4],
    ];
    for (const [value, where] of badFmtp) {
      it(`rejects fmtp ${JSON.stringify(value)} with a ParseError at ${where}`, () => {
        expect(catchParseError(() => parseTelephoneEventFmtp(value)).where).to.equal(where);
      });
    }

    it('buildDescription writes them and parseDescription reads them back', () => {
      const sdp = buildDescription({
        sessionId: '1',
        sessionVersion: 1,
        originAddress: '192.0.2.1',
        codecs: [...SUPPORTED_CODECS, telephoneEventCodec()],
        defaultRtp: { address: '192.0.2.1', port: 4000 },
        rtcpMux: false,
        extraMediaAttributes: [telephoneEventFmtp()],
      });
      expect(sdp).to.match(/^m=audio 4000 RTP\/AVP 0 8 101\r$/m);
      expect(sdp).to.match(/^a=rtpmap:101 telephone-event\/8000\r$/m);
      expect(sdp).to.match(/^a=fmtp:101 0-16\r$/m);
      const remote = parseDescription(sdp);
      const voice = negotiateCodec(remote.codecs)!;
      expect(negotiateTelephoneEvent(remote, voice)).to.deep.include({ payloadType: 101, clockRate: 8000, remoteEvents: range(0, 16) });
    });
  });

  describe('negotiation', () => {
    it('baresip offer: PT 101, its events 0-15, our answer 0-16', () => {
      const remote = parseDescription(fixture('baresip-ice-offer.sdp'));
      const voice = negotiateCodec(remote.codecs)!;
      expect(negotiateTelephoneEvent(remote, voice)).to.deep.equal({
        payloadType: 101,
        clockRate: 8000,
        remoteEvents: range(0, 15),
        codec: { payloadType: 101, name: 'telephone-event', clockRate: 8000 },
        fmtp: { name: 'fmtp', value: '101 0-16' },
      });
    });

    it('Chrome offer: the 8000 Hz telephone-event (126) for G.711, the 48000 one (110) for Opus; no fmtp means 0-15', () => {
      const remote = parseDescription(fixture('chrome-audio-offer.sdp'));
      expect(negotiateTelephoneEvent(remote, { clockRate: 8000 })).to.deep.include({ payloadType: 126, clockRate: 8000, remoteEvents: range(0, 15) });
      expect(negotiateTelephoneEvent(remote, { clockRate: 48000 })).to.deep.include({ payloadType: 110, clockRate: 48000 });
      expect(negotiateTelephoneEvent(remote, { clockRate: 16000 })).to.equal(undefined);
    });

    const offer = (lines: string): ReturnType<typeof parseDescription> =>
      parseDescription(`v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n${lines}`);

    it('no telephone-event offered: undefined', () => {
      expect(negotiateTelephoneEvent(offer('m=audio 5000 RTP/AVP 0\r\n'), { clockRate: 8000 })).to.equal(undefined);
    });

    it('keeps the offer order and the offered payload type, matching the name case-insensitively', () => {
      const remote = offer('m=audio 5000 RTP/AVP 0 100 96\r\na=rtpmap:100 Telephone-Event/8000\r\na=fmtp:100 0-16\r\na=rtpmap:96 telephone-event/8000\r\n');
      expect(negotiateTelephoneEvent(remote, { clockRate: 8000 })).to.deep.include({ payloadType: 100, remoteEvents: range(0, 16) });
    });

    it('takes the fmtp of the chosen payload type only', () => {
      const remote = offer('m=audio 5000 RTP/AVP 0 96 97\r\na=rtpmap:96 telephone-event/16000\r\na=fmtp:96 0-11\r\na=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\n');
      expect(negotiateTelephoneEvent(remote, { clockRate: 8000 })).to.deep.include({ payloadType: 97, remoteEvents: range(0, 16) });
    });

    it('a bad fmtp keeps the format with the default events and says why', () => {
      const remote = offer('m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15, 16\r\n');
      const n = negotiateTelephoneEvent(remote, { clockRate: 8000 })!;
      expect(n.remoteEvents).to.deep.equal(range(0, 15));
      expect(n.fmtpError).to.match(/white space/);
    });

    it('a peer that receives no event we support: undefined (leave telephone-event out)', () => {
      const remote = offer('m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 32-36\r\n');
      expect(negotiateTelephoneEvent(remote, { clockRate: 8000 })).to.equal(undefined);
    });
  });
});
