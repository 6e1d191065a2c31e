import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import {
  addressFamily, addressKey, canonicalIp, formatIpBytes, ipFamily, isIp, isLoopbackIp, isUnspecifiedIp, normalizeAddress,
  parseIp, sameIp, sameTransportAddress, socketAddressFor, transportAddressKey,
} from '../../lib/base/address.js';

describe('base/address: canonical IP text (RFC 5952) and transport-address identity', () => {
  describe('canonicalIp: valid inputs', () => {
    const table: Array<[input: string, canonical: string, family: 'IPv4' | 'IPv6']> = [
      // IPv4
      ['192.0.2.1', '192.0.2.1', 'IPv4'],
      ['0.0.0.0', '0.0.0.0', 'IPv4'],
      ['255.255.255.255', '255.255.255.255', 'IPv4'],
      // Case (RFC 5952 §4.3), issue 10's own example
      ['2001:DB8::2', '2001:db8::2', 'IPv6'],
      ['2001:Db8::aBcD', '2001:db8::abcd', 'IPv6'],
      // Leading zeros (§4.1), fully expanded, zero-padded
      ['2001:0db8:0000:0000:0000:0000:0000:0002', '2001:db8::2', 'IPv6'],
      ['2001:0DB8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1', 'IPv6'],
      ['2001:db8:0:0:0::2', '2001:db8::2', 'IPv6'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1', 'IPv6'],
      ['0:0:0:0:0:0:0:0', '::', 'IPv6'],
      ['::', '::', 'IPv6'],
      ['::1', '::1', 'IPv6'],
      ['1::', '1::', 'IPv6'],
      // Longest run (§4.2.1), first on a tie (§4.2.3), never :: for one group (§4.2.2)
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3', 'IPv6'],
      ['1:0:0:2:3:0:0:4', '1::2:3:0:0:4', 'IPv6'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'IPv6'],
      ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'IPv6'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0', 'IPv6'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'IPv6'],
      // Embedded dotted tail outside the mapped prefix is written in hex (IPv4-compatible is deprecated)
      ['::1.2.3.4', '::102:304', 'IPv6'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221', 'IPv6'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304', 'IPv6'],
      // IPv4-mapped: the IPv4 address it maps, family IPv4 (documented choice)
      ['::ffff:1.2.3.4', '1.2.3.4', 'IPv4'],
      ['::FFFF:1.2.3.4', '1.2.3.4', 'IPv4'],
      ['::ffff:c000:0201', '192.0.2.1', 'IPv4'],
      ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1', 'IPv4'],
      // IPv4-translated keeps RFC 5952 §5 mixed notation
      ['::ffff:0:c000:201', '::ffff:0:192.0.2.1', 'IPv6'],
      // Zone ids: address part canonical, zone kept verbatim
      ['fe80::1%eth0', 'fe80::1%eth0', 'IPv6'],
      ['FE80:0:0:0:0:0:0:1%eth0', 'fe80::1%eth0', 'IPv6'],
      ['fe80::1%3', 'fe80::1%3', 'IPv6'],
      ['fe80::1%Wi-Fi.2_x~', 'fe80::1%Wi-Fi.2_x~', 'IPv6'],
    ];
    for (const [input, canonical, family] of table) {
      it(`${input} -> ${canonical} (${family})`, () => {
        expect(canonicalIp(input)).to.equal(canonical);
        expect(ipFamily(input)).to.equal(family);
        expect(addressFamily(input)).to.equal(family);
        expect(isIp(input)).to.equal(true);
        expect(normalizeAddress(input)).to.equal(canonical);
        // Idempotent: the canonical text is its own canonical text.
        expect(canonicalIp(canonical)).to.equal(canonical);
      });
    }
  });

  describe('canonicalIp: invalid inputs give a ParseError that says why', () => {
    const table: Array<[input: string, reason: RegExp]> = [
      ['', /empty/],
      ['1.2.3', /4 dotted decimal parts, found 3/],
      ['1.2.3.4.5', /4 dotted decimal parts, found 5/],
      ['256.1.1.1', /256 is above 255/],
      ['010.0.0.1', /leading zero/],
      ['1.2.3.04', /leading zero/],
      ['1..2.3', /not 1-3 decimal digits/],
      ['1.2.3.4x', /neither dotted-decimal IPv4 nor IPv6/],
      ['hello', /neither dotted-decimal IPv4 nor IPv6/],
      ['example.com', /neither dotted-decimal IPv4 nor IPv6/],
      ['1::2::3', /more than one '::'/],
      ['12345::', /"12345" is not 1-4 hexadecimal digits/],
      ['::g', /"g" is not 1-4 hexadecimal digits/],
      ['1:2:3:4:5:6:7', /7 groups without '::', IPv6 needs 8/],
      ['1:2:3:4:5:6:7:8:9', /9 groups without '::'/],
      ['1:2:3:4::5:6:7:8', /'::' stands for no group/],
      [':::', /empty group/],
      [':1:2:3:4:5:6:7', /empty group/],
      ['1:2:3:4:5:6:7:', /empty group/],
      ['1.2.3.4::', /dotted IPv4 "1.2.3.4" allowed only as the last 32 bits/],
      ['::1.2.3.4:5', /allowed only as the last 32 bits/],
      ['::ffff:1.2.3.256', /embedded IPv4 part 256 is above 255/],
      ['::ffff:01.2.3.4', /embedded IPv4 part "01" has a leading zero/],
      ['fe80::1%', /empty zone id/],
      ['fe80::1%eth 0', /white space/],
      ['fe80::1%eth/0', /zone id "eth\/0" is not unreserved/],
      ['192.0.2.1%eth0', /zone id is only allowed on IPv6/],
      ['::ffff:1.2.3.4%eth0', /zone id on an IPv4-mapped address/],
      ['[::1]', /brackets belong around an IPv6 address/],
      [' ::1', /white space/],
    ];
    for (const [input, reason] of table) {
      it(`rejects ${JSON.stringify(input)}`, () => {
        let thrown: unknown;
        try {
          canonicalIp(input);
        } catch (e) {
          thrown = e;
        }
        expect(thrown).to.be.instanceOf(ParseError);
        const e = thrown as ParseError;
        expect(e.where).to.equal('IP address');
        expect(e.message).to.contain(`${JSON.stringify(input)} is not an IP address: `);
        expect(e.message).to.match(reason);
        if (input !== '::ffff:1.2.3.4%eth0') expect(isIp(input)).to.equal(false);
        expect(() => ipFamily(input)).to.throw(ParseError);
      });
    }
    it('normalizeAddress leaves what is not an IP literal (a host name) unchanged', () => {
      expect(normalizeAddress('Host.Example.COM')).to.equal('Host.Example.COM');
      expect(normalizeAddress('8f3e7e2a-7bd3-4a5f-9a3c-1c1d4b1a2f33.local')).to.equal('8f3e7e2a-7bd3-4a5f-9a3c-1c1d4b1a2f33.local');
    });
  });

  describe('parseIp and formatIpBytes', () => {
    it('parses to network-order bytes and the zone', () => {
      expect(parseIp('192.0.2.1').bytes.toString('hex')).to.equal('c0000201');
      expect(parseIp('2001:db8::2').bytes.toString('hex')).to.equal('20010db8000000000000000000000002');
      expect(parseIp('fe80::1%eth0')).to.deep.include({ zone: 'eth0' });
      expect(parseIp('::1').zone).to.equal(undefined);
    });
    it('formats bytes as RFC 5952 text, IPv4-mapped in the §5 mixed form', () => {
      expect(formatIpBytes(parseIp('::ffff:c000:201').bytes)).to.equal('::ffff:192.0.2.1');
      expect(formatIpBytes(parseIp('2001:0DB8::0001').bytes)).to.equal('2001:db8::1');
      expect(formatIpBytes(Buffer.from([10, 0, 0, 1]))).to.equal('10.0.0.1');
      expect(() => formatIpBytes(Buffer.alloc(5))).to.throw(RangeError, /4 or 16 bytes, not 5/);
    });
  });

  describe('comparisons and keys', () => {
    const same: Array<[string, string]> = [
      ['2001:DB8::2', '2001:db8::2'],
      ['2001:0db8:0000:0000:0000:0000:0000:0002', '2001:db8::2'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      ['::FFFF:C000:201', '192.0.2.1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['fe80::1%eth0', 'FE80::1%eth0'],
      ['Host.Example.com', 'host.example.COM'],
    ];
    for (const [a, b] of same) {
      it(`${a} is ${b}`, () => {
        expect(sameIp(a, b)).to.equal(true);
        expect(sameIp(b, a)).to.equal(true);
        expect(addressKey(a)).to.equal(addressKey(b));
        expect(sameTransportAddress({ address: a, port: 5000 }, { address: b, port: 5000 })).to.equal(true);
        expect(sameTransportAddress({ address: a, port: 5000 }, { address: b, port: 5001 })).to.equal(false);
        expect(transportAddressKey({ address: a, port: 5000 })).to.equal(transportAddressKey({ address: b, port: 5000 }));
      });
    }
    const different: Array<[string, string]> = [
      ['2001:db8::2', '2001:db8::3'],
      ['::1', '127.0.0.1'],
      ['::102:304', '1.2.3.4'], // IPv4-compatible is not IPv4-mapped
      ['::ffff:0:1.2.3.4', '1.2.3.4'],
      ['10.0.0.1', '10.0.0.10'],
      ['host.example.com', '192.0.2.1'],
    ];
    for (const [a, b] of different) {
      it(`${a} is not ${b}`, () => {
        expect(sameIp(a, b)).to.equal(false);
        expect(transportAddressKey({ address: a, port: 1 })).to.not.equal(transportAddressKey({ address: b, port: 1 }));
      });
    }
    it('keys are the canonical host:port text, brackets around IPv6, without zone', () => {
      expect(transportAddressKey({ address: '2001:DB8:0::2', port: 5000 })).to.equal('[2001:db8::2]:5000');
      expect(transportAddressKey({ address: '::ffff:10.0.0.1', port: 9 })).to.equal('10.0.0.1:9');
      expect(transportAddressKey({ address: 'fe80::1%eth0', port: 9 })).to.equal('[fe80::1]:9');
    });
  });

  describe('classification and socket addresses', () => {
    it('loopback and unspecified in any spelling', () => {
      for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackIp(a), a).to.equal(true);
      for (const a of ['10.0.0.1', '::2', '::', 'localhost', '128.0.0.1']) expect(isLoopbackIp(a), a).to.equal(false);
      for (const a of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0', '::0']) expect(isUnspecifiedIp(a), a).to.equal(true);
      for (const a of ['0.0.0.1', '::1', 'any']) expect(isUnspecifiedIp(a), a).to.equal(false);
    });
    it('addressFamily never throws: names are IPv4 unless they hold a colon', () => {
      expect(addressFamily('host.example.com')).to.equal('IPv4');
      expect(addressFamily('not-an-ip:really')).to.equal('IPv6');
    });
    it('an IPv4 destination on an IPv6 socket is sent to its mapped form, a mapped one on an IPv4 socket to IPv4, nothing else changes', () => {
      expect(socketAddressFor('192.0.2.1', 'IPv6')).to.equal('::ffff:192.0.2.1');
      expect(socketAddressFor('192.0.2.1', 'IPv4')).to.equal('192.0.2.1');
      expect(socketAddressFor('2001:db8::1', 'IPv6')).to.equal('2001:db8::1');
      expect(socketAddressFor('host.example.com', 'IPv6')).to.equal('host.example.com');
      expect(socketAddressFor('::ffff:192.0.2.1', 'IPv4')).to.equal('192.0.2.1');
      expect(socketAddressFor('::ffff:192.0.2.1', 'IPv6')).to.equal('::ffff:192.0.2.1');
      expect(socketAddressFor('2001:db8::1', 'IPv4')).to.equal('2001:db8::1');
    });
  });
});
