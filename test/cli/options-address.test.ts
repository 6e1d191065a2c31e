/** Issue 10 on the command line: --listen and --media-address take any spelling of an IP and use its canonical form. */
import { expect } from 'chai';
import { UsageError } from '../../lib/base/errors.js';
import { parseCommon, parseHostPort, phoneOptionsFrom } from '../../lib/cli/options.js';

describe('cli/options: addresses canonical (issue 10)', () => {
  it('parseHostPort canonicalises IPv6 and IPv4-mapped, and rejects brackets around IPv4', () => {
    expect(parseHostPort('[0:0:0:0:0:0:0:1]:5060', '--listen')).to.deep.equal({ address: '::1', port: 5060 });
    expect(parseHostPort('[2001:DB8::0001]:0', '--listen')).to.deep.equal({ address: '2001:db8::1', port: 0 });
    expect(parseHostPort('[::FFFF:127.0.0.1]:5060', '--listen')).to.deep.equal({ address: '127.0.0.1', port: 5060 });
    expect(parseHostPort('127.0.0.1:5060', '--listen')).to.deep.equal({ address: '127.0.0.1', port: 5060 });
    expect(() => parseHostPort('[127.0.0.1]:5060', '--listen')).to.throw(UsageError, /brackets are for IPv6/);
    expect(() => parseHostPort('[::1]', '--listen')).to.throw(UsageError, /expected HOST:PORT/);
  });

  it('media addresses are canonical and deduplicated; a spelled-out ::1 counts as loopback, a spelled-out :: as the wildcard', async () => {
    const loop = await phoneOptionsFrom(parseCommon(['--listen', '[::1]:0', '--media-address', '0:0:0:0:0:0:0:1', '--media-address', '::1']).values);
    expect(loop.media!.addresses).to.deep.equal(['::1']);
    expect(loop.media!.includeLoopback).to.equal(true);
    const sameAsListen = await phoneOptionsFrom(parseCommon(['--listen', '[0000::0001]:0']).values);
    expect(sameAsListen.listen).to.deep.equal({ address: '::1', port: 0 });
    expect(sameAsListen.media!.addresses).to.deep.equal(['::1']);
    expect(sameAsListen.media!.includeLoopback).to.equal(true);
    const wildcard = await phoneOptionsFrom(parseCommon(['--listen', '[0:0:0:0:0:0:0:0]:0']).values);
    expect(wildcard.listen.address).to.equal('::');
    expect(wildcard.media!.addresses, 'a wildcard gathers on every interface').to.equal(undefined);
  });
});
