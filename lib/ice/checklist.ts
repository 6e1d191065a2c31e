import { familyOf, sameAddress } from '../net/socket.js';
import { transportAddressKey } from '../base/address.js';
import type { Candidate } from './candidate.js';
import { byPriorityDescending, CandidatePair, type IceRole } from './candidate-pair.js';

/**
 * The check list of one data stream (RFC 8445 §6.1.2): pairs ordered by priority, the
 * triggered-check queue, the valid list and nomination bookkeeping. Pure: no sockets,
 * no timers. The agent asks `nextCheck()` once per Ta and reports each check's outcome.
 */
export type CheckListState = 'running' | 'completed' | 'failed';

export interface ScheduledCheck {
  pair: CandidatePair;
  /** Send USE-CANDIDATE (controlling agent, regular nomination, RFC 8445 §8.1.1). */
  nominate: boolean;
  /** Came from the triggered-check queue (§6.1.4.2 step 1). */
  triggered: boolean;
}

export interface CheckListOptions {
  role: IceRole;
  /** Component IDs 1..components. */
  components: number;
  /** RFC 8445 §6.1.2.5 limit on the number of pairs; default 100. */
  maxPairs?: number;
  /**
   * Trickle ICE (RFC 8838): pairs formed after checks began follow RFC 8838 §10 (see `insert`), and
   * while this returns true (end-of-candidates not yet received from the peer, or our own
   * gathering not finished) the check list is never Failed (RFC 8838 §8). Default: not trickle.
   */
  awaitingCandidates?: () => boolean;
  /**
   * Which nominated pair is selected: 'latest' (default; see `selected`) or 'highest-priority', the
   * rule of aggressive nomination (RFC 5245 §8.1.1.2, RFC 8445 Appendix B), where several pairs of
   * a component get nominated and both agents must settle on the same one.
   */
  selection?: 'latest' | 'highest-priority';
}

/** RFC 8445 §6.1.2.2: candidates pair when component, transport and IP address family agree. */
export function canPair(local: Candidate, remote: Candidate): boolean {
  if (local.component !== remote.component || local.transport !== remote.transport) return false;
  if (familyOf(local.address) !== familyOf(remote.address)) return false;
  // An IPv6 link-local local candidate pairs only with a link-local remote one (and vice versa).
  const ll = (a: string) => /^fe[89ab][0-9a-f]:/i.test(a);
  return ll(local.address) === ll(remote.address);
}

function sameCandidateAddress(a: Candidate, b: Candidate): boolean {
  return a.component === b.component && a.transport === b.transport && sameAddress(a, b);
}

/** Map key of a check-list pair: component, base transport address, remote transport address. */
function pairKey(component: number, base: { address: string; port: number }, remote: { address: string; port: number }): string {
  return `${component}|${transportAddressKey(base)}|${transportAddressKey(remote)}`;
}

/** What `CheckList.trigger` did (RFC 8445 §7.3.1.4). */
export type TriggerResult =
  /** Nothing: the pair already succeeded. */
  | 'none'
  /** Queued a triggered check (the pair was Frozen, Waiting or Failed). */
  | 'queued'
  /** The pair was In-Progress: the agent MUST cancel that transaction's retransmissions; a new check is queued. */
  | 'cancel-in-progress';

export class CheckList {
  private list: CandidatePair[] = [];
  /** The check list indexed by `pairKey` (§6.1.2.4 redundancy and `find` in O(1)). */
  private readonly index = new Map<string, CandidatePair>();
  /** Valid pairs whose local candidate was discovered by a check (not on the check list). */
  private discovered: CandidatePair[] = [];
  /** Counter behind `CandidatePair.nominatedSeq`. */
  private nominationSeq = 0;
  private queue: ScheduledCheck[] = [];
  private currentRole: IceRole;
  private unfrozen = false;
  readonly components: number;
  readonly maxPairs: number;
  private readonly awaitingCandidates?: () => boolean;
  readonly selection: 'latest' | 'highest-priority';

  constructor(opts: CheckListOptions) {
    this.selection = opts.selection ?? 'latest';
    this.currentRole = opts.role;
    this.components = opts.components;
    this.maxPairs = opts.maxPairs ?? 100;
    this.awaitingCandidates = opts.awaitingCandidates;
  }

  /** Whether this check list follows trickle ICE rules (RFC 8838). */
  get trickle(): boolean { return this.awaitingCandidates !== undefined; }

