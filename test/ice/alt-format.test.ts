/**
 * Candidate-format negotiation (lib/sdp/format.ts): what offers carry for `--sdp ice|alt|both`,
 * what the answer picks, and what the offerer then uses; plus reading a peer's `a=alt` lines.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDescription } from '../../lib/sdp/offer-answer.js';
import { altAttributes, answerFormat, describedFormat, followAnswer, offerFormat, readRemoteAlternates, type OfferedFormat, type SdpFormatSetting } from '../../lib/sdp/format.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

describe('candidate format negotiation (lib/sdp/format.ts)', () => {
  it('offers carry what the setting says', () => {
    expect(offerFormat('ice')).to.deep.equal({ ice: true, alt: false });
    expect(offerFormat('alt')).to.deep.equal({ ice: false, alt: true });
    expect(offerFormat('both')).to.deep.equal({ ice: true, alt: true });
  });

  const answers: Array<[OfferedFormat, SdpFormatSetting, string]> = [
    ['ice', 'ice', 'ice'], ['ice', 'alt', 'ice'], ['ice', 'both', 'ice'],
    ['alt', 'ice', 'alt'], ['alt', 'alt', 'alt'], ['alt', 'both', 'alt'],
    ['both', 'ice', 'ice'], ['both', 'both', 'ice'], ['both', 'alt', 'alt'],
    ['none', 'ice', 'none'], ['none', 'alt', 'none'], ['none', 'both', 'none'],
    // The gateway's PBX leg (setting none) answers plain whatever the offer carries.
    ['ice', 'none', 'none'], ['alt', 'none', 'none'], ['both', 'none', 'none'], ['none', 'none', 'none'],
  ];
  for (const [offered, setting, expected] of answers) {
    it(`an offer with ${offered}, our setting ${setting}: the answer uses ${expected}`, () => {
      expect(answerFormat(offered, setting)).to.equal(expected);
    });
  }

  it('the offerer follows the answer (and takes a both-answer as what it offered, ice first)', () => {
    expect(followAnswer('alt', offerFormat('both'))).to.equal('alt');
    expect(followAnswer('ice', offerFormat('both'))).to.equal('ice');
    expect(followAnswer('none', offerFormat('both'))).to.equal('none');
    expect(followAnswer('both', offerFormat('both'))).to.equal('ice');
    expect(followAnswer('both', offerFormat('alt'))).to.equal('alt');
    expect(followAnswer('ice', offerFormat('alt'))).to.equal('none');
  });

  it('reads the draft\'s Figure 5 offer as alt with its three alternates, and writes them back as a=alt lines', () => {
    const sdp = readFileSync(join(fixtures, 'draft', 'figure-5.sdp'), 'utf8');
    const remote = parseDescription(sdp);
    expect(describedFormat(remote)).to.equal('alt');
    const { alternates } = readRemoteAlternates(remote);
    expect(alternates.map((a) => `${a.id} ${a.qvalue} ${a.address}:${a.port}`)).to.deep.equal(['1 1 10.0.1.1:1010', '2 0.8 192.0.2.1:9988', '3 0.4 192.0.2.10:8076']);
    expect(altAttributes(alternates).map((a) => `a=${a.name}:${a.value}`)).to.deep.equal(sdp.split(/\r?\n/).filter((l) => l.startsWith('a=alt:')));
  });

  describe('a=alt that does not include the m/c address is ignored (the draft-era ICE mismatch)', () => {
    // A media proxy (SBC) rewrote m/c to its own address and stripped the ICE attributes it knows,
    // leaving the offerer's a=alt lines: its private and STUN-derived addresses.
    const figure5 = readFileSync(join(fixtures, 'draft', 'figure-5.sdp'), 'utf8');
    const viaProxy = figure5.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 203.0.113.200').replace('m=audio 8076', 'm=audio 40000');
    const ice = readFileSync(join(fixtures, 'sdp', 'baresip-ice-offer.sdp'), 'utf8');
    const iceAndStaleAlt = ice.replace(/(m=audio[^\r\n]*\r?\n)/, '$1a=alt:1 1.0 : user 9kksj== 10.0.1.1 1010\r\n');

    it('the offer is read as none, its alternates as none, and the answer is plain whatever the setting', () => {
      const remote = parseDescription(viaProxy);
      expect(remote.alt?.mismatch).to.equal(true);
      expect(describedFormat(remote)).to.equal('none');
      expect(readRemoteAlternates(remote)).to.deep.equal({ alternates: [], warnings: [] });
      for (const setting of ['both', 'alt', 'ice'] as const) expect(answerFormat(describedFormat(remote), setting)).to.equal('none');
    });

    it('the same offer with m/c untouched is alt', () => {
      expect(answerFormat(describedFormat(parseDescription(figure5)), 'both')).to.equal('alt');
    });

    it('ICE beside mismatched a=alt: only ICE counts, even with --sdp alt', () => {
      const remote = parseDescription(iceAndStaleAlt);
      expect(remote.alt?.mismatch).to.equal(true);
      expect(describedFormat(remote)).to.equal('ice');
      expect(answerFormat(describedFormat(remote), 'alt')).to.equal('ice');
    });

    it('an answer whose a=alt lines mismatch is followed as plain', () => {
      expect(followAnswer(describedFormat(parseDescription(viaProxy)), offerFormat('both'))).to.equal('none');
      expect(followAnswer(describedFormat(parseDescription(viaProxy)), offerFormat('alt'))).to.equal('none');
    });
  });

  it('a plain SDP is none; one with ice-ufrag/pwd and candidates is ice', () => {
    const plain = parseDescription('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n');
    expect(describedFormat(plain)).to.equal('none');
    const ice = parseDescription(readFileSync(join(fixtures, 'sdp', 'baresip-ice-offer.sdp'), 'utf8'));
    expect(describedFormat(ice)).to.equal('ice');
  });
});
