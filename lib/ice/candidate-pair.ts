import { StateError } from '../base/errors.js';
import { describeCandidate, type Candidate } from './candidate.js';

/**
 * Candidate pairs (RFC 8445 §6.1.2): pair priority, pair state machine, foundation.
 */
export type IceRole = 'controlling' | 'controlled';

/** RFC 8445 §6.1.2.6 pair states. */
export type PairState = 'frozen' | 'waiting' | 'in-progress' | 'succeeded' | 'failed';

/** What the agent reports about a pair (a snapshot). */
export interface CandidatePairInfo {
  local: Candidate;
  remote: Candidate;
  priority: bigint;
  state: PairState;
  nominated: boolean;
  component: number;
}

const TWO_32 = 1n << 32n;
const MAX_PRIORITY = 0xffffffff;

/**
 * RFC 8445 §6.1.2.3: pair priority = 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), where G is
 * the priority of the controlling agent's candidate and D the controlled agent's.
 * @throws RangeError when a priority is not a 32-bit unsigned integer.
 */
export function pairPriority(controlling: number, controlled: number): bigint {
  for (const p of [controlling, controlled]) {
    if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) throw new RangeError(`candidate priority ${p} not in 0..2^32-1`);
  }
  const g = BigInt(controlling);
  const d = BigInt(controlled);
  const min = g < d ? g : d;
  const max = g > d ? g : d;
  return TWO_32 * min + 2n * max + (g > d ? 1n : 0n);
}

/** Pair priority as seen by an agent in `role` owning `local`. */
export function pairPriorityFor(role: IceRole, local: Candidate, remote: Candidate): bigint {
  return role === 'controlling' ? pairPriority(local.priority, remote.priority) : pairPriority(remote.priority, local.priority);
}

/**
 * Allowed predecessors of each state (the `transition(to)` table):
 * - waiting ← frozen (unfreezing, §6.1.2.6, §6.1.4.2, §7.2.5.3.3),
 *   ← in-progress (triggered re-check §7.3.1.4, retry after 487 §7.2.5.1),
 *   ← failed (triggered check on a failed pair, §7.3.1.4);
 * - in-progress ← waiting (a check is sent, §6.1.4.2);
 * - succeeded ← in-progress (§7.2.5.3), ← waiting (late response to a cancelled check, §7.3.1.4);
 * - failed ← in-progress (timeout, error response, asymmetric addresses, §7.2.5.2).
 */
export const PAIR_PREDECESSORS: Record<PairState, readonly PairState[]> = {
  frozen: [],
  waiting: ['frozen', 'in-progress', 'failed'],
  'in-progress': ['waiting'],
  // A late response to a check cancelled by a triggered check (§7.3.1.4) may arrive while the
  // pair waits for the new one: it counts (waiting -> succeeded).
  succeeded: ['in-progress', 'waiting'],
  failed: ['in-progress'],
};

/**
 * Nomination state of a pair (RFC 8445 §8.1):
 * - `none`: not nominated, nothing pending;
 * - `requested`: (controlled) USE-CANDIDATE arrived on this check-list pair before our own check on
 *   it succeeded; the valid pair it produces is nominated then (§7.3.1.5);
 * - `pending`: (controlling) a check with USE-CANDIDATE on this valid pair is queued or in flight;
 * - `nominated`: the nominated flag is set (§7.2.5.3.4, §7.3.1.5);
 * - `failed`: (controlling) the USE-CANDIDATE check on it failed: it is not nominated again.
 */
export type NominationState = 'none' | 'requested' | 'pending' | 'nominated' | 'failed';

let nextPairId = 1;

export class CandidatePair {
  /** Unique, for logs and maps. */
  readonly id = nextPairId++;
  private current: PairState = 'frozen';
  priority: bigint;
  /** On the valid list (§7.2.5.3.2). */
  valid = false;
  /** The valid pair this pair's successful check produced (§7.2.5.3.2); may be itself. */
  validPair?: CandidatePair;
  /**
   * Where this pair stands in nomination (RFC 8445 §8.1): one state, owned and changed by the
   * CheckList only (`CheckList.nominationTransition`). See `NominationState`.
   */
  nomination: NominationState = 'none';
  /**
   * Order in which pairs became nominated (a CheckList-wide counter): the selected pair of a
   * component is its most recently nominated pair (see CheckList.selected).
   */
  nominatedSeq = 0;

  /**
   * @param local the local candidate (host or relay for check-list pairs; may be peer-reflexive for valid pairs)
   * @param remote the remote candidate
   * @param base the local candidate whose socket sends the checks (the local candidate's base)
   */
  constructor(readonly local: Candidate, readonly remote: Candidate, role: IceRole, readonly base: Candidate = local) {
    if (local.component !== remote.component) throw new RangeError(`pair components differ: ${local.component} vs ${remote.component}`);
    this.priority = pairPriorityFor(role, local, remote);
  }

  /**
   * A valid pair that is not on the check list (RFC 8445 §7.2.5.3.2: its local candidate is
   * one the check discovered). It is never checked itself, so it starts out 'succeeded',
   * the state of the check that produced it.
   */
  static discovered(local: Candidate, remote: Candidate, role: IceRole, base: Candidate): CandidatePair {
    const pair = new CandidatePair(local, remote, role, base);
    pair.current = 'succeeded';
    return pair;
  }

  get state(): PairState { return this.current; }
  /** RFC 8445 §8.1.1: the nominated flag. */
  get nominated(): boolean { return this.nomination === 'nominated'; }
  get component(): number { return this.local.component; }
  /** RFC 8445 §6.1.2.6: the pair foundation is the local and remote foundations together. */
  get foundation(): string { return `${this.local.foundation}:${this.remote.foundation}`; }

  /** Moves to `to`. @throws StateError when `to` does not allow the current state as predecessor. */
  transition(to: PairState): void {
    if (!PAIR_PREDECESSORS[to].includes(this.current)) {
      throw new StateError(`pair ${this.describe()}: illegal transition ${this.current} -> ${to}`);
    }
    this.current = to;
  }

  canTransition(to: PairState): boolean {
    return PAIR_PREDECESSORS[to].includes(this.current);
  }

  recomputePriority(role: IceRole): void {
    this.priority = pairPriorityFor(role, this.local, this.remote);
  }

  info(): CandidatePairInfo {
    return { local: { ...this.local }, remote: { ...this.remote }, priority: this.priority, state: this.current, nominated: this.nominated, component: this.component };
  }

  describe(): string {
    return `#${this.id} c${this.component} ${describeCandidate(this.local)} -> ${describeCandidate(this.remote)}`;
  }
}

/** Sort comparator: higher priority first, then older pair first (stable). */
export function byPriorityDescending(a: CandidatePair, b: CandidatePair): number {
  if (a.priority !== b.priority) return a.priority > b.priority ? -1 : 1;
  return a.id - b.id;
}
