/** Issue 10 for the draft's a=alt lines: addresses are read in canonical form (base/address.ts). */
import { expect } from 'chai';
import { parseAltAttribute, parseAltAttributes } from '../../lib/sdp/alt-attributes.js';

describe('sdp/alt-attributes: addresses in canonical form (issue 10)', () => {
  it('RTP and RTCP addresses, separate or joined to their ports, are canonical; names as written', () => {
    expect(parseAltAttribute('alt:1 1.0 : u p 2001:DB8:0:0:0:0:0:1 5000 ::FFFF:10.0.0.1 5001').alternate)
      .to.include({ address: '2001:db8::1', port: 5000, rtcpAddress: '10.0.0.1', rtcpPort: 5001 });
    expect(parseAltAttribute('alt:1 1.0 : u p [2001:0DB8::0001]:5000').alternate).to.include({ address: '2001:db8::1', port: 5000 });
    expect(parseAltAttribute('alt:1 1.0 : u p Media.Example.com 5000').alternate).to.include({ address: 'Media.Example.com' });
  });

  it('two spellings of one transport address are the §7 duplicate', () => {
    const { alternates, warnings } = parseAltAttributes(['alt:1 1.0 : u p 2001:DB8::1 1010', 'alt:2 0.5 : u p 2001:db8:0::0001 1010']);
    expect(alternates.map((a) => a.address)).to.deep.equal(['2001:db8::1', '2001:db8::1']);
    expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[1, 'duplicate-address']]);
  });
});
