/**
 * Issue 11: one parse per SDP. The phone checks an INVITE's offer (488 for an unusable one) and the
 * call's media session applies it: the same parsed description serves both (DescriptionCache,
 * bounded, per phone).
 */
import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { DescriptionCache } from '../../lib/media/description-cache.js';
import { Phone, type Call } from '../../lib/sip/user-agent.js';

const sdp = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

describe('DescriptionCache: one parse per SDP (issue 11)', function () {
  this.timeout(20000);

  it('returns the same description for the same SDP, keeps the most recent ones, and caches no failure', () => {
    const cache = new DescriptionCache(2);
    const a = cache.parse(sdp(4000));
    expect(cache.parse(sdp(4000))).to.equal(a);
    cache.parse(sdp(4002));
    cache.parse(sdp(4000)); // 4000 is now the most recent
    cache.parse(sdp(4004)); // evicts 4002
    expect(cache.size).to.equal(2);
    expect(cache.parses).to.equal(3);
    expect(cache.parse(sdp(4000))).to.equal(a);
    cache.parse(sdp(4002));
    expect(cache.parses).to.equal(4);
    expect(() => cache.parse('v=0\r\nbroken')).to.throw(ParseError);
    expect(() => cache.parse('v=0\r\nbroken')).to.throw(ParseError);
    expect(cache.size).to.equal(2);
    expect(() => new DescriptionCache(0)).to.throw(RangeError);
  });

  it('an answered call parsed its INVITE offer once, for the check and for the media', async () => {
    const callee = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence' } });
    const caller = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence' } });
    let incoming: Call | undefined;
    callee.on('incoming', (c) => { incoming = c; void callee.answer(c, { provisional: 'none' }); });
    try {
      const call = caller.call(`sip:bob@127.0.0.1:${callee.port}`);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no answer')), 15000);
        call.on('established', () => { clearTimeout(t); resolve(); });
      });
      expect(incoming?.media, 'the callee has its media session').to.not.equal(undefined);
      const offer = (incoming!.session as unknown as { body?: string }).body!;
      expect(offer).to.match(/^v=0/);
      // The media session holds the very object the phone's check parsed (and nothing parsed it again).
      expect(incoming!.media!.remoteDescription).to.equal(callee.descriptions.parse(offer));
      expect(callee.descriptions.parses, 'the offer: parsed once').to.equal(1);
      await call.hangup();
    } finally {
      await Promise.all([caller.stop(), callee.stop()]);
    }
  });
});
