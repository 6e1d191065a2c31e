import { expect } from 'chai';
import type { NetworkInterfaceInfo } from 'node:os';
import { isGlobalIPv6, isIPv6LinkLocal, listLocalAddresses } from '../../lib/net/interfaces.js';

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` };
}
function v6(address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: `${address}/64`, scopeid: 0 };
}

describe('local interface addresses', () => {
  const table = {
    lo: [v4('127.0.0.1', true), v6('::1', true)],
    eth0: [v4('192.168.1.10'), v6('fe80::1'), v6('2001:db8::10'), v6('fd00::5')],
    eth1: [v4('169.254.3.4'), v4('192.168.1.10')],
  };

  it('keeps non-internal IPv4 and global IPv6, drops link-local and duplicates', () => {
    expect(listLocalAddresses({ table }).map((a) => a.address)).to.deep.equal(['192.168.1.10', '2001:db8::10', 'fd00::5']);
  });

  it('adds loopback on request and can leave IPv6 out', () => {
    expect(listLocalAddresses({ table, includeLoopback: true }).map((a) => a.address)).to.deep.equal(['127.0.0.1', '::1', '192.168.1.10', '2001:db8::10', 'fd00::5']);
    expect(listLocalAddresses({ table, includeIPv6: false }).map((a) => a.address)).to.deep.equal(['192.168.1.10']);
  });

  it('returns canonical addresses, one per address however the table spells it (issue 10)', () => {
    const spelled = { eth0: [v6('2001:DB8:0:0:0:0:0:10'), v6('2001:db8::10'), v4('192.168.1.10')], lo: [v6('0:0:0:0:0:0:0:1', true)] };
    expect(listLocalAddresses({ table: spelled, includeLoopback: true }).map((a) => a.address)).to.deep.equal(['2001:db8::10', '192.168.1.10', '::1']);
  });

  it('classifies IPv6 scopes', () => {
    expect(isIPv6LinkLocal('fe80::1%eth0')).to.equal(true);
    expect(isIPv6LinkLocal('febf::1')).to.equal(true);
    expect(isGlobalIPv6('2001:db8::1')).to.equal(true);
    expect(isGlobalIPv6('::ffff:10.0.0.1')).to.equal(false);
    expect(isGlobalIPv6('ff02::1')).to.equal(false);
    expect(isGlobalIPv6('::')).to.equal(false);
  });

  it('reads the real interface table without throwing', () => {
    expect(listLocalAddresses({ includeLoopback: true }).length).to.be.greaterThan(0);
  });
});
