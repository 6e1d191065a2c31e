/** `icephone gateway` flags for the endpoint leg's preconditions and early media (lib/cli/gateway.ts). */
import { expect } from 'chai';
import { UsageError } from '../../lib/base/errors.js';
import { gatewayOptionsFrom } from '../../lib/cli/gateway.js';

const base = ['--listen', '127.0.0.1:5060', '--pbx', 'sip:127.0.0.2:5060'];

function options(argv: string[]) {
  const r = gatewayOptionsFrom(argv);
  if (r.help) throw new Error('unexpected --help');
  return r.options;
}

describe('icephone gateway --preconditions / --early-media', () => {
  it('pass the endpoint leg policy and early media to the Gateway; without them neither is set', () => {
    expect(options([...base, '--preconditions', 'optional', '--early-media'])).to.deep.include({ endpointPreconditions: 'optional', earlyMedia: true });
    expect(options([...base, '--preconditions', 'mandatory']).endpointPreconditions).to.equal('mandatory');
    const plain = options(base);
    expect(plain).to.not.have.property('endpointPreconditions');
    expect(plain).to.not.have.property('earlyMedia');
    expect(options([...base, '--preconditions', 'none'])).to.not.have.property('endpointPreconditions');
  });

  it('refuse an unknown policy with a one-line UsageError', () => {
    expect(() => gatewayOptionsFrom([...base, '--preconditions', 'sometimes'])).to.throw(UsageError, /^--preconditions: expected none, optional or mandatory, got 'sometimes'$/);
  });
});
