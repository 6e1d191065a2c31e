import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { formatPreconditionAttribute, withPreconditions, type PreconditionAttribute } from '../../lib/sdp/preconditions.js';
import { PreconditionFlow, type FlowAction, type PreconditionPolicy } from '../../lib/sip/preconditions-flow.js';

const BASE_SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 9 RTP/AVP 0', ''].join('\r\n');
const sdpWith = (attrs: PreconditionAttribute[]) => withPreconditions(BASE_SDP, [attrs]);
const lines = (attrs: PreconditionAttribute[] | undefined) => (attrs ?? []).map((a) => `a=${formatPreconditionAttribute(a)}`);

/** Two flows wired back to back: what one side "sends" is delivered to the other, and recorded as a wire log. */
class Wire {
  readonly clock = new ManualClock();
  readonly log: string[] = [];
  readonly a: PreconditionFlow;
  readonly b: PreconditionFlow;
  /** Messages in flight (delivered by `run()`), so tests can interleave ICE events. */
  private queue: Array<() => void> = [];
  aPeerSupported = 'timer, 100rel, precondition';

  constructor(aPolicy: PreconditionPolicy, bPolicy: PreconditionPolicy, private readonly bSupports = true, bConfirmWaitMs = 0) {
    this.a = new PreconditionFlow({ role: 'offerer', policy: aPolicy, clock: this.clock, act: (x) => this.fromA(x) });
    this.b = new PreconditionFlow({ role: 'answerer', policy: bPolicy, clock: this.clock, act: (x) => this.fromB(x), confirmWaitMs: bConfirmWaitMs });
  }

  private fromA(x: FlowAction): void {
    switch (x.kind) {
      case 'send-invite': {
        this.log.push(`A→B INVITE ${lines(x.attributes).join(' ')}`.trim());
        const require = x.extraHeaders.find((h) => h.startsWith('Require:'))?.slice(8).trim();
        const supported = x.extraHeaders.find((h) => h.startsWith('Supported:'))?.slice(10).trim() ?? '100rel';
        this.queue.push(() => {
          if (!this.bSupports && require?.includes('precondition')) {
            // A peer without the extension: 420 Bad Extension (RFC 3261 §8.2.2.3).
            this.log.push('B→A 420 Unsupported: precondition');
            this.a.finalResponse(420, { unsupported: 'precondition' });
            return;
          }
          if (!this.bSupports) {
            this.log.push('B→A 180');
            this.a.provisional(180, false);
            return;
          }
          this.b.invite({ sdp: sdpWith(x.attributes), require, supported });
        });
        return;
      }
      case 'send-update':
        this.log.push(`A→B UPDATE ${lines(x.attributes).join(' ')}`);
        this.queue.push(() => this.b.updateReceived({ sdp: sdpWith(x.attributes) }));
        return;
      case 'answer-update':
        this.log.push(`A→B 200 UPDATE ${lines(x.attributes).join(' ')}`);
        this.queue.push(() => this.b.updateResponse(200, { sdp: sdpWith(x.attributes) }));
        return;
      case 'retry-without-preconditions':
        this.log.push('A→B INVITE (again, no preconditions)');
        this.queue.push(() => {
          this.log.push('B→A 180');
          this.a.provisional(180, false);
        });
        return;
      default:
        this.log.push(`A: ${x.kind}${'reason' in x ? ` (${x.reason})` : ''}${'preconditionsMet' in x ? ` met=${x.preconditionsMet}` : ''}`);
    }
  }

