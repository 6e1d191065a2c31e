/**
 * Issue 11: the RFC 3264 offer/answer state, explicit (lib/media/offer-answer-state.ts), table-driven:
 * every state against every step, glare (491, RFC 3261 §14.2 / RFC 3311 §5.2) and rollback.
 */
import { expect } from 'chai';
import { StateError } from '../../lib/base/errors.js';
import { GlareError, OfferAnswerState, type OfferAnswerStateName } from '../../lib/media/offer-answer-state.js';

type Step = 'localOffer' | 'remoteOffer' | 'localAnswer' | 'remoteAnswer' | 'rollback';

/** [state, step] → the state after it, or the error it throws (the state then unchanged). */
const TABLE: Array<[OfferAnswerStateName, Step, OfferAnswerStateName | 'StateError' | 'GlareError']> = [
  ['stable', 'localOffer', 'local-offer'],
  ['stable', 'remoteOffer', 'remote-offer'],
  ['stable', 'localAnswer', 'StateError'],
  ['stable', 'remoteAnswer', 'StateError'],
  ['stable', 'rollback', 'StateError'],
  ['local-offer', 'localOffer', 'StateError'],
  ['local-offer', 'remoteOffer', 'GlareError'],
  ['local-offer', 'localAnswer', 'StateError'],
  ['local-offer', 'remoteAnswer', 'stable'],
  ['local-offer', 'rollback', 'stable'],
  ['remote-offer', 'localOffer', 'StateError'],
  ['remote-offer', 'remoteOffer', 'StateError'],
  ['remote-offer', 'localAnswer', 'stable'],
  ['remote-offer', 'remoteAnswer', 'StateError'],
  ['remote-offer', 'rollback', 'stable'],
];

function inState(name: OfferAnswerStateName): OfferAnswerState {
  const s = new OfferAnswerState();
  if (name === 'local-offer') s.localOffer('invite');
  if (name === 'remote-offer') s.remoteOffer('update');
  return s;
}

describe('OfferAnswerState: RFC 3264 offer/answer, table-driven (issue 11)', () => {
  for (const [from, step, outcome] of TABLE) {
    it(`${from} --${step}--> ${outcome}`, () => {
      const s = inState(from);
      const before = s.exchanges;
      if (outcome === 'StateError' || outcome === 'GlareError') {
        let error: unknown;
        try { s[step](); } catch (e) { error = e; }
        expect(error).to.be.instanceOf(StateError);
        if (outcome === 'GlareError') {
          expect(error).to.be.instanceOf(GlareError);
          expect((error as GlareError).statusCode).to.equal(491);
        } else {
          expect(error).to.not.be.instanceOf(GlareError);
        }
        expect(s.state, 'unchanged after the error').to.equal(from);
        expect(s.exchanges).to.equal(before);
        return;
      }
      s[step]();
      expect(s.state).to.equal(outcome);
      const completes = step === 'localAnswer' || step === 'remoteAnswer';
      expect(s.exchanges).to.equal(before + (completes ? 1 : 0));
      if (outcome === 'stable') expect(s.via).to.equal(undefined);
    });
  }

  it('counts exchanges and knows the initial one; via says where the pending offer travels', () => {
    const s = new OfferAnswerState();
    expect(s.isInitial).to.equal(true);
    s.localOffer('invite');
    expect(s.via).to.equal('invite');
    s.remoteAnswer();
    expect(s.isInitial).to.equal(false);
    s.remoteOffer('update');
    expect(s.via).to.equal('update');
    s.localAnswer();
    s.localOffer('prack');
    s.rollback(); // its UPDATE/PRACK failed: the session as it was
    expect(s.exchanges).to.equal(2);
    expect(s.state).to.equal('stable');
  });
});
