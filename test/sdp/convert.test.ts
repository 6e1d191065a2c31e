import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParseError } from '../../lib/base/errors.js';
import { candidatesToAlternates } from '../../lib/sdp/alt-candidates.js';
import { convertSdp, detectCandidateFormat, parseSdpAlternates, type ConvertWarning } from '../../lib/sdp/convert.js';
import { parseCandidateAttribute } from '../../lib/sdp/ice-attributes.js';
import { INVALID_ALT_LINES } from '../fixtures/alt/lines.js';
import { DRAFT_FIGURES, readFigure } from '../fixtures/draft/figures.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const lines = (sdp: string): string[] => sdp.split('\r\n');
const isCandidateLine = (l: string): boolean => l.startsWith('a=alt:') || l.startsWith('a=candidate:');

/** The figure as the strict writer would have written it (deviating lines normalized). */
function normalized(sdp: string): string {
  return sdp.replace(/ (\d+\.\d+\.\d+\.\d+):(\d+)/g, ' $1 $2');
}

const ICE_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'm=audio 45664 RTP/AVP 0',
  'c=IN IP4 192.0.2.3',
  'a=rtpmap:0 PCMU/8000',
  'a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host',
  'a=candidate:1 2 UDP 2130706430 10.0.1.1 8999 typ host',
  'a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998',
  'a=candidate:2 2 UDP 1694498814 192.0.2.3 45665 typ srflx raddr 10.0.1.1 rport 8999',
  'a=candidate:3 1 TCP 1518280447 10.0.1.1 9 typ host tcptype active',
  'a=sendrecv',
  '',
].join('\r\n');