  private fromB(x: FlowAction): void {
    switch (x.kind) {
      case 'send-reliable-answer':
        this.log.push(`B→A 183 ${lines(x.attributes).join(' ')}`);
        this.queue.push(() => {
          this.a.provisional(183, true, { sdp: sdpWith(x.attributes) });
          this.log.push('A→B PRACK');
          this.queue.push(() => this.b.prack());
        });
        return;
      case 'send-update':
        this.log.push(`B→A UPDATE ${lines(x.attributes).join(' ')}`);
        this.queue.push(() => this.a.updateReceived({ sdp: sdpWith(x.attributes) }));
        return;
      case 'answer-update':
        this.log.push(`B→A 200 UPDATE ${lines(x.attributes).join(' ')}`);
        this.queue.push(() => this.a.updateResponse(200, { sdp: sdpWith(x.attributes) }));
        return;
      case 'alert':
        this.log.push(`B: alert met=${x.preconditionsMet}`);
        this.log.push('B→A 180');
        this.queue.push(() => this.a.provisional(180, true));
        return;
      case 'reject':
        this.log.push(`B→A ${x.statusCode}${x.extraHeaders.length ? ` ${x.extraHeaders.join(' ')}` : ''}${x.attributes ? ` ${lines(x.attributes).join(' ')}` : ''}`);
        this.queue.push(() => this.a.finalResponse(x.statusCode));
        return;
      default:
        this.log.push(`B: ${x.kind}`);
    }
  }

  run(): void {
    while (this.queue.length > 0) this.queue.shift()!();
  }
}

