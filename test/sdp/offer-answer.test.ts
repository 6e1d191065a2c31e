import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { catchParseError } from '../helpers/parse-error.js';
import { ParseError } from '../../lib/base/errors.js';
import type { Candidate } from '../../lib/ice/candidate.js';
import { INVALID_ALT_LINES } from '../fixtures/alt/lines.js';
import { DRAFT_FIGURES, readFigure } from '../fixtures/draft/figures.js';
import {
  buildDescription,
  negotiateCodec,
  parseDescription,
  sessionIdNow,
  SUPPORTED_CODECS,
  type CodecDescription,
  type LocalDescriptionOptions,
} from '../../lib/sdp/offer-answer.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/sdp/${name}`, import.meta.url), 'utf8');
}

const UFRAG = '8hhY';
const PWD = 'asd88fgpdd777uzjYhagZg';

const host1: Candidate = { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '192.0.2.10', port: 40000, type: 'host' };
const host2: Candidate = { foundation: '1', component: 2, transport: 'udp', priority: 2130706430, address: '192.0.2.10', port: 40001, type: 'host' };
const srflx1: Candidate = {
  foundation: '2', component: 1, transport: 'udp', priority: 1694498815, address: '198.51.100.10', port: 45664, type: 'srflx',
  relatedAddress: '192.0.2.10', relatedPort: 40000, extensions: [['generation', '0']],
};
const srflx2: Candidate = {
  foundation: '2', component: 2, transport: 'udp', priority: 1694498814, address: '198.51.100.10', port: 45665, type: 'srflx',
  relatedAddress: '192.0.2.10', relatedPort: 40001,
};

function options(overrides: Partial<LocalDescriptionOptions> = {}): LocalDescriptionOptions {
  return {
    sessionId: '3912345678123',
    sessionVersion: 1,
    originAddress: '192.0.2.10',
    codecs: SUPPORTED_CODECS,
    defaultRtp: { address: '192.0.2.10', port: 40000 },
    rtcpMux: true,
    ice: { ufrag: UFRAG, pwd: PWD, candidates: [host1, srflx1] },
    ...overrides,
  };
}

