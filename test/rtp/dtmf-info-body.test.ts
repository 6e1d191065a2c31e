import { expect } from 'chai';
import { catchParseError } from '../helpers/parse-error.js';
import { ParseError } from '../../lib/base/errors.js';
import {
  formatDtmfRelayBody,
  parseDtmfBody,
  parseDtmfInfoBody,
  parseDtmfRelayBody,
  type DtmfInfo,
} from '../../lib/rtp/dtmf-info-body.js';

describe('DTMF SIP INFO bodies', () => {
  describe('application/dtmf-relay', () => {
    const valid: Array<[string, string, DtmfInfo]> = [
      ['the usual body', 'Signal=5\r\nDuration=160\r\n', { digit: '5', durationMs: 160 }],
      ['no trailing CRLF', 'Signal=5\r\nDuration=160', { digit: '5', durationMs: 160 }],
      ['LF line ends', 'Signal=#\nDuration=250\n', { digit: '#', durationMs: 250 }],
      ['CR line ends', 'Signal=*\rDuration=100\r', { digit: '*', durationMs: 100 }],
      ['spaces and key case', '  signal = b \r\n DURATION= 40 \r\n\r\n', { digit: 'B', durationMs: 40 }],
      ['no Duration: 100 ms', 'Signal=0\r\n', { digit: '0', durationMs: 100 }],
      ['unknown keys skipped', 'Signal=9\r\nVolume=10\r\nDuration=120\r\n', { digit: '9', durationMs: 120 }],
      ['event code 10 for *', 'Signal=10\r\nDuration=100', { digit: '*', durationMs: 100 }],
      ['event code 11 for #', 'Signal=11\r\nDuration=100', { digit: '#', durationMs: 100 }],
      ['flash as !', 'Signal=!\r\nDuration=500', { digit: '!', durationMs: 500 }],
      ['flash as 16', 'Signal=16\r\nDuration=500', { digit: '!', durationMs: 500 }],
      ['Duration before Signal', 'Duration=80\r\nSignal=D', { digit: 'D', durationMs: 80 }],
    ];
    for (const [name, body, info] of valid) {
      it(`reads ${name}`, () => {
        expect(parseDtmfRelayBody(body)).to.deep.equal(info);
        expect(parseDtmfRelayBody(Buffer.from(body))).to.deep.equal(info);
      });
    }

    const invalid: Array<[string, string, string | number, RegExp]> = [
      ['an empty body', '', 'Signal', /no Signal/],
      ['no Signal', 'Duration=160\r\n', 'Signal', /no Signal/],
      ['an empty Signal', 'Signal=\r\n', 'Signal', /not a DTMF key/],
      ['Signal=E', 'Signal=E\r\n', 'Signal', /"E"/],
      ['Signal=12345', 'Signal=12345\r\n', 'Signal', /not a DTMF key/],
      ['Signal=17', 'Signal=17\r\n', 'Signal', /not a DTMF key/],
      ['two Signals', 'Signal=1\r\nSignal=2\r\n', 'Signal', /two Signal/],
      ['a line without =', 'Signal=1\r\nhello\r\n', 'line 2', /key=value/],
      ['a line starting with =', '=1\r\n', 'line 1', /key=value/],
      ['Duration=0', 'Signal=1\r\nDuration=0', 'Duration', /1\.\.60000/],
      ['Duration=-5', 'Signal=1\r\nDuration=-5', 'Duration', /1\.\.60000/],
      ['Duration=1.5', 'Signal=1\r\nDuration=1.5', 'Duration', /1\.\.60000/],
      ['Duration=abc', 'Signal=1\r\nDuration=abc', 'Duration', /1\.\.60000/],
      ['Duration=60001', 'Signal=1\r\nDuration=60001', 'Duration', /1\.\.60000/],
      ['two Durations', 'Signal=1\r\nDuration=1\r\nDuration=2', 'Duration', /two Duration/],
      ['a huge body', `Signal=1\r\n${'X=1\r\n'.repeat(300)}`, 'body', /too long/],
    ];
    for (const [name, body, where, message] of invalid) {
      it(`rejects ${name} with a ParseError at ${where}`, () => {
        const e = catchParseError(() => parseDtmfRelayBody(body));
        expect(e.where).to.equal(where);
        expect(e.message).to.match(message);
      });
    }

    it('writes Signal and Duration and reads them back', () => {
      expect(formatDtmfRelayBody({ digit: '5', durationMs: 160 })).to.equal('Signal=5\r\nDuration=160\r\n');
      expect(formatDtmfRelayBody({ digit: 'a' })).to.equal('Signal=A\r\nDuration=100\r\n');
      for (const digit of '0123456789*#ABCD!') {
        expect(parseDtmfRelayBody(formatDtmfRelayBody({ digit, durationMs: 250 }))).to.deep.equal({ digit, durationMs: 250 });
      }
      expect(() => formatDtmfRelayBody({ digit: 'E' })).to.throw(RangeError);
      expect(() => formatDtmfRelayBody({ digit: '1', durationMs: 0 })).to.throw(RangeError);
      expect(() => formatDtmfRelayBody({ digit: '1', durationMs: 2.5 })).to.throw(RangeError);
    });
  });

  describe('application/dtmf', () => {
    const valid: Array<[string, DtmfInfo]> = [
      ['5', { digit: '5', durationMs: 100 }],
      ['#\r\n', { digit: '#', durationMs: 100 }],
      [' c ', { digit: 'C', durationMs: 100 }],
      ['11', { digit: '#', durationMs: 100 }],
    ];
    for (const [body, info] of valid) {
      it(`reads ${JSON.stringify(body)}`, () => expect(parseDtmfBody(body)).to.deep.equal(info));
    }
    for (const body of ['', '\r\n', '55', '5 6', 'Signal=5', 'x']) {
      it(`rejects ${JSON.stringify(body)} with a ParseError`, () => {
        expect(catchParseError(() => parseDtmfBody(body)).where).to.equal('body');
      });
    }
  });

  describe('by Content-Type', () => {
    it('dispatches on the media type, case-insensitively, ignoring parameters', () => {
      expect(parseDtmfInfoBody('application/dtmf-relay', 'Signal=1\r\nDuration=90')).to.deep.equal({ digit: '1', durationMs: 90 });
      expect(parseDtmfInfoBody('Application/DTMF-Relay; charset=utf-8', 'Signal=2')).to.deep.equal({ digit: '2', durationMs: 100 });
      expect(parseDtmfInfoBody(' application/dtmf ', '3')).to.deep.equal({ digit: '3', durationMs: 100 });
    });
    it('rejects other content types with a ParseError at Content-Type', () => {
      for (const type of ['text/plain', 'application/sdp', '', 'application/dtmf-relayx']) {
        expect(catchParseError(() => parseDtmfInfoBody(type, 'Signal=1')).where).to.equal('Content-Type');
      }
    });
  });
});