describe('sip/preconditions-flow (draft-rosenberg-sipping-ice-01 Figure 2)', () => {
  it('caller confirms first: INVITE, 183, PRACK, ICE, UPDATE sendrecv from A, 200 UPDATE, 180', () => {
    const w = new Wire('mandatory', 'mandatory');
    w.a.start();
    w.run();
    expect(w.a.state).to.equal('answered');
    expect(w.b.state).to.equal('answered');
    w.a.iceConnectedEvent();
    w.run();
    w.b.iceConnectedEvent(); // B learns nothing new: A already said sendrecv
    w.run();
    expect(w.log).to.deep.equal([
      'A→B INVITE a=curr:conn e2e none a=des:conn mandatory e2e sendrecv',
      'B→A 183 a=curr:conn e2e none a=des:conn mandatory e2e sendrecv a=conf:conn e2e recv',
      'A→B PRACK',
      'A→B UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B→A 200 UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B: alert met=true',
      'B→A 180',
      'A: remote-alerting met=true',
    ]);
    expect(w.a.state).to.equal('alerting');
    expect(w.b.state).to.equal('alerting');
  });

  it('the INVITE carries Supported and (mandatory) Require: precondition', () => {
    const acts: FlowAction[] = [];
    new PreconditionFlow({ role: 'offerer', policy: 'mandatory', act: (x) => acts.push(x) }).start();
    new PreconditionFlow({ role: 'offerer', policy: 'optional', act: (x) => acts.push(x) }).start();
    expect(acts.map((x) => (x.kind === 'send-invite' ? x.extraHeaders : []))).to.deep.equal([
      ['Supported: 100rel, precondition', 'Require: precondition'],
      ['Supported: 100rel, precondition'],
    ]);
  });

  it('callee confirms first: B sends the UPDATE (after its PRACK), alerts on the 200 UPDATE', () => {
    const w = new Wire('mandatory', 'mandatory');
    w.a.start();
    w.run();
    w.b.iceConnectedEvent();
    w.run();
    w.a.iceConnectedEvent();
    w.run();
    expect(w.log).to.deep.equal([
      'A→B INVITE a=curr:conn e2e none a=des:conn mandatory e2e sendrecv',
      'B→A 183 a=curr:conn e2e none a=des:conn mandatory e2e sendrecv a=conf:conn e2e recv',
      'A→B PRACK',
      'B→A UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'A→B 200 UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B: alert met=true',
      'B→A 180',
      'A: remote-alerting met=true',
    ]);
  });

  it('with confirmWaitMs the callee whose ICE connects first waits for the caller\'s UPDATE (Figure 2 exactly)', () => {
    const w = new Wire('mandatory', 'mandatory', true, 2000);
    w.a.start();
    w.run();
    w.b.iceConnectedEvent();
    w.run();
    w.clock.advance(500);
    expect(w.log).to.have.length(3); // INVITE, 183, PRACK: B neither updates nor alerts yet
    w.a.iceConnectedEvent();
    w.run();
    expect(w.log.slice(3)).to.deep.equal([
      'A→B UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B→A 200 UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B: alert met=true',
      'B→A 180',
      'A: remote-alerting met=true',
    ]);
    w.clock.advance(5000);
    w.run();
    expect(w.log).to.have.length(8); // the wait timer was stopped: no UPDATE from B
  });

  it('with confirmWaitMs the callee confirms itself when the caller\'s UPDATE does not come in time', () => {
    const w = new Wire('mandatory', 'mandatory', true, 2000);
    w.a.start();
    w.run();
    w.b.iceConnectedEvent();
    w.run();
    w.clock.advance(2000);
    w.run();
    expect(w.log.slice(3)).to.deep.equal([
      'B→A UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'A→B 200 UPDATE a=curr:conn e2e sendrecv a=des:conn mandatory e2e sendrecv',
      'B: alert met=true',
      'B→A 180',
      'A: remote-alerting met=true',
    ]);
  });

  it('a callee whose connectivity is up before the PRACK alerts only after telling the caller (its UPDATE and 200)', () => {
    const acts: FlowAction[] = [];
    const b = new PreconditionFlow({ role: 'answerer', policy: 'mandatory', clock: new ManualClock(), act: (x) => acts.push(x) });
    const offer: PreconditionAttribute[] = [
      { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' },
      { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' },
    ];
    b.invite({ sdp: sdpWith(offer), require: 'precondition', supported: '100rel, precondition' });
    b.iceConnectedEvent();
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer']);
    b.prack();
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update']);
    b.updateResponse(200, { sdp: sdpWith([{ ...offer[0]!, direction: 'sendrecv' } as PreconditionAttribute, offer[1]!]) });
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update', 'alert']);
  });

  it('callee confirms first, later ICE event on the caller: no second UPDATE', () => {
    const w = new Wire('optional', 'mandatory');
    w.a.start();
    w.run();
    w.b.iceConnectedEvent();
    w.run();
    w.a.iceConnectedEvent();
    w.run();
    expect(w.log.filter((l) => l.includes('UPDATE a='))).to.have.length(2); // one UPDATE and its 200
    expect(w.log[1]).to.include('a=des:conn mandatory e2e sendrecv'); // B upgraded optional → mandatory
    expect(w.a.state).to.equal('alerting');
  });

  it('optional with a peer lacking precondition support: a normal call', () => {
    const w = new Wire('optional', 'none', false);
    w.a.start();
    w.run();
    expect(w.log).to.deep.equal([
      'A→B INVITE a=curr:conn e2e none a=des:conn optional e2e sendrecv',
      'B→A 180',
      'A: remote-alerting met=false',
    ]);
    expect(w.a.state).to.equal('alerting');
  });

  it('optional with a peer that answers our INVITE without preconditions (ignores the lines)', () => {
    const acts: FlowAction[] = [];
    const a = new PreconditionFlow({ role: 'offerer', policy: 'optional', act: (x) => acts.push(x) });
    a.start();
    a.finalResponse(200, { sdp: BASE_SDP });
    expect(a.state).to.equal('plain');
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-invite']);
  });

  it('optional, 420 from a peer that rejects Require: precondition: retry without (only when optional)', () => {
    const acts: FlowAction[] = [];
    const a = new PreconditionFlow({ role: 'offerer', policy: 'optional', act: (x) => acts.push(x) });
    a.start();
    a.finalResponse(420, { unsupported: 'precondition' });
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-invite', 'retry-without-preconditions']);
  });

  it('mandatory with a peer lacking support: 420 is a clear failure', () => {
    const w = new Wire('mandatory', 'none', false);
    w.a.start();
    w.run();
    expect(w.log).to.deep.equal([
      'A→B INVITE a=curr:conn e2e none a=des:conn mandatory e2e sendrecv',
      'B→A 420 Unsupported: precondition',
    ]);
    expect(w.a.state).to.equal('failed');
    expect(w.a.failureReason).to.match(/does not support preconditions/);
  });

  it('our UA with --preconditions none answers 420 to Require: precondition, else a plain call', () => {
    const acts: FlowAction[] = [];
    const b = new PreconditionFlow({ role: 'answerer', policy: 'none', act: (x) => acts.push(x) });
    b.invite({ require: 'precondition', supported: '100rel', sdp: BASE_SDP });
    expect(acts[0]).to.deep.include({ kind: 'reject', statusCode: 420, extraHeaders: ['Unsupported: precondition'] });
    const acts2: FlowAction[] = [];
    new PreconditionFlow({ role: 'answerer', policy: 'none', act: (x) => acts2.push(x) }).invite({ supported: 'precondition', sdp: BASE_SDP });
    expect(acts2).to.deep.equal([{ kind: 'alert', preconditionsMet: false }]);
  });

  it('mandatory answerer and an offer without preconditions: 421 Require: precondition', () => {
    const acts: FlowAction[] = [];
    new PreconditionFlow({ role: 'answerer', policy: 'mandatory', act: (x) => acts.push(x) }).invite({ sdp: BASE_SDP, supported: '100rel' });
    expect(acts[0]).to.deep.include({ kind: 'reject', statusCode: 421, extraHeaders: ['Require: precondition'] });
  });

  it('mandatory offer from a UAC without 100rel: 421 Require: 100rel', () => {
    const acts: FlowAction[] = [];
    const sdp = sdpWith([{ kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' }]);
    new PreconditionFlow({ role: 'answerer', policy: 'optional', act: (x) => acts.push(x) }).invite({ sdp, supported: 'precondition' });
    expect(acts[0]).to.deep.include({ kind: 'reject', statusCode: 421, extraHeaders: ['Require: 100rel'] });
  });

  it('ICE failure with mandatory: the callee never alerts and answers 580 with des failure', () => {
    const w = new Wire('mandatory', 'mandatory');
    w.a.start();
    w.run();
    w.b.iceFailedEvent();
    w.run();
    expect(w.log.slice(3)).to.deep.equal([
      'B→A 580 a=curr:conn e2e none a=des:conn failure e2e sendrecv a=conf:conn e2e recv',
    ]);
    expect(w.log.some((l) => l.includes('alert'))).to.equal(false);
    expect(w.b.state).to.equal('failed');
    expect(w.a.state).to.equal('failed');
    expect(w.a.failureReason).to.equal('580 Precondition Failure');
  });

  it('ICE failure seen by the caller first: UPDATE with failure, the callee answers it then 580', () => {
    const w = new Wire('mandatory', 'mandatory');
    w.a.start();
    w.run();
    w.a.iceFailedEvent();
    w.run();
    expect(w.log.slice(3)).to.deep.equal([
      'A→B UPDATE a=curr:conn e2e none a=des:conn failure e2e sendrecv',
      'B→A 200 UPDATE a=curr:conn e2e none a=des:conn failure e2e sendrecv a=conf:conn e2e recv',
      'B→A 580 a=curr:conn e2e none a=des:conn failure e2e sendrecv a=conf:conn e2e recv',
    ]);
    expect(w.a.state).to.equal('failed');
    w.clock.advance(10_000); // the grace timer was cleared by the failure: no CANCEL
    expect(w.log.some((l) => l.includes('cancel'))).to.equal(false);
  });

  it('caller CANCELs when its ICE failed and no 580 comes within the grace time', () => {
    const acts: FlowAction[] = [];
    const clock = new ManualClock();
    const a = new PreconditionFlow({ role: 'offerer', policy: 'mandatory', clock, act: (x) => acts.push(x), failureGraceMs: 3000 });
    a.start();
    a.provisional(183, true, { sdp: sdpWith([{ kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' }, { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' }]) });
    a.iceFailedEvent();
    clock.advance(2999);
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-invite', 'send-update']);
    clock.advance(1);
    expect(acts.at(-1)).to.deep.include({ kind: 'cancel' });
    expect(a.state).to.equal('failed');
  });

  it('precondition timeout on the answerer: 580 (mandatory) or alert anyway (optional)', () => {
    for (const [policy, expected] of [['mandatory', 'reject'], ['optional', 'alert']] as const) {
      const clock = new ManualClock();
      const acts: FlowAction[] = [];
      const b = new PreconditionFlow({ role: 'answerer', policy, clock, timeoutMs: 30_000, act: (x) => acts.push(x) });
      b.invite({
        supported: '100rel, precondition',
        sdp: sdpWith([{ kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' }, { kind: 'des', type: 'conn', strength: 'optional', statusType: 'e2e', direction: 'sendrecv' }]),
      });
      clock.advance(29_999);
      expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer']);
      clock.advance(1);
      expect(acts.at(-1)!.kind).to.equal(expected);
    }
  });

  it('a retried UPDATE (after 491) is no longer wanted once the peer confirmed', () => {
    const acts: FlowAction[] = [];
    const a = new PreconditionFlow({ role: 'offerer', policy: 'mandatory', act: (x) => acts.push(x) });
    a.start();
    a.provisional(183, true, { sdp: sdpWith([{ kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' }, { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' }]) });
    a.iceConnectedEvent();
    expect(acts.at(-1)!.kind).to.equal('send-update');
    expect(a.updateStillWanted()).to.equal(true); // a 491 now would be retried: the peer does not know yet
    // Glare: the peer's UPDATE arrives while ours got 491.
    a.updateReceived({ sdp: sdpWith([{ kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'sendrecv' }, { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' }]) });
    a.updateResponse(491);
    expect(a.updateStillWanted()).to.equal(false);
    expect(acts.filter((x) => x.kind === 'send-update')).to.have.length(1);
    expect(a.state).to.equal('met');
  });

  it('crossed UPDATEs: the callee whose own UPDATE got 491 alerts once the caller\'s UPDATE confirmed during the back-off', () => {
    // Seen under 20% loss (test/e2e/preconditions-netns.test.ts): A's UPDATE is lost until B's
    // confirmation wait ends, B's UPDATE reaches A while A's is pending (491, RFC 3311 §5.2), A's
    // retransmission reaches B during B's RFC 3261 §14.1 back-off and is answered 200, B's retry is
    // then no longer wanted. B must alert then, not wait for its 580 timeout.
    const clock = new ManualClock();
    const acts: FlowAction[] = [];
    const b = new PreconditionFlow({ role: 'answerer', policy: 'mandatory', clock, timeoutMs: 30_000, confirmWaitMs: 2000, act: (x) => acts.push(x) });
    const none: PreconditionAttribute = { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' };
    const sendrecv: PreconditionAttribute = { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'sendrecv' };
    const des: PreconditionAttribute = { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' };
    b.invite({ sdp: sdpWith([none, des]), require: 'precondition', supported: '100rel, precondition' });
    b.prack();
    b.iceConnectedEvent();
    clock.advance(2000); // A's UPDATE has not come: B confirms itself
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update']);
    // 491 from A; during the back-off A's UPDATE (everything current) arrives and is answered.
    b.updateReceived({ sdp: sdpWith([sendrecv, des]) });
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update', 'answer-update']);
    expect(b.updateStillWanted()).to.equal(false);
    // The back-off ends: update.ts abandons the retry and reports the 491.
    b.updateResponse(491);
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update', 'answer-update', 'alert']);
    expect(acts.at(-1)).to.deep.equal({ kind: 'alert', preconditionsMet: true });
    expect(b.state).to.equal('alerting');
    clock.advance(60_000);
    expect(acts.filter((x) => x.kind === 'reject')).to.deep.equal([]); // no 580 from the guard timer
  });

  it('a callee whose UPDATE failed (500, Retry-After) after the caller confirmed alerts without another UPDATE', () => {
    const clock = new ManualClock();
    const acts: FlowAction[] = [];
    const b = new PreconditionFlow({ role: 'answerer', policy: 'mandatory', clock, act: (x) => acts.push(x) });
    const none: PreconditionAttribute = { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'none' };
    const sendrecv: PreconditionAttribute = { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'sendrecv' };
    const des: PreconditionAttribute = { kind: 'des', type: 'conn', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' };
    b.invite({ sdp: sdpWith([none, des]), require: 'precondition', supported: '100rel, precondition' });
    b.prack();
    b.iceConnectedEvent();
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update']);
    b.updateReceived({ sdp: sdpWith([sendrecv, des]) });
    b.updateResponse(500);
    expect(acts.map((x) => x.kind)).to.deep.equal(['send-reliable-answer', 'send-update', 'answer-update', 'alert']);
  });
});
