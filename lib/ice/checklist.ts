import { familyOf, sameAddress } from '../net/socket.js';
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

export class CheckList {
  private list: CandidatePair[] = [];
  /** Valid pairs whose local candidate was discovered by a check (not on the check list). */
  private discovered: CandidatePair[] = [];
  private queue: ScheduledCheck[] = [];
  private currentRole: IceRole;
  private unfrozen = false;
  readonly components: number;
  readonly maxPairs: number;

  constructor(opts: CheckListOptions) {
    this.currentRole = opts.role;
    this.components = opts.components;
    this.maxPairs = opts.maxPairs ?? 100;
  }

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
    if (this.list.length >= this.maxPairs) {
      // §6.1.2.5: drop the lowest-priority frozen pair if the new one beats it, else refuse.
      const candidate = new CandidatePair(base, remote, this.currentRole);
      const victim = [...this.list].reverse().find((p) => p.state === 'frozen');
      if (!victim || victim.priority >= candidate.priority) return undefined;
      this.list = this.list.filter((p) => p !== victim);
      return { pair: this.insert(candidate), added: true };
    }
    const pair = new CandidatePair(base, remote, this.currentRole);
    return { pair: this.insert(pair), added: true };
  }

  /** Pairs every local candidate with every remote one (§6.1.2.2) and prunes (§6.1.2.4). Returns the new pairs. */
  formPairs(locals: readonly Candidate[], remotes: readonly Candidate[], baseOf?: (c: Candidate) => Candidate | undefined): CandidatePair[] {
    const added: CandidatePair[] = [];
    for (const l of locals) for (const r of remotes) {
      const res = this.addPair(l, r, baseOf);
      if (res?.added) added.push(res.pair);
    }
    return added;
  }

  private insert(pair: CandidatePair): CandidatePair {
    this.list.push(pair);
    this.list.sort(byPriorityDescending);
    if (this.unfrozen) {
      // Added after checks began: if its foundation already succeeded, it may run at once
      // (§7.2.5.3.3); otherwise it waits for §6.1.4.2 step 2.
      if (this.list.some((p) => p !== pair && p.foundation === pair.foundation && p.state === 'succeeded')) pair.transition('waiting');
    }
    return pair;
  }

  /** The check-list pair with this base (local) transport address and remote transport address. */
  find(local: { address: string; port: number; component: number }, remote: { address: string; port: number }): CandidatePair | undefined {
    return this.list.find((p) => p.component === local.component && sameAddress(p.base, local) && sameAddress(p.remote, remote));
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
        if (entry.pair.valid) return entry;
        entry.pair.nominating = false;
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
   * Succeeded → nothing; In-Progress → the in-flight check stands, retried once should it
   * time out; Waiting/Frozen/Failed → Waiting and queued. Returns whether a check was queued.
   */
  trigger(pair: CandidatePair): boolean {
    switch (pair.state) {
      case 'succeeded':
        return false;
      case 'in-progress':
        pair.retriggerOnFailure = true;
        return false;
      default:
        if (pair.state !== 'waiting') pair.transition('waiting');
        if (!this.queue.some((e) => e.pair === pair && !e.nominate)) this.queue.push({ pair, nominate: false, triggered: true });
        return true;
    }
  }

  /** Queues a check with USE-CANDIDATE on a valid pair (§8.1.1, controlling agent). */
  queueNomination(validPair: CandidatePair): void {
    if (!validPair.valid) throw new RangeError(`pair ${validPair.describe()} is not valid: cannot nominate`);
    if (validPair.nominating) return;
    validPair.nominating = true;
    this.queue.push({ pair: validPair, nominate: true, triggered: true });
  }

  /**
   * RFC 8445 §7.2.5.3: the check on `pair` succeeded and its XOR-MAPPED-ADDRESS is `mappedLocal`
   * (the base itself, another known local candidate or a new peer-reflexive one).
   * Builds the valid pair (§7.2.5.3.2), unfreezes pairs of the same foundation (§7.2.5.3.3).
   */
  checkSucceeded(pair: CandidatePair, mappedLocal: Candidate): CandidatePair {
    pair.transition('succeeded');
    pair.retriggerOnFailure = false;
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
    for (const p of this.list) if (p.state === 'frozen' && p.foundation === pair.foundation) p.transition('waiting');
    return valid;
  }

  /**
   * The check on `pair` failed (timeout, error, asymmetric addresses: §7.2.5.2). A pair
   * with a pending triggered re-check (§7.3.1.4) is queued again instead; returns whether it was.
   */
  checkFailed(pair: CandidatePair): boolean {
    if (pair.retriggerOnFailure) {
      pair.retriggerOnFailure = false;
      pair.transition('waiting');
      this.queue.push({ pair, nominate: false, triggered: true });
      return true;
    }
    pair.transition('failed');
    return false;
  }

  /** RFC 8445 §7.2.5.1: after a 487 the pair goes back to Waiting and into the triggered queue. */
  retry(pair: CandidatePair): void {
    pair.transition('waiting');
    this.queue.push({ pair, nominate: false, triggered: true });
  }

  /** RFC 8445 §7.2.5.1 / §7.3.1.1: a role switch recomputes every pair priority. */
  setRole(role: IceRole): void {
    this.currentRole = role;
    for (const p of [...this.list, ...this.discovered]) p.recomputePriority(role);
    this.list.sort(byPriorityDescending);
  }

  /** Sets the nominated flag on a valid pair (§7.2.5.3.4, §7.3.1.5). */
  nominate(validPair: CandidatePair): void {
    if (!validPair.valid) throw new RangeError(`pair ${validPair.describe()} is not valid: cannot nominate`);
    validPair.nominated = true;
    validPair.nominating = false;
  }

  /** Highest-priority nominated pair of the component: the selected pair (§8.1.1). */
  nominated(component: number): CandidatePair | undefined {
    return this.validList(component).find((p) => p.nominated);
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
    this.list = this.list.filter((p) => p.component !== component || (p.state !== 'frozen' && p.state !== 'waiting'));
    this.queue = this.queue.filter((e) => e.pair.component !== component);
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
   */
  get state(): CheckListState {
    let allNominated = true;
    for (let c = 1; c <= this.components; c++) if (!this.nominated(c)) allNominated = false;
    if (allNominated) return 'completed';
    if (this.list.length === 0 || this.pendingCount() > 0) return 'running';
    for (let c = 1; c <= this.components; c++) if (!this.bestValid(c)) return 'failed';
    return 'running';
  }
}
