import { expect } from 'chai';
import { benchSrtp, formatSrtpBench } from '../../scripts/bench/srtp.js';

describe('scripts/bench/srtp.ts (tiny run)', () => {
  it('measures protect+unprotect and plain copy and prints one line', () => {
    const result = benchSrtp(40);
    expect(result.srtpPacketsPerSecond).to.be.greaterThan(0);
    expect(result.copyPacketsPerSecond).to.be.greaterThan(0);
    expect(result.packetLength).to.equal(172);
    const line = formatSrtpBench(result);
    expect(line.split('\n')).to.have.length(1);
    expect(line).to.match(/^srtp: 172-octet RTP, AES_CM_128_HMAC_SHA1_80 protect\+unprotect [\d,]+ packets\/s .*plain copy [\d,]+ packets\/s/);
  });
});