describe('sdp/offer-answer', () => {
  describe('buildDescription', () => {
    it('writes a complete SDP with CRLF line endings in the RFC 4566 order', () => {
      const sdp = buildDescription(options());
      expect(sdp.endsWith('\r\n')).to.equal(true);
      expect(sdp.replace(/\r\n/g, '')).to.not.match(/[\r\n]/);
      const lines = sdp.trimEnd().split('\r\n');
      expect(lines.slice(0, 6)).to.deep.equal([
        'v=0',
        'o=icephone 3912345678123 1 IN IP4 192.0.2.10',
        's=-',
        'c=IN IP4 192.0.2.10',
        't=0 0',
        'm=audio 40000 RTP/AVP 0 8',
      ]);
      expect(lines).to.include.members([
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=ptime:20',
        'a=sendrecv',
        'a=rtcp-mux',
        `a=ice-ufrag:${UFRAG}`,
        `a=ice-pwd:${PWD}`,
        'a=candidate:1 1 UDP 2130706431 192.0.2.10 40000 typ host',
        'a=candidate:2 1 UDP 1694498815 198.51.100.10 45664 typ srflx raddr 192.0.2.10 rport 40000 generation 0',
      ]);
      expect(lines.some((l) => l.startsWith('a=rtcp:'))).to.equal(false);
    });

    it('writes IP6 for IPv6 addresses, the username, direction, ptime and channels', () => {
      const sdp = buildDescription(
        options({
          username: 'alice',
          originAddress: '2001:db8::10',
          defaultRtp: { address: '2001:db8::10', port: 40000 },
          direction: 'recvonly',
          ptimeMs: 30,
          codecs: [{ payloadType: 96, name: 'L16', clockRate: 16000, channels: 2 }],
          ice: undefined,
        }),
      );
      expect(sdp).to.contain('o=alice 3912345678123 1 IN IP6 2001:db8::10\r\n');
      expect(sdp).to.contain('c=IN IP6 2001:db8::10\r\n');
      expect(sdp).to.contain('a=rtpmap:96 L16/16000/2\r\n');
      expect(sdp).to.contain('a=recvonly\r\n');
      expect(sdp).to.contain('a=ptime:30\r\n');
      expect(sdp).to.not.contain('ice-');
    });

    it('a=rtcp without address when it equals c=, with address otherwise, kept beside rtcp-mux in an offer', () => {
      const same = buildDescription(options({ rtcpMux: false, defaultRtcp: { address: '192.0.2.10', port: 40001 } }));
      expect(same).to.contain('a=rtcp:40001\r\n');
      expect(same).to.not.contain('a=rtcp-mux');
      const other = buildDescription(options({ rtcpMux: false, defaultRtcp: { address: '198.51.100.10', port: 45665 } }));
      expect(other).to.contain('a=rtcp:45665 IN IP4 198.51.100.10\r\n');
      const v6 = buildDescription(options({ rtcpMux: false, defaultRtcp: { address: '2001:db8::9', port: 45665 } }));
      expect(v6).to.contain('a=rtcp:45665 IN IP6 2001:db8::9\r\n');
      // RFC 5761 §5.1.3: an offer proposing mux still names its RTCP default for a peer that declines.
      const muxed = buildDescription(options({ rtcpMux: true, defaultRtcp: { address: '192.0.2.10', port: 40001 } }));
      expect(muxed).to.contain('a=rtcp:40001\r\n').and.to.contain('a=rtcp-mux\r\n');
      // An answer accepting mux has no component 2, so no defaultRtcp and no a=rtcp.
      const answer = buildDescription(options({ rtcpMux: true }));
      expect(answer).to.not.match(/a=rtcp:/);
    });

    it('session-level ICE credentials and options, remote-candidates, end-of-candidates, extra attributes last', () => {
      const sdp = buildDescription(
        options({
          ice: {
            ufrag: UFRAG, pwd: PWD, candidates: [host1], sessionLevel: true, options: ['trickle', 'ice2'], endOfCandidates: true,
            remoteCandidates: [{ component: 1, address: '203.0.113.5', port: 5000 }],
          },
          extraMediaAttributes: [{ name: 'alt', value: '1 1 : e2ZsnyRS 192.0.2.10 40000' }, { name: 'curr', value: 'qos local none' }, { name: 'x-flag' }],
        }),
      );
      const lines = sdp.trimEnd().split('\r\n');
      const m = lines.findIndex((l) => l.startsWith('m='));
      expect(lines.indexOf(`a=ice-ufrag:${UFRAG}`)).to.be.within(0, m);
      expect(lines.indexOf(`a=ice-pwd:${PWD}`)).to.be.within(0, m);
      expect(lines.indexOf('a=ice-options:trickle ice2')).to.be.within(0, m);
      const candidate = lines.indexOf('a=candidate:1 1 UDP 2130706431 192.0.2.10 40000 typ host');
      expect(candidate).to.be.greaterThan(m);
      expect(lines.indexOf('a=end-of-candidates')).to.be.greaterThan(candidate);
      expect(lines).to.include('a=remote-candidates:1 203.0.113.5 5000');
      expect(lines.slice(-3)).to.deep.equal(['a=alt:1 1 : e2ZsnyRS 192.0.2.10 40000', 'a=curr:qos local none', 'a=x-flag']);
    });

    it('no codecs: a rejected stream with port 0 (RFC 3264 §6)', () => {
      expect(buildDescription(options({ codecs: [] }))).to.contain('m=audio 0 RTP/AVP 0\r\n');
    });

    it('refuses invalid options with RangeError', () => {
      expect(() => buildDescription(options({ sessionId: 'abc' }))).to.throw(RangeError);
      expect(() => buildDescription(options({ defaultRtp: { address: '192.0.2.10', port: 70000 } }))).to.throw(RangeError);
      expect(() => buildDescription(options({ ice: { ufrag: 'abc', pwd: PWD, candidates: [] } }))).to.throw(RangeError);
      expect(() => buildDescription(options({ ice: { ufrag: UFRAG, pwd: 'short', candidates: [] } }))).to.throw(RangeError);
      expect(() => buildDescription(options({ extraMediaAttributes: [{ name: 'x', value: 'a\r\na=y' }] }))).to.throw(RangeError);
    });
  });

  describe('build → parse round trips', () => {
    it('rtcp-mux, IPv4, media-level ICE', () => {
      const remote = parseDescription(buildDescription(options()));
      expect(remote).to.deep.include({ address: '192.0.2.10', port: 40000, rtcpMux: true, direction: 'sendrecv', ptimeMs: 20, invalidLines: [] });
      expect(remote.rtcp).to.equal(undefined);
      expect(remote.codecs).to.deep.equal(SUPPORTED_CODECS);
      expect(remote.ice).to.deep.equal({
        ufrag: UFRAG, pwd: PWD, candidates: [host1, srflx1], iceLite: false, mismatch: false, endOfCandidates: false, options: [],
      });
      expect(remote.mediaAttributes[0]).to.deep.equal({ name: 'rtpmap', value: '0 PCMU/8000' });
      expect(remote.mediaAttributes).to.deep.include({ name: 'rtcp-mux' });
      expect(remote.sessionAttributes).to.deep.equal([]);
    });

    it('no mux, two components, a=rtcp with address', () => {
      const sdp = buildDescription(
        options({
          rtcpMux: false,
          defaultRtp: { address: '198.51.100.10', port: 45664 },
          defaultRtcp: { address: '198.51.100.10', port: 45665 },
          ice: { ufrag: UFRAG, pwd: PWD, candidates: [host1, host2, srflx1, srflx2] },
        }),
      );
      const remote = parseDescription(sdp);
      expect(remote.rtcpMux).to.equal(false);
      expect(remote.rtcp).to.deep.equal({ address: '198.51.100.10', port: 45665 });
      expect(remote.ice?.candidates).to.deep.equal([host1, host2, srflx1, srflx2]);
      expect(remote.ice?.mismatch).to.equal(false);
    });

    it('IPv6 with session-level ufrag/pwd, options, remote-candidates and end-of-candidates', () => {
      const v6: Candidate = { foundation: '3', component: 1, transport: 'udp', priority: 2130706175, address: '2001:db8::10', port: 40000, type: 'host' };
      const sdp = buildDescription(
        options({
          originAddress: '2001:db8::10',
          defaultRtp: { address: '2001:db8::10', port: 40000 },
          ice: {
            ufrag: UFRAG, pwd: PWD, candidates: [v6], sessionLevel: true, options: ['trickle'], endOfCandidates: true,
            remoteCandidates: [{ component: 1, address: '2001:db8::99', port: 6000 }],
          },
        }),
      );
      const remote = parseDescription(sdp);
      expect(remote.address).to.equal('2001:db8::10');
      expect(remote.ice).to.deep.equal({
        ufrag: UFRAG, pwd: PWD, candidates: [v6], iceLite: false, mismatch: false, endOfCandidates: true, options: ['trickle'],
        remoteCandidates: [{ component: 1, address: '2001:db8::99', port: 6000 }],
      });
      expect(remote.sessionAttributes).to.deep.include({ name: 'ice-ufrag', value: UFRAG });
    });

    it('extra media attributes come back in mediaAttributes, in order', () => {
      const remote = parseDescription(buildDescription(options({ extraMediaAttributes: [{ name: 'des', value: 'qos mandatory local sendrecv' }, { name: 'x-flag' }] })));
      expect(remote.mediaAttributes.slice(-2)).to.deep.equal([{ name: 'des', value: 'qos mandatory local sendrecv' }, { name: 'x-flag' }]);
    });
  });

  describe('parseDescription', () => {
    it("SIPp's built-in uac offer: no ICE", () => {
      const remote = parseDescription(fixture('sipp-uac-offer.sdp'));
      expect(remote).to.deep.equal({
        address: '127.0.0.1',
        port: 6000,
        rtcp: { address: '127.0.0.1', port: 6001 },
        rtcpMux: false,
        direction: 'sendrecv',
        profile: 'RTP/AVP',
        codecs: [{ payloadType: 0, name: 'PCMU', clockRate: 8000 }],
        invalidLines: [],
        mediaAttributes: [{ name: 'rtpmap', value: '0 PCMU/8000' }],
        sessionAttributes: [],
      });
    });

    it('the same with LF line endings and static types without rtpmap', () => {
      const remote = parseDescription('v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 8 0 18 96\n');
      expect(remote.codecs).to.deep.equal([
        { payloadType: 8, name: 'PCMA', clockRate: 8000 },
        { payloadType: 0, name: 'PCMU', clockRate: 8000 },
        { payloadType: 18, name: 'G729', clockRate: 8000 },
      ]);
      expect(remote.ice).to.equal(undefined);
    });

    it('baresip offer: session-level credentials, a=rtcp with address, two components', () => {
      const remote = parseDescription(fixture('baresip-ice-offer.sdp'));
      expect(remote).to.deep.include({ address: '198.51.100.20', port: 41872, rtcpMux: false, ptimeMs: 20, invalidLines: [] });
      expect(remote.rtcp).to.deep.equal({ address: '198.51.100.20', port: 41873 });
      expect(remote.codecs.map((c) => `${c.payloadType} ${c.name}/${c.clockRate}`)).to.deep.equal(['8 PCMA/8000', '0 PCMU/8000', '101 telephone-event/8000']);
      expect(remote.ice?.ufrag).to.equal('Gb7u');
      expect(remote.ice?.candidates).to.have.length(5);
      expect(remote.ice?.candidates[4]).to.include({ address: 'fd00:1::20' });
      expect(remote.ice?.mismatch).to.equal(false);
      expect(remote.sessionAttributes[0]).to.deep.equal({ name: 'tool', value: 'baresip 3.10.1' });
      expect(negotiateCodec(remote.codecs)).to.deep.equal({ payloadType: 8, name: 'PCMA', clockRate: 8000 });
    });

    it('an encoding name that looks like a number stays a string (sdp-transform makes it one; fuzz finding)', () => {
      const remote = parseDescription('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 96 0\r\na=rtpmap:96 729/8000\r\n');
      expect(remote.codecs[0]).to.deep.equal({ payloadType: 96, name: '729', clockRate: 8000 });
      expect(negotiateCodec(remote.codecs)).to.deep.equal({ payloadType: 0, name: 'PCMU', clockRate: 8000 });
    });

    it('Chrome-style offer: media-level c=, mDNS and tcp candidates, trickle, opus first', () => {
      const remote = parseDescription(fixture('chrome-audio-offer.sdp'));
      expect(remote).to.deep.include({ address: '203.0.113.7', port: 54400, rtcpMux: true, invalidLines: [] });
      expect(remote.ice?.candidates.map((c) => c.type)).to.deep.equal(['host', 'srflx', 'host']);
      expect(remote.ice?.candidates[2]).to.include({ transport: 'tcp', tcpType: 'active' });
      expect(remote.ice?.options).to.deep.equal(['trickle']);
      expect(remote.ice?.mismatch).to.equal(false);
      expect(remote.codecs[0]).to.deep.equal({ payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 });
      expect(negotiateCodec(remote.codecs)).to.deep.equal({ payloadType: 0, name: 'PCMU', clockRate: 8000 });
      expect(remote.sessionAttributes).to.deep.include({ name: 'group', value: 'BUNDLE 0' });
    });

    it('c= at session level, overridden at media level', () => {
      const sdp = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=audio 7000 RTP/AVP 0', 'c=IN IP6 2001:db8::7', ''].join('\r\n');
      const remote = parseDescription(sdp);
      expect(remote.address).to.equal('2001:db8::7');
      expect(remote.rtcp).to.deep.equal({ address: '2001:db8::7', port: 7001 });
      expect(parseDescription(sdp.replace('c=IN IP6 2001:db8::7\r\n', '')).address).to.equal('10.0.0.1');
    });

    it('c= and a=rtcp addresses are read in canonical form (issue 10)', () => {
      const sdp = ['v=0', 'o=- 1 1 IN IP6 2001:DB8::7', 's=-', 'c=IN IP6 2001:0DB8:0000:0000:0000:0000:0000:0007', 't=0 0', 'm=audio 7000 RTP/AVP 0', 'a=rtcp:7005 IN IP6 2001:DB8::8', ''].join('\r\n');
      const remote = parseDescription(sdp);
      expect(remote.address).to.equal('2001:db8::7');
      expect(remote.rtcp).to.deep.equal({ address: '2001:db8::8', port: 7005 });
      const placeholder = parseDescription(sdp.replace('c=IN IP6 2001:0DB8:0000:0000:0000:0000:0000:0007', 'c=IN IP6 0:0:0:0:0:0:0:0'));
      expect(placeholder.address).to.equal('::');
    });

    it('a=rtcp with and without an address, and direction at session level', () => {
      const base = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'a=recvonly', 'm=audio 7000 RTP/AVP 0'];
      const withPort = parseDescription([...base, 'a=rtcp:7005', ''].join('\r\n'));
      expect(withPort.rtcp).to.deep.equal({ address: '10.0.0.1', port: 7005 });
      expect(withPort.direction).to.equal('recvonly');
      const withAddress = parseDescription([...base, 'a=rtcp:53020 IN IP4 126.16.64.4', 'a=inactive', ''].join('\r\n'));
      expect(withAddress.rtcp).to.deep.equal({ address: '126.16.64.4', port: 53020 });
      expect(withAddress.direction).to.equal('inactive');
      const bad = parseDescription([...base, 'a=rtcp:many', ''].join('\r\n'));
      expect(bad.rtcp).to.deep.equal({ address: '10.0.0.1', port: 7001 });
      expect(bad.invalidLines).to.deep.equal(['a=rtcp:many']);
    });

    it('a malformed candidate line is dropped and listed, the rest parses', () => {
      const remote = parseDescription(fixture('malformed-candidate.sdp'));
      expect(remote.invalidLines).to.deep.equal([
        'a=candidate:2 1 UDP 0 192.0.2.10 40002 typ host',
        'a=candidate:3 1 UDP 1694498815 198.51.100.10 45664 srflx raddr 192.0.2.10 rport 40000',
      ]);
      expect(remote.ice?.candidates.map((c) => c.foundation)).to.deep.equal(['1', '4']);
      expect(remote.ice?.mismatch).to.equal(false);
      expect(remote.codecs).to.have.length(2);
      // the raw lines are still all there for other layers
      expect(remote.mediaAttributes.filter((a) => a.name === 'candidate')).to.have.length(4);
    });

    it('a malformed remote-candidates line is listed too', () => {
      const sdp = buildDescription(options()) + 'a=remote-candidates:1 192.0.2.1\r\n';
      const remote = parseDescription(sdp);
      expect(remote.invalidLines).to.deep.equal(['a=remote-candidates:1 192.0.2.1']);
      expect(remote.ice?.remoteCandidates).to.equal(undefined);
    });

    describe('ICE mismatch (RFC 8839 §4.2.5)', () => {
      it('default destination rewritten by a middlebox', () => {
        const sdp = buildDescription(options()).replace('c=IN IP4 192.0.2.10', 'c=IN IP4 203.0.113.200');
        expect(parseDescription(sdp).ice?.mismatch).to.equal(true);
      });
      it('port rewritten', () => {
        const sdp = buildDescription(options()).replace('m=audio 40000', 'm=audio 30000');
        expect(parseDescription(sdp).ice?.mismatch).to.equal(true);
      });
      it('candidate for component 2 only does not count for component 1', () => {
        const sdp = buildDescription(options({ ice: { ufrag: UFRAG, pwd: PWD, candidates: [{ ...host1, component: 2 }] } }));
        expect(parseDescription(sdp).ice?.mismatch).to.equal(true);
      });
      it('a=rtcp not among component-2 candidates', () => {
        const sdp = buildDescription(
          options({ rtcpMux: false, defaultRtcp: { address: '192.0.2.10', port: 40009 }, ice: { ufrag: UFRAG, pwd: PWD, candidates: [host1, host2] } }),
        );
        expect(parseDescription(sdp).ice?.mismatch).to.equal(true);
      });
      it('IPv6 written differently still matches', () => {
        const c: Candidate = { ...host1, address: '2001:0db8:0000::0010' };
        const sdp = buildDescription(options({ defaultRtp: { address: '2001:db8::10', port: 40000 }, ice: { ufrag: UFRAG, pwd: PWD, candidates: [c] } }));
        expect(parseDescription(sdp).ice?.mismatch).to.equal(false);
      });
      it('IPv4-mapped candidate for an IPv4 default destination matches', () => {
        const c: Candidate = { ...host1, address: '::ffff:192.0.2.10' };
        const sdp = buildDescription(options({ ice: { ufrag: UFRAG, pwd: PWD, candidates: [c] } }));
        const remote = parseDescription(sdp);
        expect(remote.ice?.mismatch).to.equal(false);
        expect(remote.ice?.candidates[0]?.address).to.equal('192.0.2.10');
      });
      it('trickle placeholder 0.0.0.0:9 with no candidates is not a mismatch', () => {
        const sdp = buildDescription(options({ defaultRtp: { address: '0.0.0.0', port: 9 }, ice: { ufrag: UFRAG, pwd: PWD, candidates: [], options: ['trickle'] } }));
        expect(parseDescription(sdp).ice).to.deep.include({ mismatch: false, candidates: [] });
      });
    });

    describe('a=alt (draft-rosenberg-sipping-ice-01 §7), read liberally', () => {
      const head = ['v=0', 'o=- 1 1 IN IP4 10.0.1.1', 's=-', 'c=IN IP4 10.0.1.1', 't=0 0'];
      const good = 'a=alt:9 1.0 : u p 10.0.1.1 1010';

      // (A line whose attribute name is not "alt" is not an a=alt line at all.)
      for (const [what, line, where] of INVALID_ALT_LINES.filter(([, , w]) => w !== 'alt')) {
        it(`drops and lists a bad line beside a good one, never throws: ${what} (${where})`, () => {
          const raw = line.replace(/^(a=)?/, 'a=').replace(/\r?\n$/, '');
          const remote = parseDescription([...head, 'm=audio 1010 RTP/AVP 0', good, raw, ''].join('\r\n'));
          expect(remote.alt?.alternates.map((a) => a.id)).to.deep.equal(['9']);
          expect(remote.invalidLines).to.deep.equal([raw]);
        });
      }

      it("several m-sections: the audio section's a=alt lines only, ranks kept as read", () => {
        const remote = parseDescription(readFileSync(new URL('../fixtures/sdp/alt-deployed-ranks.sdp', import.meta.url), 'utf8'));
        expect(remote.alt?.alternates.map((a) => [a.id, a.qvalue, a.address])).to.deep.equal([['1', 3, '2001:db8::10'], ['2', 2, '10.0.1.1'], ['3', 1, '192.0.2.10']]);
        expect(remote.alt?.warnings.map((w) => w.code)).to.deep.equal(['qvalue-rank', 'qvalue-rank']);
        expect(remote.invalidLines).to.deep.equal([]);
      });

      it('a repeated id is dropped (derived-from would be ambiguous); nothing readable means no alt', () => {
        const twice = parseDescription([...head, 'm=audio 1010 RTP/AVP 0', good, 'a=alt:9 0.5 : v q 10.0.1.2 1012', ''].join('\r\n'));
        expect(twice.alt?.alternates.map((a) => a.address)).to.deep.equal(['10.0.1.1']);
        expect(twice.invalidLines).to.deep.equal(['a=alt:9 0.5 : v q 10.0.1.2 1012']);
        const none = parseDescription([...head, 'm=audio 1010 RTP/AVP 0', 'a=alt:1 1.5 : u p 10.0.1.1 1010', 'a=alt:', ''].join('\r\n'));
        expect(none.alt).to.equal(undefined);
        expect(none.invalidLines).to.have.length(2);
      });

      describe('alt mismatch: no alternate is the m/c address (draft §5.4, §7; cf. RFC 8839 §4.2.5)', () => {
        for (const fig of DRAFT_FIGURES) {
          it(`Figure ${fig.figure} lists its m/c address among its alternates: no mismatch`, () => {
            expect(parseDescription(readFigure(fig.figure)).alt?.mismatch).to.equal(false);
          });
        }
        const figure5 = readFigure(5);
        const table: Array<[what: string, sdp: string, mismatch: boolean]> = [
          ['c= rewritten by a media proxy', figure5.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 203.0.113.200'), true],
          ['m= port rewritten', figure5.replace('m=audio 8076', 'm=audio 30000'), true],
          ['m/c kept, the matching alternate removed', figure5.replace(/a=alt:3 .*\r\n/, ''), true],
          ['the matching alternate is the one with a bad line (dropped)', figure5.replace('a=alt:3 0.4', 'a=alt:3 1.5'), true],
          ['an RTCP pair at the m/c address does not count', figure5.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 192.0.2.1').replace('m=audio 8076', 'm=audio 9990'), true],
          ['IPv6 m/c written differently from the alternate', figure5.replace('c=IN IP4 192.0.2.10', 'c=IN IP6 2001:DB8:0::10').replace('192.0.2.10 8076', '2001:db8::10 8076'), false],
          ['deployed ranks, several m-sections', readFileSync(new URL('../fixtures/sdp/alt-deployed-ranks.sdp', import.meta.url), 'utf8'), false],
        ];
        for (const [what, sdp, mismatch] of table) {
          it(`${what}: mismatch ${mismatch}`, () => {
            expect(parseDescription(sdp).alt?.mismatch).to.equal(mismatch);
          });
        }
      });

      it('session-level a=alt lines are not read (§7: "MUST be present within a media block")', () => {
        const remote = parseDescription([...head, good, 'm=audio 1010 RTP/AVP 0', ''].join('\r\n'));
        expect(remote.alt).to.equal(undefined);
      });
    });

    it('ice-ufrag at media level wins over session level; ice-lite', () => {
      const sdp = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'a=ice-lite', 'a=ice-ufrag:sess', `a=ice-pwd:${PWD}`,
        'm=audio 7000 RTP/AVP 0', 'a=ice-ufrag:medi', 'a=candidate:1 1 UDP 2130706431 10.0.0.1 7000 typ host', ''].join('\r\n');
      expect(parseDescription(sdp).ice).to.deep.include({ ufrag: 'medi', pwd: PWD, iceLite: true, mismatch: false });
    });

    it('invalid ufrag or pwd throws ParseError', () => {
      const good = buildDescription(options());
      expect(catchParseError(() => parseDescription(good.replace(`ice-ufrag:${UFRAG}`, 'ice-ufrag:ab'))).where).to.equal('a=ice-ufrag');
      expect(catchParseError(() => parseDescription(good.replace(`ice-pwd:${PWD}`, 'ice-pwd:short'))).where).to.equal('a=ice-pwd');
    });

    it('ufrag without pwd: no ICE, the lone line listed', () => {
      const sdp = buildDescription(options()).replace(`a=ice-pwd:${PWD}\r\n`, '');
      const remote = parseDescription(sdp);
      expect(remote.ice).to.equal(undefined);
      expect(remote.invalidLines).to.deep.equal([`a=ice-ufrag:${UFRAG}`]);
    });

    it('takes the first audio m-section', () => {
      const sdp = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=video 8000 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
        'm=audio 7000 RTP/AVP 8', 'a=ptime:40', 'm=audio 9000 RTP/AVP 0', ''].join('\r\n');
      const remote = parseDescription(sdp);
      expect(remote).to.deep.include({ port: 7000, ptimeMs: 40 });
      expect(remote.mediaAttributes).to.deep.equal([{ name: 'ptime', value: '40' }]);
    });

    describe('unusable SDP throws ParseError with a one-line message', () => {
      const table: Array<[string, string, string]> = [
        ['garbage', 'hello world\r\nthis is not SDP\r\n', 'v='],
        ['empty', '', 'v='],
        ['no audio m-line', 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 8000 RTP/AVP 96\r\n', 'm=audio'],
        ['no c= line', 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n', 'c='],
        ['bad c= address', 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 999.1.1.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n', 'c='],
        ['m= port out of range', 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 80000 RTP/AVP 0\r\n', 'm=audio'],
      ];
      for (const [name, sdp, where] of table) {
        it(name, () => {
          const e = catchParseError(() => parseDescription(sdp));
          expect(e.where).to.equal(where);
          expect(e.message).to.have.length.greaterThan(0);
          expect(e.message).to.not.match(/[\r\n]/);
        });
      }
    });
  });

  describe('negotiateCodec', () => {
    const pcma: CodecDescription = { payloadType: 8, name: 'PCMA', clockRate: 8000 };
    it('PCMA-only offer → PCMA', () => {
      expect(negotiateCodec([pcma])).to.deep.equal(pcma);
    });
    it('first offered codec we support, keeping the offerer payload type and matching case-insensitively', () => {
      const offered: CodecDescription[] = [
        { payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 },
        { payloadType: 101, name: 'telephone-event', clockRate: 8000 },
        { payloadType: 97, name: 'pcmu', clockRate: 8000 },
        pcma,
      ];
      expect(negotiateCodec(offered)).to.deep.equal({ payloadType: 97, name: 'PCMU', clockRate: 8000 });
    });
    it('unknown codecs only → undefined', () => {
      expect(negotiateCodec([{ payloadType: 18, name: 'G729', clockRate: 8000 }, { payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 }])).to.equal(undefined);
      expect(negotiateCodec([])).to.equal(undefined);
    });
    it('clock rate and channels must match; telephone-event is never the call codec', () => {
      expect(negotiateCodec([{ payloadType: 96, name: 'PCMU', clockRate: 16000 }])).to.equal(undefined);
      expect(negotiateCodec([{ payloadType: 96, name: 'PCMU', clockRate: 8000, channels: 2 }])).to.equal(undefined);
      const withEvents = [...SUPPORTED_CODECS, { payloadType: 101, name: 'telephone-event', clockRate: 8000 }];
      expect(negotiateCodec([{ payloadType: 101, name: 'telephone-event', clockRate: 8000 }], withEvents)).to.equal(undefined);
    });
    it('a custom supported list', () => {
      expect(negotiateCodec([{ payloadType: 0, name: 'PCMU', clockRate: 8000 }, pcma], [pcma])).to.deep.equal(pcma);
    });
  });

  it('sessionIdNow is digits and NTP-based (milliseconds since 1900)', () => {
    const id = sessionIdNow();
    expect(id).to.match(/^\d+$/);
    const ntpMs = BigInt(Date.now()) + 2_208_988_800_000n;
    expect(Number(ntpMs - BigInt(id))).to.be.within(0, 5000);
    expect(SUPPORTED_CODECS.map((c) => `${c.payloadType} ${c.name}/${c.clockRate}`)).to.deep.equal(['0 PCMU/8000', '8 PCMA/8000']);
  });
});
