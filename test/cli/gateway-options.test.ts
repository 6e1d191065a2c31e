/**
 * `icephone gateway` flags of registration through the gateway (issue 12): `--keepalive SECONDS`
 * (0 = off) and `--pbx-domain`; bad values are a UsageError with a one-line reason (the CLI
 * exits 2 with it, test/e2e/gateway.test.ts).
 */
import { expect } from 'chai';
import { UsageError } from '../../lib/base/errors.js';
import { gatewayOptionsFrom } from '../../lib/cli/gateway.js';

const base = ['--listen', '127.0.0.1:5070', '--pbx', 'sip:127.0.0.1:5060'];

function options(extra: string[]) {
  const r = gatewayOptionsFrom([...base, ...extra]);
  if (r.help) throw new Error('help');
  return r.options;
}

describe('icephone gateway: --keepalive and --pbx-domain (issue 12)', () => {
  it('--keepalive in seconds becomes keepaliveMs; 0 turns keep-alives off; absent leaves the default', () => {
    expect(options(['--keepalive', '15']).keepaliveMs).to.equal(15000);
    expect(options(['--keepalive', '0.5']).keepaliveMs).to.equal(500);
    expect(options(['--keepalive', '0']).keepaliveMs).to.equal(0);
    expect(options([])).to.not.have.property('keepaliveMs');
  });

  it('--pbx-domain is the AOR domain at the PBX', () => {
    expect(options(['--pbx-domain', 'pbx.example']).pbxDomain).to.equal('pbx.example');
    expect(options([])).to.not.have.property('pbxDomain');
  });

  it('bad values: one-line UsageError', () => {
    for (const [flags, re] of [
      [['--keepalive=-1'], /^--keepalive: expected seconds/],
      [['--keepalive', 'soon'], /^--keepalive: expected seconds/],
      [['--pbx-domain', 'a b'], /^--pbx-domain: expected a host name or IP/],
      [['--pbx-domain', 'x;y=1'], /^--pbx-domain: expected a host name or IP/],
    ] as const) {
      expect(() => gatewayOptionsFrom([...base, ...flags])).to.throw(UsageError, re);
    }
  });
});
