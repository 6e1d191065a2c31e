/**
 * An ended incoming call leaves no memory behind in sip.js's core while its INVITE server
 * transaction lives on (Timer L, 64·T1 = 32 s after the 2xx, RFC 6026 §8.7): the user agent
 * servers the core still holds no longer reach the Invitation (and through it the Call, its media
 * session and sockets). Issue 14: under SIPp load every answered call stayed in memory 32 s.
 */
import { expect } from 'chai';
import { Phone, type Call } from '../../lib/sip/user-agent.js';

interface CoreInternals {
  userAgentCore: { userAgentServers: Map<string, { delegate?: unknown; confirmedDialog?: { delegate?: unknown } }> };
}

describe('sip: ended incoming calls are released before Timer L ends', function () {
  this.timeout(30000);
  let caller: Phone;
  let answerer: Phone;
  before(async () => {
    answerer = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence' } });
    caller = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence' } });
    answerer.on('incoming', (call) => void answerer.answer(call, { provisional: 'none' }));
  });
  after(async () => {
    await caller?.stop();
    await answerer?.stop();
  });

  it('after 10 answered calls have ended, the INVITE server transactions still run but none reaches its call', async () => {
    const ended: Call[] = [];
    answerer.on('incoming', (call) => { void call.finished.then(() => ended.push(call)); });
    for (let i = 0; i < 10; i++) {
      const call = caller.call(`sip:load@127.0.0.1:${answerer.port}`);
      await new Promise<void>((resolve, reject) => {
        call.once('established', () => resolve());
        void call.finished.then(() => reject(new Error(`call ${i} ended before it was established`)));
      });
      await call.hangup();
      await call.finished;
    }
    const deadline = Date.now() + 10_000;
    while (ended.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ended).to.have.length(10);
    const servers = [...(answerer.ua as unknown as CoreInternals).userAgentCore.userAgentServers.values()];
    // Timer L (32 s) has not fired yet: the transactions are still there, as RFC 6026 wants ...
    expect(servers.length).to.equal(10);
    // ... but none holds a delegate, nor does the dialog each keeps: the links to the Invitation and the Call.
    expect(servers.filter((s) => s.delegate !== undefined)).to.have.length(0);
    expect(servers.filter((s) => s.confirmedDialog === undefined)).to.have.length(0);
    expect(servers.filter((s) => s.confirmedDialog!.delegate !== undefined)).to.have.length(0);
    expect(answerer.activeCalls).to.have.length(0);
  });
});
