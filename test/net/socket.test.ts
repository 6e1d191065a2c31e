import { expect } from 'chai';
import { familyOf, formatAddress, sameAddress } from '../../lib/net/socket.js';

describe('net/socket: sameAddress and familyOf delegate to base/address.ts', () => {
  it('sameAddress compares IPs, not their text (issue 10)', () => {
    expect(sameAddress({ address: '2001:DB8::2', port: 5000 }, { address: '2001:db8::2', port: 5000 })).to.equal(true);
    expect(sameAddress({ address: '2001:db8:0:0:0:0:0:2', port: 5000 }, { address: '2001:db8::2', port: 5000 })).to.equal(true);
    expect(sameAddress({ address: '::ffff:10.0.0.1', port: 9 }, { address: '10.0.0.1', port: 9 })).to.equal(true);
    expect(sameAddress({ address: 'fe80::1%eth0', port: 9 }, { address: 'fe80::1', port: 9 })).to.equal(true);
    expect(sameAddress({ address: '2001:db8::2', port: 5000 }, { address: '2001:db8::2', port: 5001 })).to.equal(false);
    expect(sameAddress({ address: '2001:db8::2', port: 5000 }, { address: '2001:db8::3', port: 5000 })).to.equal(false);
  });
  it('familyOf: IPv4-mapped is IPv4, names never throw', () => {
    expect(familyOf('2001:DB8::2')).to.equal('IPv6');
    expect(familyOf('::ffff:10.0.0.1')).to.equal('IPv4');
    expect(familyOf('::ffff:a00:1')).to.equal('IPv4');
    expect(familyOf('10.0.0.1')).to.equal('IPv4');
    expect(familyOf('host.example.com')).to.equal('IPv4');
  });
  it('formatAddress brackets IPv6', () => {
    expect(formatAddress({ address: '::1', port: 5060 })).to.equal('[::1]:5060');
    expect(formatAddress({ address: '10.0.0.1', port: 5060 })).to.equal('10.0.0.1:5060');
  });
});