describe('sdp/convert', () => {
  describe('draft-rosenberg-sipping-ice-01 §9 figures', () => {
    for (const fig of DRAFT_FIGURES) {
      describe(`Figure ${fig.figure} (${fig.caption})`, () => {
        const sdp = readFigure(fig.figure);

        it('is an alt-format SDP whose audio section parses to the draft values', () => {
          expect(detectCandidateFormat(sdp)).to.equal('alt');
          const sections = parseSdpAlternates(sdp);
          expect(sections).to.have.length(1);
          expect(sections[0]).to.include({ mediaIndex: 0, media: 'audio' });
          expect(sections[0]!.alternates).to.deep.equal(fig.alternates);
          // Warning line numbers are SDP line numbers (1-based): the a=alt lines start at line 7.
          expect(sections[0]!.warnings.map((w) => [w.line, w.code])).to.deep.equal(fig.deviations.map(([i, code]) => [i + 7, code]));
        });

        it('--to ice replaces the a=alt lines with a=candidate lines, keeping every other line and CRLF', () => {
          const ice = convertSdp(sdp, 'ice');
          expect(detectCandidateFormat(ice)).to.equal('ice');
          expect(ice.endsWith('\r\n')).to.equal(true);
          expect(ice.replace(/\r\n/g, '')).to.not.include('\n');
          expect(lines(ice).filter((l) => !isCandidateLine(l))).to.deep.equal(lines(sdp).filter((l) => !isCandidateLine(l)));
          const candidateLines = lines(ice).filter((l) => l.startsWith('a=candidate:'));
          expect(candidateLines).to.have.length(fig.alternates.length * 2); // RTP + RTCP (explicit or port + 1)
          // They sit where the a=alt lines were: right after the m= line.
          expect(lines(ice).findIndex((l) => l.startsWith('a=candidate:'))).to.equal(lines(sdp).findIndex((l) => l.startsWith('a=alt:')));
          const { alternates } = candidatesToAlternates(candidateLines.map(parseCandidateAttribute));
          expect(alternates).to.deep.equal(fig.alternates);
        });

        it('--to ice then --to alt gives back the figure (deviations written strictly)', () => {
          const back = convertSdp(convertSdp(sdp, 'ice'), 'alt');
          expect(back).to.equal(normalized(sdp));
          if (fig.deviations.length === 0) expect(back).to.equal(sdp);
          expect(parseSdpAlternates(back)[0]!.warnings).to.deep.equal([]);
        });

        it('--to both adds a=candidate lines after the a=alt lines; both → ice / alt drop one kind', () => {
          const both = convertSdp(sdp, 'both');
          expect(detectCandidateFormat(both)).to.equal('both');
          const bothLines = lines(both);
          const lastAlt = bothLines.length - 1 - [...bothLines].reverse().findIndex((l) => l.startsWith('a=alt:'));
          expect(bothLines[lastAlt + 1]).to.match(/^a=candidate:/);
          expect(bothLines.filter((l) => l.startsWith('a=alt:'))).to.deep.equal(lines(sdp).filter((l) => l.startsWith('a=alt:')));
          expect(convertSdp(both, 'both')).to.equal(both);
          expect(convertSdp(both, 'alt')).to.equal(sdp);
          expect(convertSdp(both, 'ice')).to.equal(convertSdp(sdp, 'ice'));
        });

        it('--to alt leaves an alt SDP unchanged', () => {
          expect(convertSdp(sdp, 'alt')).to.equal(sdp);
        });
      });
    }

    it('reports the Figure 22 deviation through onWarning with its SDP line number', () => {
      const warnings: ConvertWarning[] = [];
      convertSdp(readFigure(22), 'ice', { onWarning: (w) => warnings.push(w) });
      expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[8, 'address-port-joined']]);
    });
  });

  describe('a=alt as deployed endpoints wrote it (test/fixtures/sdp/alt-deployed-ranks.sdp)', () => {
    // Integer ranks instead of 0..1 qvalues, a=alt in two m-sections (ids repeated per section),
    // IPv6 alternates (one bracketed and joined to its port).
    const sdp = readFileSync(join(fixtures, 'sdp', 'alt-deployed-ranks.sdp'), 'utf8');

    it('reads both sections, keeping the ranks and flagging them with their SDP line numbers', () => {
      const sections = parseSdpAlternates(sdp);
      expect(sections.map((s) => [s.mediaIndex, s.media, s.alternates.map((a) => `${a.id} ${a.qvalue} ${a.address} ${a.port}`)])).to.deep.equal([
        [0, 'audio', ['1 3 2001:db8::10 1010', '2 2 10.0.1.1 1010', '3 1 192.0.2.10 8076']],
        [1, 'video', ['1 2 2001:db8::10 8078', '2 1 2001:db8::20 5004']],
      ]);
      expect(sections.flatMap((s) => s.warnings.map((w) => [w.line, w.code]))).to.deep.equal([
        [9, 'qvalue-rank'],
        [10, 'qvalue-rank'],
        [14, 'qvalue-rank'],
        [15, 'address-port-joined'],
      ]);
    });

    it('--to ice writes candidates ranked as the ranks say, with alt-q on the 0..1 scale', () => {
      const ice = convertSdp(sdp, 'ice');
      const candidates = lines(ice).filter((l) => l.startsWith('a=candidate:')).map(parseCandidateAttribute);
      const audio = candidates.slice(0, 6).filter((c) => c.component === 1);
      expect([...audio].sort((a, b) => b.priority - a.priority).map((c) => c.address)).to.deep.equal(['2001:db8::10', '10.0.1.1', '192.0.2.10']);
      expect(audio.map((c) => c.extensions!.find(([n]) => n === 'alt-q')![1])).to.deep.equal(['1.0', '0.667', '0.333']);
      const video = candidates.slice(6);
      expect(video.map((c) => `${c.component} ${c.address} ${c.port}`)).to.deep.equal(['1 2001:db8::10 8078', '2 2001:db8::10 8081', '1 2001:db8::20 5004', '2 2001:db8::20 5005']);
    });

    it('--to ice then --to alt writes strictly: the same alternates, ranks put on the 0..1 scale', () => {
      const back = convertSdp(convertSdp(sdp, 'ice'), 'alt');
      expect(lines(back).filter((l) => l.startsWith('a=alt:'))).to.deep.equal([
        'a=alt:1 1.0 : user 9kksj== 2001:db8::10 1010',
        'a=alt:2 0.667 : user1 9kksk== 10.0.1.1 1010',
        'a=alt:3 0.333 : user2 9kksl== 192.0.2.10 8076',
        'a=alt:1 1.0 : user3 9kksm== 2001:db8::10 8078 2001:db8::10 8081',
        'a=alt:2 0.5 : user4 9kksn== 2001:db8::20 5004',
      ]);
      expect(parseSdpAlternates(back).flatMap((s) => s.warnings)).to.deep.equal([]);
    });

    it('--to both keeps the deployed a=alt lines byte for byte', () => {
      const both = convertSdp(sdp, 'both');
      expect(lines(both).filter((l) => l.startsWith('a=alt:'))).to.deep.equal(lines(sdp).filter((l) => l.startsWith('a=alt:')));
      expect(convertSdp(both, 'alt')).to.equal(sdp);
    });
  });

  describe('RFC 8839 input', () => {
    it('detects ice and converts to alt with the session ice-ufrag/ice-pwd as credentials', () => {
      expect(detectCandidateFormat(ICE_OFFER)).to.equal('ice');
      const warnings: ConvertWarning[] = [];
      const alt = convertSdp(ICE_OFFER, 'alt', { onWarning: (w) => warnings.push(w) });
      expect(lines(alt)).to.deep.equal([
        ...lines(ICE_OFFER).slice(0, 9),
        'a=alt:1 1.0 : F7gI x9cml/YzichV2+XlhiMu8g 10.0.1.1 8998',
        'a=alt:2 0.807 : F7gI x9cml/YzichV2+XlhiMu8g 192.0.2.3 45664',
        'a=sendrecv',
        '',
      ]);
      expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[14, 'skipped-candidate']]);
      expect(detectCandidateFormat(alt)).to.equal('alt');
    });

    it('--to both puts a=alt lines before the untouched a=candidate lines', () => {
      const both = convertSdp(ICE_OFFER, 'both');
      const candidateLines = lines(ICE_OFFER).filter((l) => l.startsWith('a=candidate:'));
      expect(lines(both).filter((l) => l.startsWith('a=candidate:'))).to.deep.equal(candidateLines);
      expect(lines(both)[9]).to.match(/^a=alt:1 /);
      expect(lines(both)[11]).to.equal(candidateLines[0]);
      expect(convertSdp(ICE_OFFER, 'ice')).to.equal(ICE_OFFER);
    });

    it('prefers media-level credentials over session-level ones', () => {
      const sdp = ICE_OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=ice-ufrag:MEDIA\r\na=ice-pwd:mediamediamediamediamedia');
      expect(convertSdp(sdp, 'alt')).to.include('a=alt:1 1.0 : MEDIA mediamediamediamediamedia 10.0.1.1 8998');
    });

    it('throws ParseError when a section has neither alt-username nor ice-ufrag', () => {
      const sdp = ICE_OFFER.replace(/a=ice-ufrag:.*\r\n/, '');
      expect(() => convertSdp(sdp, 'alt')).to.throw(ParseError, /no username/).with.property('where', 'username');
    });
  });

  describe('line handling', () => {
    const figure5 = readFigure(5);

    it('keeps LF line endings and a missing final line ending', () => {
      const lf = figure5.replace(/\r\n/g, '\n');
      const ice = convertSdp(lf, 'ice');
      expect(ice).to.not.include('\r');
      expect(convertSdp(ice, 'alt')).to.equal(lf);
      const unterminated = figure5.slice(0, -2);
      const both = convertSdp(unterminated, 'both');
      expect(both.endsWith('\r\n')).to.equal(false);
      expect(both.split('\r\n').at(-1)).to.match(/^a=candidate:3 2 /);
      expect(convertSdp(both, 'alt')).to.equal(unterminated);
    });

    it('does not add an implied RTCP candidate with a=rtcp-mux', () => {
      const muxed = figure5.replace('m=audio 8076 RTP/AVP 0\r\n', 'm=audio 8076 RTP/AVP 0\r\na=rtcp-mux\r\n');
      const ice = convertSdp(muxed, 'ice');
      expect(lines(ice).filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' ').slice(1, 2)[0])).to.deep.equal(['1', '1', '2', '1']);
      expect(convertSdp(ice, 'alt')).to.equal(muxed);
    });

    it('converts every media section and leaves sections without candidates alone', () => {
      const video = 'm=video 9000 RTP/AVP 31\r\na=alt:9 0.3 : v vpw 10.0.1.1 9000\r\nm=application 9 UDP/BFCP *\r\na=setup:active\r\n';
      const sdp = figure5 + video;
      const ice = convertSdp(sdp, 'ice');
      expect(ice).to.include('m=video 9000 RTP/AVP 31\r\na=candidate:9 1 UDP ');
      expect(ice.endsWith('m=application 9 UDP/BFCP *\r\na=setup:active\r\n')).to.equal(true);
      expect(convertSdp(ice, 'alt')).to.equal(sdp);
      expect(parseSdpAlternates(sdp).map((s) => [s.mediaIndex, s.media, s.alternates.length])).to.deep.equal([
        [0, 'audio', 3],
        [1, 'video', 1],
      ]);
    });

    it('detects none when there are no candidate attributes', () => {
      const plain = figure5.replace(/a=alt:.*\r\n/g, '');
      expect(detectCandidateFormat(plain)).to.equal('none');
      for (const to of ['ice', 'alt', 'both'] as const) expect(convertSdp(plain, to)).to.equal(plain);
      expect(detectCandidateFormat('')).to.equal('none');
    });

    it('ignores session-level a=alt lines (draft §7: alt is a media attribute)', () => {
      const sdp = figure5.replace('t=0 0\r\n', 't=0 0\r\na=alt:99 1.0 : u p 10.9.9.9 5000\r\n');
      expect(convertSdp(sdp, 'ice')).to.include('t=0 0\r\na=alt:99 1.0 : u p 10.9.9.9 5000\r\n');
    });

    it('throws ParseError with the SDP line number and the field for a broken a=alt line', () => {
      const broken = figure5.replace('192.0.2.10 8076', '192.0.2.10 70000');
      expect(() => convertSdp(broken, 'ice')).to.throw(ParseError, /^line 9: port 70000 not in 1\.\.65535/).with.property('where', 'port');
      const noPassword = figure5.replace('user1 9kksk== ', 'user1 ');
      expect(() => convertSdp(noPassword, 'both')).to.throw(ParseError, /^line 8: /).with.property('where', 'password');
    });

    it('a NUL in the ice-pwd that would become the a=alt password: ParseError naming its line (was a RangeError)', () => {
      const sdp = ICE_OFFER.replace('a=ice-pwd:x9cml/YzichV2+XlhiMu8g', 'a=ice-pwd:x9cml/Yz\u0000ichV2+XlhiMu8g');
      for (const to of ['alt', 'both'] as const) {
        expect(() => convertSdp(sdp, to)).to.throw(ParseError, /^line 6: a=ice-pwd .* is not a non-ws-string/).with.property('where', 'password');
      }
      // Not needed when every candidate brings its own alt-password.
      const own = sdp.replace(/(a=candidate:[12] [12] UDP .*)\r\n/g, '$1 alt-username u alt-password p\r\n').replace(/a=candidate:3 .*\r\n/, '');
      expect(convertSdp(own, 'alt')).to.include('a=alt:1 1.0 : u p 10.0.1.1 8998');
    });

    for (const [what, line, where] of INVALID_ALT_LINES.filter(([, , w]) => w !== 'alt')) {
      it(`a bad a=alt line gives a ParseError with its SDP line number: ${what} (${where})`, () => {
        const raw = line.replace(/^(a=)?/, 'a=').replace(/\r?\n$/, '');
        const sdp = figure5.replace('a=alt:3 ', `${raw}\r\na=alt:3 `);
        for (const to of ['ice', 'both'] as const) {
          expect(() => convertSdp(sdp, to)).to.throw(ParseError, /^line 9: /).with.property('where', where);
        }
      });
    }

    it('never throws anything but a ParseError: every single-character corruption of an a=alt and an ICE SDP', () => {
      const corruptions = ['\u0000', '\u0001', '\u007f', '\t', ' ', ':', '[', '%', '9', '\u00a0', '\ud800'];
      const inputs = [figure5.split('m=audio')[1]!, ICE_OFFER.split('a=ice-ufrag')[1]!];
      let tried = 0;
      for (const [k, tail] of inputs.entries()) {
        const prefix = k === 0 ? figure5.split('m=audio')[0]! + 'm=audio' : ICE_OFFER.split('a=ice-ufrag')[0]! + 'a=ice-ufrag';
        for (let at = 0; at <= tail.length; at++) {
          for (const ch of corruptions) {
            const sdp = prefix + tail.slice(0, at) + ch + tail.slice(at);
            for (const to of ['ice', 'alt', 'both'] as const) {
              tried++;
              try {
                convertSdp(sdp, to);
              } catch (e) {
                if (!(e instanceof ParseError)) expect.fail(`${(e as Error).name}: ${(e as Error).message} for --to ${to} with ${JSON.stringify(ch)} at ${at} of input ${k}`);
              }
            }
          }
        }
      }
      expect(tried).to.be.greaterThan(10_000);
    });

    it('throws RangeError on an unknown target', () => {
      expect(() => convertSdp(figure5, 'webrtc' as 'ice')).to.throw(RangeError, /ice, alt or both/);
    });
  });
});
