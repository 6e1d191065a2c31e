/**
 * Issue 14: every call's ICE passwords (local and remote) went into a process-wide redaction set
 * that was never pruned, so a long-running answerer's memory grew with every call it handled.
 * Redaction is now held per holder and released when the call's agent closes.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { redact, redactedSecretCount, scrub } from '../../lib/base/log.js';
import { IceAgent } from '../../lib/ice/agent.js';
import { FakeNetwork } from '../ice/fake-network.js';

describe('log redaction: per-holder secrets (issue 14)', () => {
  it('a released secret is no longer scrubbed; one still held by another holder is', () => {
    const a = redact('secret-held-twice');
    const b = redact('secret-held-twice');
    expect(scrub('x secret-held-twice y')).to.equal('x *** y');
    a();
    a(); // releasing twice is harmless
    expect(scrub('x secret-held-twice y')).to.equal('x *** y');
    b();
    expect(scrub('x secret-held-twice y')).to.equal('x secret-held-twice y');
  });

  it('100 agents opened and closed leave the process-wide set as it was', async () => {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock);
    const before = redactedSecretCount();
    for (let i = 0; i < 100; i++) {
      const agent = new IceAgent({ role: 'controlled', components: 1, clock, addresses: ['10.9.0.1'], bindSocket: net.bind });
      agent.setRemoteCredentials(`u${i}`, `remote-password-of-call-${i}-xxxxxxxx`);
      expect(scrub(`pwd ${agent.localPwd}`)).to.equal('pwd ***');
      expect(redactedSecretCount()).to.equal(before + 2);
      await agent.close();
    }
    expect(redactedSecretCount()).to.equal(before);
  });
});
