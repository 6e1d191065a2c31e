import { expect } from 'chai';
import { catchParseError } from '../helpers/parse-error.js';
import { ParseError } from '../../lib/base/errors.js';
import type { Candidate } from '../../lib/ice/candidate.js';
import {
  formatCandidateAttribute,
  formatRemoteCandidates,
  isValidConnectionAddress,
  isValidPwd,
  isValidUfrag,
  parseCandidateAttribute,
  parseRemoteCandidates,
} from '../../lib/sdp/ice-attributes.js';

describe('sdp/ice-attributes', () => {
  describe('candidate round trips (RFC 8839 §5.1)', () => {
    const table: Array<{ name: string; line: string; candidate: Candidate }> = [
      {
        name: 'IPv4 host',
        line: 'candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host',
        candidate: { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '10.0.1.1', port: 8998, type: 'host' },
      },
      {
        name: 'IPv4 srflx with raddr/rport',
        line: 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998',
        candidate: {
          foundation: '2', component: 1, transport: 'udp', priority: 1694498815, address: '192.0.2.3', port: 45664, type: 'srflx',
          relatedAddress: '10.0.1.1', relatedPort: 8998,
        },
      },
      {
        name: 'prflx, component 2',
        line: 'candidate:a+b/9 2 UDP 1845501694 198.51.100.7 40001 typ prflx raddr 10.0.0.7 rport 40001',
        candidate: {
          foundation: 'a+b/9', component: 2, transport: 'udp', priority: 1845501694, address: '198.51.100.7', port: 40001, type: 'prflx',
          relatedAddress: '10.0.0.7', relatedPort: 40001,
        },
      },
      {
        name: 'relay',
        line: 'candidate:4 1 UDP 16777215 203.0.113.99 50000 typ relay raddr 198.51.100.10 rport 45664',
        candidate: {
          foundation: '4', component: 1, transport: 'udp', priority: 16777215, address: '203.0.113.99', port: 50000, type: 'relay',
          relatedAddress: '198.51.100.10', relatedPort: 45664,
        },
      },
      {
        name: 'IPv6 host',
        line: 'candidate:5 1 UDP 2130706175 2001:db8::1:2 9000 typ host',
        candidate: { foundation: '5', component: 1, transport: 'udp', priority: 2130706175, address: '2001:db8::1:2', port: 9000, type: 'host' },
      },
      {
        name: 'IPv6 relay with IPv6 raddr',
        line: 'candidate:6 1 UDP 16776959 2001:db8:ffff::9 3478 typ relay raddr 2001:db8:1::5 rport 62000',
        candidate: {
          foundation: '6', component: 1, transport: 'udp', priority: 16776959, address: '2001:db8:ffff::9', port: 3478, type: 'relay',
          relatedAddress: '2001:db8:1::5', relatedPort: 62000,
        },
      },
      {
        name: 'TCP passive (RFC 6544)',
        line: 'candidate:7 1 TCP 1518280447 192.0.2.3 50500 typ host tcptype passive',
        candidate: { foundation: '7', component: 1, transport: 'tcp', priority: 1518280447, address: '192.0.2.3', port: 50500, type: 'host', tcpType: 'passive' },
      },
      {
        name: 'TCP active srflx with port 9',
        line: 'candidate:8 1 TCP 1518280446 198.51.100.2 9 typ srflx raddr 10.0.0.2 rport 9 tcptype active',
        candidate: {
          foundation: '8', component: 1, transport: 'tcp', priority: 1518280446, address: '198.51.100.2', port: 9, type: 'srflx',
          relatedAddress: '10.0.0.2', relatedPort: 9, tcpType: 'active',
        },
      },
      {
        name: 'unknown extension pairs kept in order',
        line: 'candidate:9 1 UDP 2122260223 10.0.0.9 5000 typ host zeta 1 alpha x+y network-cost 10',
        candidate: {
          foundation: '9', component: 1, transport: 'udp', priority: 2122260223, address: '10.0.0.9', port: 5000, type: 'host',
          extensions: [['zeta', '1'], ['alpha', 'x+y'], ['network-cost', '10']],
        },
      },
      {
        name: 'FQDN (mDNS) address',
        line: 'candidate:10 1 UDP 2122260223 1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8.local 61000 typ host',
        candidate: {
          foundation: '10', component: 1, transport: 'udp', priority: 2122260223, address: '1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8.local', port: 61000, type: 'host',
        },
      },
      {
        name: 'priority 2^31-1, port 0, 32-char foundation, component 256',
        line: `candidate:${'A'.repeat(32)} 256 UDP 2147483647 10.0.0.1 0 typ host`,
        candidate: { foundation: 'A'.repeat(32), component: 256, transport: 'udp', priority: 2147483647, address: '10.0.0.1', port: 0, type: 'host' },
      },
    ];
    for (const { name, line, candidate } of table) {
      it(name, () => {
        expect(parseCandidateAttribute(line)).to.deep.equal(candidate);
        expect(formatCandidateAttribute(candidate)).to.equal(line);
        expect(parseCandidateAttribute(formatCandidateAttribute(candidate))).to.deep.equal(candidate);
      });
    }
  });

  describe('accepted spellings', () => {
    const host: Candidate = { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '10.0.1.1', port: 8998, type: 'host' };
    it('with "a=candidate:", "candidate:" or neither', () => {
      expect(parseCandidateAttribute('a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host')).to.deep.equal(host);
      expect(parseCandidateAttribute('candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host')).to.deep.equal(host);
      expect(parseCandidateAttribute('1 1 UDP 2130706431 10.0.1.1 8998 typ host')).to.deep.equal(host);
    });
    it('lower-case transport, extra white space and a trailing CRLF', () => {
      expect(parseCandidateAttribute('candidate:1  1 udp 2130706431\t10.0.1.1 8998 typ host \r\n')).to.deep.equal(host);
    });
    it('an extension value of U+00A0 survives formatting, wherever it ends up (SDP white space is SP/HTAB; fuzz finding)', () => {
      const c = parseCandidateAttribute('candidate:1 1 UDP 1694498815 198.51.100.10 45664 typ srflx raddr 192.0.2.10 generation \u00a0 rport 40000');
      expect(c.extensions).to.deep.equal([['generation', '\u00a0']]);
      expect(parseCandidateAttribute(formatCandidateAttribute(c))).to.deep.equal(c);
    });
  });

  describe('addresses are read in canonical form (issue 10)', () => {
    const table: Array<[written: string, canonical: string]> = [
      ['2001:DB8::2', '2001:db8::2'],
      ['2001:0db8:0000:0000:0000:0000:0000:0002', '2001:db8::2'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::FFFF:192.0.2.1', '192.0.2.1'],
    ];
    for (const [written, canonical] of table) {
      it(`${written} -> ${canonical} in the address, raddr and remote-candidates`, () => {
        const c = parseCandidateAttribute(`candidate:1 1 UDP 1694498815 ${written} 45664 typ srflx raddr ${written} rport 8998`);
        expect(c.address).to.equal(canonical);
        expect(c.relatedAddress).to.equal(canonical);
        expect(parseRemoteCandidates(`remote-candidates:1 ${written} 45664`)).to.deep.equal([{ component: 1, address: canonical, port: 45664 }]);
      });
    }
    it('FQDNs (mDNS names) are kept as written', () => {
      expect(parseCandidateAttribute('candidate:1 1 udp 2122260223 Host-A.Example.com 54321 typ host').address).to.equal('Host-A.Example.com');
    });
  });

  describe('RFC 8839 examples', () => {
    it('§5.1 host and srflx candidates', () => {
      // RFC 8839 §5.1 / Appendix: "a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host"
      // and "a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998".
      const host = parseCandidateAttribute('a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host');
      expect(host).to.include({ type: 'host', address: '10.0.1.1', port: 8998, priority: 2130706431 });
      const srflx = parseCandidateAttribute('a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998');
      expect(srflx).to.include({ type: 'srflx', address: '192.0.2.3', port: 45664, relatedAddress: '10.0.1.1', relatedPort: 8998 });
    });
    it('§5.2 remote-candidates', () => {
      const list = parseRemoteCandidates('a=remote-candidates:1 192.0.2.3 45664 2 192.0.2.3 45665');
      expect(list).to.deep.equal([
        { component: 1, address: '192.0.2.3', port: 45664 },
        { component: 2, address: '192.0.2.3', port: 45665 },
      ]);
      expect(formatRemoteCandidates(list)).to.equal('remote-candidates:1 192.0.2.3 45664 2 192.0.2.3 45665');
      expect(parseRemoteCandidates('1 2001:db8::5 9')).to.deep.equal([{ component: 1, address: '2001:db8::5', port: 9 }]);
    });
  });

  describe('lines real peers write', () => {
    it('baresip/libre (ice module)', () => {
      const host = parseCandidateAttribute('a=candidate:1 1 UDP 2113932031 192.168.1.20 10008 typ host');
      expect(host).to.deep.equal({ foundation: '1', component: 1, transport: 'udp', priority: 2113932031, address: '192.168.1.20', port: 10008, type: 'host' });
      const srflx = parseCandidateAttribute('a=candidate:2 2 UDP 1845496574 198.51.100.20 41873 typ srflx raddr 192.168.1.20 rport 10009');
      expect(srflx).to.include({ component: 2, relatedAddress: '192.168.1.20', relatedPort: 10009 });
    });
    it('Chrome host with mDNS name and generation/network extensions', () => {
      const c = parseCandidateAttribute(
        'candidate:3171762154 1 udp 2122260223 9c2e5a1e-6a4b-4f3d-8d2e-0b1f6c7a9e34.local 54400 typ host generation 0 network-id 1 network-cost 10',
      );
      expect(c.address).to.equal('9c2e5a1e-6a4b-4f3d-8d2e-0b1f6c7a9e34.local');
      expect(c.extensions).to.deep.equal([['generation', '0'], ['network-id', '1'], ['network-cost', '10']]);
    });
    it('Chrome srflx with raddr 0.0.0.0 rport 0 and ufrag extension', () => {
      const c = parseCandidateAttribute(
        'candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Xr4D network-id 1 network-cost 10',
      );
      expect(c).to.include({ type: 'srflx', relatedAddress: '0.0.0.0', relatedPort: 0 });
      expect(c.extensions).to.deep.equal([['generation', '0'], ['ufrag', 'Xr4D'], ['network-id', '1'], ['network-cost', '10']]);
    });
    it('Chrome TCP active host with tcptype before extensions', () => {
      const c = parseCandidateAttribute('candidate:2226148646 1 tcp 1518280447 192.168.34.75 9 typ host tcptype active generation 0 network-id 1');
      expect(c).to.include({ transport: 'tcp', port: 9, tcpType: 'active' });
      expect(c.extensions).to.deep.equal([['generation', '0'], ['network-id', '1']]);
    });
    it('tcptype after other extensions (RFC 6544 makes it an extension attribute)', () => {
      const c = parseCandidateAttribute('candidate:1 1 TCP 1518280447 10.0.0.1 9 typ host generation 0 tcptype so');
      expect(c.tcpType).to.equal('so');
      expect(c.extensions).to.deep.equal([['generation', '0']]);
    });
  });

  describe('invalid candidates throw ParseError naming the field', () => {
    const table: Array<[string, string, string]> = [
      ['empty', '', 'foundation'],
      ['foundation with illegal chars', 'candidate:ab-c 1 UDP 2130706431 10.0.1.1 8998 typ host', 'foundation'],
      ['foundation of 33 chars', `candidate:${'a'.repeat(33)} 1 UDP 2130706431 10.0.1.1 8998 typ host`, 'foundation'],
      ['component 0', 'candidate:1 0 UDP 2130706431 10.0.1.1 8998 typ host', 'component'],
      ['component 257', 'candidate:1 257 UDP 2130706431 10.0.1.1 8998 typ host', 'component'],
      ['component not a number', 'candidate:1 x UDP 2130706431 10.0.1.1 8998 typ host', 'component'],
      ['missing component and the rest', 'candidate:1', 'component'],
      ['unsupported transport', 'candidate:1 1 SCTP 2130706431 10.0.1.1 8998 typ host', 'transport'],
      ['transport not a token', 'candidate:1 1 U(P 2130706431 10.0.1.1 8998 typ host', 'transport'],
      ['priority 0', 'candidate:1 1 UDP 0 10.0.1.1 8998 typ host', 'priority'],
      ['priority 2^31', 'candidate:1 1 UDP 2147483648 10.0.1.1 8998 typ host', 'priority'],
      ['priority 11 digits', 'candidate:1 1 UDP 21474836470 10.0.1.1 8998 typ host', 'priority'],
      ['priority negative', 'candidate:1 1 UDP -5 10.0.1.1 8998 typ host', 'priority'],
      ['address 256.1.1.1', 'candidate:1 1 UDP 2130706431 256.1.1.1 8998 typ host', 'address'],
      ['address with IPv6 zone', 'candidate:1 1 UDP 2130706431 fe80::1%eth0 8998 typ host', 'address'],
      ['address bad IPv6', 'candidate:1 1 UDP 2130706431 2001:db8:::1 8998 typ host', 'address'],
      ['address bad name', 'candidate:1 1 UDP 2130706431 -host.example 8998 typ host', 'address'],
      ['port 70000', 'candidate:1 1 UDP 2130706431 10.0.1.1 70000 typ host', 'port'],
      ['port not a number', 'candidate:1 1 UDP 2130706431 10.0.1.1 80a typ host', 'port'],
      ['missing port', 'candidate:1 1 UDP 2130706431 10.0.1.1', 'port'],
      ['missing typ', 'candidate:1 1 UDP 2130706431 10.0.1.1 8998 host', 'typ'],
      ['typ without type', 'candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ', 'typ'],
      ['unknown type', 'candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ stun', 'typ'],
      ['raddr without value', 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr', 'raddr'],
      ['raddr not an address', 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1 rport 8998', 'raddr'],
      ['rport 65536', 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 65536', 'rport'],
      ['rport without value', 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport', 'rport'],
      ['duplicate raddr', 'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 raddr 10.0.1.2', 'raddr'],
      ['tcptype unknown', 'candidate:1 1 TCP 1518280447 10.0.0.1 9 typ host tcptype simultaneous', 'tcptype'],
      ['extension without value', 'candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host generation', 'extension'],
    ];
    for (const [name, line, field] of table) {
      it(name, () => {
        const e = catchParseError(() => parseCandidateAttribute(line));
        expect(e.where).to.equal(field);
        expect(e.message).to.contain(field === 'typ' ? 'typ' : field === 'extension' ? 'extension' : field);
        expect(e.message).to.not.match(/[\r\n]/);
      });
    }
  });

  describe('formatCandidateAttribute refuses what it could not read back', () => {
    const good: Candidate = { foundation: '1', component: 1, transport: 'udp', priority: 1, address: '10.0.0.1', port: 1, type: 'host' };
    const bad: Array<[string, Partial<Candidate>]> = [
      ['foundation', { foundation: 'a b' }],
      ['priority 0', { priority: 0 }],
      ['priority 2^31', { priority: 2 ** 31 }],
      ['port', { port: 65536 }],
      ['address', { address: '' }],
      ['extension with space', { extensions: [['x', 'a b']] }],
      ['extension named raddr', { extensions: [['raddr', '1.2.3.4']] }],
    ];
    for (const [name, change] of bad) {
      it(name, () => {
        expect(() => formatCandidateAttribute({ ...good, ...change })).to.throw(RangeError);
      });
    }
  });

  describe('ufrag/pwd and addresses', () => {
    it('isValidUfrag: 4..256 ice-chars', () => {
      expect(isValidUfrag('abcd')).to.equal(true);
      expect(isValidUfrag('a+/9')).to.equal(true);
      expect(isValidUfrag('a'.repeat(256))).to.equal(true);
      expect(isValidUfrag('abc')).to.equal(false);
      expect(isValidUfrag('a'.repeat(257))).to.equal(false);
      expect(isValidUfrag('ab-d')).to.equal(false);
      expect(isValidUfrag('ab d')).to.equal(false);
    });
    it('isValidPwd: 22..256 ice-chars', () => {
      expect(isValidPwd('asd88fgpdd777uzjYhagZg')).to.equal(true);
      expect(isValidPwd('asd88fgpdd777uzjYhagZ')).to.equal(false);
      expect(isValidPwd('p'.repeat(256))).to.equal(true);
      expect(isValidPwd('p'.repeat(257))).to.equal(false);
      expect(isValidPwd('asd88fgpdd777uzjYhag=g')).to.equal(false);
    });
    it('isValidConnectionAddress', () => {
      for (const ok of ['10.0.0.1', '::1', '2001:db8::1', 'host.example.com', 'x.local', 'h']) expect(isValidConnectionAddress(ok), ok).to.equal(true);
      for (const bad of ['', '1.2.3', '1.2.3.4.5', '300.1.1.1', 'fe80::1%1', 'a..b', 'a_b.example', '::g']) expect(isValidConnectionAddress(bad), bad).to.equal(false);
    });
  });

  describe('remote-candidates errors', () => {
    const table: Array<[string, string, string]> = [
      ['empty', 'remote-candidates:', 'remote-candidates'],
      ['not triples', 'remote-candidates:1 192.0.2.3', 'remote-candidates'],
      ['component 0', 'remote-candidates:0 192.0.2.3 45664', 'component'],
      ['bad address', 'remote-candidates:1 192.0.2 45664', 'address'],
      ['port 70000', 'remote-candidates:1 192.0.2.3 70000', 'port'],
    ];
    for (const [name, value, field] of table) {
      it(name, () => {
        expect(catchParseError(() => parseRemoteCandidates(value)).where).to.equal(field);
      });
    }
    it('formatRemoteCandidates rejects an empty list', () => {
      expect(() => formatRemoteCandidates([])).to.throw(RangeError);
    });
  });
});