  get role(): IceRole { return this.currentRole; }
  /** Check-list pairs, highest priority first. */
  get pairs(): readonly CandidatePair[] { return this.list; }
  /** Check-list pairs and discovered valid pairs. */
  allPairs(): CandidatePair[] { return [...this.list, ...this.discovered].sort(byPriorityDescending); }
  /** RFC 8445 §7.2.5.3.2 valid list, highest priority first. */
  validList(component?: number): CandidatePair[] {
    return this.allPairs().filter((p) => p.valid && (component === undefined || p.component === component));
  }
  /** Whether initial unfreezing (§6.1.2.6) has happened: pairs added later follow §6.1.4.2. */
  get started(): boolean { return this.unfrozen; }
  get triggeredQueueLength(): number { return this.queue.length; }

  /**
   * RFC 8445 §6.1.2.4: adds the pair (local, remote) unless it is redundant. A server-
   * reflexive local candidate is replaced by its base (`baseOf`), so a pair whose base and
   * remote candidate match an existing pair is not added; the existing pair is returned.
   * Returns undefined when the two cannot pair or the list is full (§6.1.2.5).
   */
  addPair(local: Candidate, remote: Candidate, baseOf: (c: Candidate) => Candidate | undefined = (c) => c): { pair: CandidatePair; added: boolean } | undefined {
    const base = local.type === 'srflx' || local.type === 'prflx' ? baseOf(local) : local;
    if (!base || !canPair(base, remote)) return undefined;
    const existing = this.find(base, remote);
    if (existing) return { pair: existing, added: false };
    const pair = new CandidatePair(base, remote, this.currentRole);
    if (this.list.length >= this.maxPairs) {
      // §6.1.2.5: drop the lowest-priority frozen pair if the new one beats it, else refuse.
      let victim: CandidatePair | undefined;
      for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i].state === 'frozen') { victim = this.list[i]; break; }
      if (!victim || victim.priority >= pair.priority) return undefined;
      this.remove(victim);
    }
    return { pair: this.insert(pair), added: true };
  }

  /**
   * Pairs every local candidate with every remote one (§6.1.2.2) and prunes (§6.1.2.4). Returns
   * the new pairs. O(locals x remotes): for a candidate added later use `pairNewRemote` /
   * `pairNewLocal`, which cost O(locals) or O(remotes).
   */
  formPairs(locals: readonly Candidate[], remotes: readonly Candidate[], baseOf?: (c: Candidate) => Candidate | undefined): CandidatePair[] {
    const added: CandidatePair[] = [];
    for (const l of locals) for (const r of remotes) {
      const res = this.addPair(l, r, baseOf);
      if (res?.added) added.push(res.pair);
    }
    return added;
  }

  /** Pairs one new remote candidate with the local ones (§6.1.2.2). Returns the new pairs. */
  pairNewRemote(remote: Candidate, locals: readonly Candidate[], baseOf?: (c: Candidate) => Candidate | undefined): CandidatePair[] {
    return this.formPairs(locals, [remote], baseOf);
  }

  /** Pairs one new local candidate with the remote ones (§6.1.2.2). Returns the new pairs. */
  pairNewLocal(local: Candidate, remotes: readonly Candidate[], baseOf?: (c: Candidate) => Candidate | undefined): CandidatePair[] {
    return this.formPairs([local], remotes, baseOf);
  }

  /** Inserts in priority order (binary search; equal priorities keep insertion order). */
  private insert(pair: CandidatePair): CandidatePair {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byPriorityDescending(this.list[mid], pair) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.list.splice(lo, 0, pair);
    this.index.set(pairKey(pair.component, pair.base, pair.remote), pair);
    if (this.unfrozen) {
      // Added after checks began: if its foundation already succeeded, it may run at once
      // (§7.2.5.3.3); otherwise it waits for §6.1.4.2 step 2.
      const sameFoundation = this.list.filter((p) => p !== pair && p.foundation === pair.foundation);
      if (sameFoundation.some((p) => p.state === 'succeeded')) pair.transition('waiting');
      // RFC 8838 §10 (trickled pairs): a pair whose foundation has no pair Waiting or In-Progress
      // is Waiting at once (it is that foundation's first check, as §6.1.2.6 would have made it);
      // otherwise Frozen, unfrozen when its foundation's check succeeds.
      else if (this.trickle && !sameFoundation.some((p) => p.state === 'waiting' || p.state === 'in-progress')) pair.transition('waiting');
    }
    return pair;
  }

  private remove(pair: CandidatePair): void {
    this.list = this.list.filter((p) => p !== pair);
    this.index.delete(pairKey(pair.component, pair.base, pair.remote));
  }

  /** The check-list pair with this base (local) transport address and remote transport address. */
  find(local: { address: string; port: number; component: number }, remote: { address: string; port: number }): CandidatePair | undefined {
    return this.index.get(pairKey(local.component, local, remote));
  }

  /**
   * RFC 8445 §6.1.2.6 initial states: for each foundation, the pair with the lowest component
   * ID (then the highest priority) goes to Waiting; the rest stay Frozen.
   */
  unfreezeInitial(): void {
    this.unfrozen = true;
    const chosen = new Map<string, CandidatePair>();
    for (const p of this.list) {
      if (p.state !== 'frozen') continue;
      const cur = chosen.get(p.foundation);
      if (!cur || p.component < cur.component || (p.component === cur.component && p.priority > cur.priority)) chosen.set(p.foundation, p);
    }
    // A foundation with a pair already waiting or in progress (a triggered check before start) stays as is.
    for (const [foundation, p] of chosen) {
      if (this.list.some((q) => q.foundation === foundation && (q.state === 'waiting' || q.state === 'in-progress' || q.state === 'succeeded'))) continue;
      p.transition('waiting');
    }
  }

  /**
   * RFC 8445 §6.1.4.2, one Ta tick:
   * 1. the triggered-check queue first;
   * 2. with no Waiting pair, unfreeze, per foundation with no Waiting or In-Progress pair, its best Frozen pair;
   * 3. the highest-priority Waiting pair.
   * The returned pair has been moved to In-Progress (a nomination check on a succeeded pair keeps its state).
   * Undefined when there is nothing to check (the agent stops its timer).
   */
  nextCheck(): ScheduledCheck | undefined {
    while (this.queue.length > 0) {
      const entry = this.queue.shift()!;
      if (entry.nominate) {
        if (entry.pair.valid && entry.pair.nomination === 'pending') return entry;
        if (entry.pair.nomination === 'pending') entry.pair.nomination = 'none';
        continue;
      }
      if (entry.pair.state !== 'waiting') continue;
      entry.pair.transition('in-progress');
      return entry;
    }
    if (!this.unfrozen) return undefined;
    if (!this.list.some((p) => p.state === 'waiting')) {
      const byFoundation = new Map<string, CandidatePair>();
      for (const p of this.list) {
        if (p.state !== 'frozen') continue;
        const cur = byFoundation.get(p.foundation);
        if (!cur || p.component < cur.component || (p.component === cur.component && p.priority > cur.priority)) byFoundation.set(p.foundation, p);
      }
      for (const [foundation, p] of byFoundation) {
        if (this.list.some((q) => q.foundation === foundation && (q.state === 'waiting' || q.state === 'in-progress'))) continue;
        p.transition('waiting');
      }
    }
    const next = this.list.find((p) => p.state === 'waiting');
    if (!next) return undefined;
    next.transition('in-progress');
    return { pair: next, nominate: false, triggered: false };
  }

  /**
   * RFC 8445 §7.3.1.4 triggered check for a pair an incoming check arrived on:
   * - Succeeded: nothing;
   * - In-Progress: "the ICE agent MUST generate a new connectivity check for the pair": the pair
   *   goes back to Waiting and into the triggered-check queue, and the caller cancels the
   *   in-progress transaction's retransmissions (a late response to it still counts);
   * - Waiting, Frozen, Failed: Waiting and queued.
   */
  trigger(pair: CandidatePair): TriggerResult {
    if (pair.state === 'succeeded') return 'none';
    const wasInProgress = pair.state === 'in-progress';
    if (pair.state !== 'waiting') pair.transition('waiting');
    if (!this.queue.some((e) => e.pair === pair && !e.nominate)) this.queue.push({ pair, nominate: false, triggered: true });
    return wasInProgress ? 'cancel-in-progress' : 'queued';
  }

  /** Queues a check with USE-CANDIDATE on a valid pair (§8.1.1, controlling agent). */
  queueNomination(validPair: CandidatePair): void {
    if (!validPair.valid) throw new RangeError(`pair ${validPair.describe()} is not valid: cannot nominate`);
    if (validPair.nomination === 'pending' || validPair.nomination === 'nominated') return;
    validPair.nomination = 'pending';
    this.queue.push({ pair: validPair, nominate: true, triggered: true });
  }

  /** (controlling) The USE-CANDIDATE check on `validPair` succeeded (§7.2.5.3.4). */
  nominationSucceeded(validPair: CandidatePair): void {
    this.nominate(validPair);
  }

  /** (controlling) The USE-CANDIDATE check on `validPair` failed: it is not nominated again (§8.1.1). */
  nominationFailed(validPair: CandidatePair): void {
    if (validPair.nomination !== 'nominated') validPair.nomination = 'failed';
  }

  /** (controlling) A queued or in-flight nomination was dropped (role change, restart): back to none. */
  nominationAbandoned(validPair: CandidatePair): void {
    if (validPair.nomination === 'pending') validPair.nomination = 'none';
  }

  /**
   * (controlled) RFC 8445 §7.3.1.5: a check with USE-CANDIDATE arrived on `pair`. When its own
   * check already succeeded, the valid pair it produced is nominated now; otherwise once it succeeds.
   * @returns the pair nominated now, if any
   */
  requestNomination(pair: CandidatePair): CandidatePair | undefined {
    if (pair.state === 'succeeded' && pair.validPair) {
      const valid = pair.validPair;
      // Re-nominating the selected pair changes nothing; a different pair becomes the latest nomination.
      if (valid.nominated && this.selected(valid.component) === valid) return undefined;
      this.nominate(valid);
      return valid;
    }
    if (pair.nomination !== 'nominated') pair.nomination = 'requested';
    return undefined;
  }

  /**
   * RFC 8445 §7.3.1.5 for a lite agent (and §8.2): the pair (local host candidate the request
   * arrived on, remote = its source) is valid and nominated at once. Returns that valid pair.
   */
  addNominatedPair(local: Candidate, remote: Candidate): CandidatePair {
    let pair = this.discovered.find((p) => sameCandidateAddress(p.local, local) && sameAddress(p.remote, remote));
    if (!pair) {
      pair = CandidatePair.discovered(local, remote, this.currentRole, local);
      pair.valid = true;
      pair.validPair = pair;
      this.discovered.push(pair);
    }
    if (!(pair.nominated && this.selected(pair.component) === pair)) this.nominate(pair);
    return pair;
  }

  /**
   * RFC 8445 §7.2.5.3: the check on `pair` succeeded and its XOR-MAPPED-ADDRESS is `mappedLocal`
   * (the base itself, another known local candidate or a new peer-reflexive one).
   * Builds the valid pair (§7.2.5.3.2), unfreezes pairs of the same foundation (§7.2.5.3.3).
   */
  checkSucceeded(pair: CandidatePair, mappedLocal: Candidate): CandidatePair {
    pair.transition('succeeded');
    let valid: CandidatePair | undefined;
    if (sameCandidateAddress(mappedLocal, pair.local)) valid = pair;
    else {
      valid = this.list.find((p) => sameCandidateAddress(p.local, mappedLocal) && sameAddress(p.remote, pair.remote))
        ?? this.discovered.find((p) => sameCandidateAddress(p.local, mappedLocal) && sameAddress(p.remote, pair.remote));
      if (!valid) {
        valid = CandidatePair.discovered(mappedLocal, pair.remote, this.currentRole, pair.base);
        this.discovered.push(valid);
      }
    }
    valid.valid = true;
    pair.validPair = valid;
    // RFC 8445 §7.3.1.5: USE-CANDIDATE arrived before this check succeeded.
    if (pair.nomination === 'requested') {
      if (valid !== pair) pair.nomination = 'none';
      this.nominate(valid);
    }
    for (const p of this.list) if (p.state === 'frozen' && p.foundation === pair.foundation) p.transition('waiting');
    return valid;
  }

  /** The check on `pair` failed (timeout, error, asymmetric addresses: §7.2.5.2). */
  checkFailed(pair: CandidatePair): void {
    pair.transition('failed');
  }

  /** RFC 8445 §7.2.5.1: after a 487 the pair goes back to Waiting and into the triggered queue. */
  retry(pair: CandidatePair): void {
    pair.transition('waiting');
    this.queue.push({ pair, nominate: false, triggered: true });
  }

  /** RFC 8445 §7.2.5.1 / §7.3.1.1: a role switch recomputes every pair priority. */
  setRole(role: IceRole): void {
    this.currentRole = role;
    this.recomputePriorities();
  }

  /**
   * A remote candidate's priority changed (a peer-reflexive candidate, learned from a check that
   * arrived before the peer's description, turned out to be a signalled one: it takes the
   * signalled priority, RFC 8445 §7.3.1.3): the pairs using it get their §6.1.2.3 priority again
   * and the check list its order, so that nomination compares the pairs by what the peer said.
   */
  remoteCandidateUpdated(remote: Candidate): void {
    if (![...this.list, ...this.discovered].some((p) => p.remote === remote)) return;
    this.recomputePriorities();
  }

  private recomputePriorities(): void {
    for (const p of [...this.list, ...this.discovered]) p.recomputePriority(this.currentRole);
    this.list.sort(byPriorityDescending);
  }

  /** Sets the nominated flag on a valid pair (§7.2.5.3.4, §7.3.1.5); it becomes the component's latest nomination. */
  nominate(validPair: CandidatePair): void {
    if (!validPair.valid) throw new RangeError(`pair ${validPair.describe()} is not valid: cannot nominate`);
    validPair.nomination = 'nominated';
    validPair.nominatedSeq = ++this.nominationSeq;
  }

  /**
   * The selected pair of a component: its most recently nominated valid pair.
   * RFC 8445 §8.1.1 has the agents use the highest-priority nominated pair when several are
   * nominated. A controlling agent nominates a second pair only after the USE-CANDIDATE check on
   * the first failed, and when that failure was lost responses (the controlled side did get the
   * request) the highest-priority rule leaves the two ends on different pairs for good. The latest
   * nomination is the one both ends know of, so it is the one selected here, on both roles.
   */
  selected(component: number): CandidatePair | undefined {
    let best: CandidatePair | undefined;
    for (const p of [...this.list, ...this.discovered]) {
      if (p.component !== component || !p.valid || !p.nominated) continue;
      if (this.selection === 'highest-priority') {
        if (!best || p.priority > best.priority) best = p;
      } else if (!best || p.nominatedSeq > best.nominatedSeq) best = p;
    }
    return best;
  }

  /** Alias of `selected` (the nominated pair in use). */
  nominated(component: number): CandidatePair | undefined {
    return this.selected(component);
  }

  /** Highest-priority valid pair of the component. */
  bestValid(component: number): CandidatePair | undefined {
    return this.validList(component)[0];
  }

  /**
   * RFC 8445 §8.1.2 once a component has a nominated pair: its Frozen and Waiting pairs leave
   * the check list and the triggered queue. Returns its In-Progress pairs of lower priority
   * than the nominated one, whose retransmissions the agent stops.
   */
  concludeComponent(component: number): CandidatePair[] {
    const chosen = this.nominated(component);
    if (!chosen) return [];
    for (const p of this.list) if (p.component === component && (p.state === 'frozen' || p.state === 'waiting')) this.index.delete(pairKey(p.component, p.base, p.remote));
    this.list = this.list.filter((p) => p.component !== component || (p.state !== 'frozen' && p.state !== 'waiting'));
    this.queue = this.queue.filter((e) => e.pair.component !== component || (e.nominate && e.pair === chosen));
    return this.list.filter((p) => p.component === component && p.state === 'in-progress' && p.priority < chosen.priority);
  }

  /** Pairs still to be checked or being checked. */
  pendingCount(): number {
    return this.queue.length + this.list.filter((p) => p.state === 'waiting' || p.state === 'in-progress' || p.state === 'frozen').length;
  }

  inProgressCount(): number {
    return this.list.filter((p) => p.state === 'in-progress').length;
  }

  /**
   * Check-list state: Completed when every component has a nominated pair (§8.1.2); Failed
   * when every pair is Succeeded or Failed, nothing is queued and some component has no
   * valid pair (§7.2.5.3.3; an empty list is not failed: candidates may still come); else Running.
   * Trickle ICE (RFC 8838 §8): not Failed while candidates may still come from either side
   * (`awaitingCandidates`); a Failed list whose new pair arrives is Running again.
   */
  get state(): CheckListState {
    let allNominated = true;
    for (let c = 1; c <= this.components; c++) if (!this.nominated(c)) allNominated = false;
    if (allNominated) return 'completed';
    if (this.list.length === 0 || this.pendingCount() > 0) return 'running';
    if (this.awaitingCandidates?.()) return 'running';
    for (let c = 1; c <= this.components; c++) if (!this.bestValid(c)) return 'failed';
    return 'running';
  }
}
