import { expect } from 'chai';
import { UsageError } from '../../lib/base/errors.js';
import { answerAuthFrom, parseCommon } from '../../lib/cli/options.js';

const auth = (args: string[]) => answerAuthFrom(parseCommon(['--listen', '127.0.0.1:0', ...args]).values);

describe('cli/options: icephone answer --auth-user/--auth-pass (server-side digest)', () => {
  it('off without the flags, and with --register (they are then the registrar credentials)', () => {
    expect(auth([])).to.equal(undefined);
    expect(auth(['--register', 'sip:bob@example.test', '--auth-user', 'bob', '--auth-pass', 'pw'])).to.equal(undefined);
    expect(auth(['--register', 'sip:bob@example.test', '--auth-user', 'bob'])).to.equal(undefined);
  });
  it('on with both, with realm, failure limit and algorithm order when given', () => {
    expect(auth(['--auth-user', 'alice', '--auth-pass', 'pw'])).to.deep.equal({ username: 'alice', password: 'pw' });
    expect(auth(['--auth-user', 'alice', '--auth-pass', 'pw', '--auth-realm', 'pbx.example', '--auth-max-failures', '3', '--auth-algorithms', 'md5,sha-256']))
      .to.deep.equal({ username: 'alice', password: 'pw', realm: 'pbx.example', maxFailures: 3, algorithms: ['MD5', 'SHA-256'] });
  });
  const bad: Array<[string[], RegExp]> = [
    [['--auth-user', 'alice'], /go together/],
    [['--auth-pass', 'pw'], /go together/],
    [['--auth-user', '', '--auth-pass', 'pw'], /may not be empty/],
    [['--auth-user', 'a"b', '--auth-pass', 'pw'], /no quotes/],
    [['--auth-user', 'a', '--auth-pass', 'pw', '--auth-realm', ''], /may not be empty/],
    [['--auth-user', 'a', '--auth-pass', 'pw', '--auth-algorithms', 'SHA-512'], /expected SHA-256 and\/or MD5/],
    [['--auth-user', 'a', '--auth-pass', 'pw', '--auth-max-failures', '0'], /positive integer/],
    [['--auth-realm', 'r'], /need --auth-user and --auth-pass/],
  ];
  for (const [args, why] of bad) {
    it(`refuses ${args.join(' ')} with a UsageError`, () => {
      expect(() => auth(args)).to.throw(UsageError, why);
    });
  }
});
