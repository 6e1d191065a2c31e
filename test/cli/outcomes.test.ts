import { expect } from 'chai';
import { CallOutcomes } from '../../lib/cli/outcomes.js';
import type { CallSummary } from '../../lib/sip/user-agent.js';

function summary(i: number, twoWay = true, state = 'ended'): CallSummary {
  return {
    call: { state, sipCallId: `call-${i}@load`, durationMs: 1000, alertedAfterConnected: false, direction: 'incoming', holds: [], dtmf: { received: '', sent: '' } },
    ice: { state: 'connected' } as CallSummary['ice'],
    rtp: { packetsSent: 50, packetsReceived: twoWay ? 50 : 0 } as CallSummary['rtp'],
    sip: { transport: 'udp' }, codec: 'PCMU', srtp: null,
    dropped: { sipMalformed: 0, mediaMalformed: 0, stunUnauthorized: 0, stunRateLimited: 0, rtpMalformed: 0, sdpLines: 0, srtp: 0, mediaFromStrangers: 0, rtpUnconfirmed: 0 },
  };
}

describe('CallOutcomes (what the CLI keeps per call handled)', () => {
  it('after 10,000 calls reported and their reports settled it holds no summary and no pending report', async () => {
    const outcomes = new CallOutcomes();
    const reports: Array<Promise<unknown>> = [];
    for (let i = 0; i < 10_000; i++) {
      reports.push(outcomes.track(Promise.resolve(summary(i)).then((s) => { outcomes.record(s); return s; })));
    }
    expect(outcomes.pending).to.equal(10_000);
    await Promise.all(reports);
    await outcomes.settled();
    expect(outcomes.reported).to.equal(10_000);
    expect(outcomes.pending).to.equal(0);
    expect(outcomes.retainedSummaries).to.equal(0);
    expect(outcomes.exitStatus()).to.equal(0);
    expect(outcomes.failureReason()).to.equal(undefined);
  });

  it('keeps only the first call without two-way media, and names it in the exit reason', async () => {
    const outcomes = new CallOutcomes();
    for (let i = 0; i < 1000; i++) outcomes.record(summary(i, i !== 400 && i !== 700));
    expect(outcomes.retainedSummaries).to.equal(1);
    expect(outcomes.exitStatus()).to.equal(1);
    expect(outcomes.failureReason()).to.equal('no two-way media (sent 50, received 0 RTP packets)');
    const unanswered = new CallOutcomes();
    unanswered.record(summary(1, false, 'failed'));
    expect(unanswered.failureReason()).to.equal('call failed: never answered');
  });

  it('forgets a rejected report too, and settled() waits for reports tracked while it waits', async () => {
    const outcomes = new CallOutcomes();
    let late!: () => void;
    const first = outcomes.track(Promise.reject(new Error('socket closed')));
    first.catch(() => undefined);
    const waiting = outcomes.settled();
    outcomes.track(new Promise<void>((r) => (late = r)));
    let done = false;
    void waiting.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).to.equal(false);
    late();
    await waiting;
    expect(outcomes.pending).to.equal(0);
    expect(outcomes.exitStatus()).to.equal(1);
    expect(outcomes.failureReason()).to.equal('no call was completed');
  });
});
