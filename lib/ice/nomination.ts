import type { CandidatePair } from './candidate-pair.js';
import type { CheckList } from './checklist.js';

/**
 * Regular nomination (RFC 8445 §8.1.1) for the controlling agent: per component, once the
 * valid list has a pair, nominate the best valid pair — at once when no pair of higher
 * priority is still to be checked, otherwise after waiting up to `waitMs` (from the first
 * valid pair of that component) for a better one to succeed. Pure: the agent asks `decide`
 * after every check outcome and when the returned recheck time comes.
 */
export interface NominationDecision {
  /** Valid pairs to send a check with USE-CANDIDATE on now. */
  nominate: CandidatePair[];
  /** Ask again after this many ms (a component is waiting for better pairs). */
  recheckInMs?: number;
}

export class RegularNomination {
  private readonly firstValidAt = new Map<number, number>();

  constructor(private readonly waitMs: number) {}

  /**
   * `upgradeable`: a valid pair that may replace a component's nominated one when its priority is
   * higher (a local address added mid-call, trickled and checked: the agent passes those pairs).
   */
  decide(checklist: CheckList, now: number, upgradeable?: (p: CandidatePair) => boolean): NominationDecision {
    const nominate: CandidatePair[] = [];
    let recheckInMs: number | undefined;
    for (let component = 1; component <= checklist.components; component++) {
      const valid = checklist.validList(component);
      const current = checklist.selected(component);
      if (current && upgradeable && !valid.some((p) => p.nomination === 'pending')) {
        // A better path appeared after the component concluded: nominate it; both ends select the
        // latest nomination (CheckList.selected), so media moves to it without an ICE restart.
        const better = valid.find((p) => p.priority > current.priority && p.nomination === 'none' && upgradeable(p));
        if (better) nominate.push(better);
        continue;
      }
      // "MUST NOT nominate more than one candidate pair per component" unless the first failed.
      if (valid.some((p) => p.nomination === 'nominated' || p.nomination === 'pending')) continue;
      const best = valid.find((p) => p.nomination !== 'failed');
      if (!best) continue;
      let first = this.firstValidAt.get(component);
      if (first === undefined) {
        first = now;
        this.firstValidAt.set(component, now);
      }
      const betterPending = checklist.pairs.some((p) => p.component === component && p.priority > best.priority
        && (p.state === 'frozen' || p.state === 'waiting' || p.state === 'in-progress'));
      const deadline = first + this.waitMs;
      if (betterPending && now < deadline) {
        recheckInMs = Math.min(recheckInMs ?? Infinity, deadline - now);
        continue;
      }
      nominate.push(best);
    }
    return { nominate, recheckInMs };
  }

  reset(): void {
    this.firstValidAt.clear();
  }
}
