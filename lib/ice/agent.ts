import { randomInt } from 'node:crypto';
import { randomUint64 } from '../base/random.js';
import { afterPendingInput, systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { StateError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { redact, silentLogger, type Logger } from '../base/log.js';
import { normalizeAddress, transportAddressKey } from '../base/address.js';
import { formatAddress, sameAddress, type PacketSocket, type TransportAddress } from '../net/socket.js';
import { StunMessage } from '../stun/message.js';
import { StunTransactionManager } from '../stun/transaction.js';
import { computePriority, describeCandidate, type Candidate, type CandidateType } from './candidate.js';
import type { CandidatePair, CandidatePairInfo, IceRole } from './candidate-pair.js';
import { CheckList, type ScheduledCheck } from './checklist.js';
import { CheckResponder } from './check-responder.js';
import { ErrorResponseLimiter, type ErrorResponseLimits } from '../stun/error-response-limiter.js';
import { CheckSender, type CheckRecord, type CheckResult } from './check-sender.js';
import { ICE_CHARS, encodeKeepalive, judgeCheckResponse } from './connectivity-check.js';
import { ConsentFreshness } from './consent.js';
import { FoundationRegistry, type IceServer, type LocalBase } from './gatherer.js';
import { LocalBases, type SharedBases } from './local-bases.js';
import { RegularNomination } from './nomination.js';
import type { RelayResult, TurnServer } from './relay.js';

/**
 * The ICE agent (RFC 8445; full or lite, UDP, one data stream with 1 or 2 components): roles,
 * state and selection, on top of
 * - `LocalBases` (sockets, demultiplexing, TURN sharing, gathering),
 * - `CheckList` (pure: pairs, their states, nomination state, the valid list, the selected pair),
 * - `CheckSender` (check transactions, RTO, §7.3.1.4 cancellation) and `CheckResponder` (§7.3),
 * - `RegularNomination` (pure, §8.1.1) and `ConsentFreshness` (RFC 7675 and §11 keepalives).
 */
export type { IceRole, CandidatePairInfo } from './candidate-pair.js';
export { pairPriority } from './candidate-pair.js';
export type { IceServer } from './gatherer.js';

export type { TurnServer, RelayResult } from './relay.js';

export type { StunInterceptor, SharedBases } from './local-bases.js';

export type IceState = 'new' | 'gathering' | 'checking' | 'connected' | 'completed' | 'failed' | 'closed';

export interface IceAgentOptions {
  role: IceRole;
  /** 1 (rtcp-mux) or 2. */
  components: number;
  /**
   * A lite agent (RFC 8445 §2.5, §8.2): host candidates only, no checks of its own, answers
   * checks and takes the pairs the full peer nominates. Its role is always controlled
   * (§6.1.1); `role` is ignored. Default false (full).
   */
  lite?: boolean;
  clock?: Clock;
  log?: Logger;
  /**
   * Rate limit for error responses to checks that did not authenticate (400/401), per source address
   * and overall; defaults in DEFAULT_ERROR_RESPONSE_LIMITS (4 at once and 2/s per source, 20 and 10/s in all).
   */
  errorResponseLimits?: Partial<ErrorResponseLimits>;
  /** Restrict host candidates to these local IPs; default every usable interface (lib/net/interfaces.ts). */
  addresses?: string[];
  /** Also gather on loopback when no `addresses` given. */
  includeLoopback?: boolean;
  /** Server-reflexive candidates: Binding request, RTO 500 ms, 3 sends, gives up after 2.5 s. Not for a lite agent. */
  stunServers?: IceServer[];
  /** Pacing Ta (RFC 8445 §14.2), default 50 ms. */
  taMs?: number;
  tieBreaker?: bigint;
  ufrag?: string;
  pwd?: string;
  /** The agent goes 'failed' when some component has no valid pair this long after start(). Default 15000. */
  checkTimeoutMs?: number;
  /** Binding indications when nothing was sent for this long (RFC 8445 §11), where no consent checks run. Default 15000. */
  keepaliveMs?: number;
  /** Consent freshness (RFC 7675) on the pair media uses: default true for a full agent, never for a lite one. */
  consent?: boolean;
  /** Consent check interval, ms, randomised 0.8..1.2 (RFC 7675 §5.1). Default 5000. */
  consentIntervalMs?: number;
  /** Consent lifetime after the last response, ms (RFC 7675 §5.1). Default 30000. */
  consentExpiryMs?: number;
  /** Random source in [0,1) for consent jitter (tests). */
  random?: () => number;
  /** Controlling agent: how long to wait after a component's first valid pair for a better one before nominating. Default 1000. */
  nominationWaitMs?: number;
  /** Rc for connectivity checks (transmissions per check). Default 7 (RFC 8489). */
  checkMaxRequests?: number;
  /** Socket factory (tests); default UdpSocket.bind(address, 0). */
  bindSocket?: (address: string) => Promise<PacketSocket>;
  /** TURN servers in order of preference: one relayed candidate per component from the first that allocates. Not for a lite agent. */
  turnServers?: TurnServer[];
  /** Time one TURN server may take before the next is tried, ms. Default 5000. */
  turnTimeoutMs?: number;
  /** Families of relayed candidates (one allocation per family per component). Default ['IPv4']. */
  turnFamilies?: Array<'IPv4' | 'IPv6'>;
  /**
   * 'relay' signals and checks from relayed candidates only (WebRTC's iceTransportPolicy); host
   * sockets still carry the TURN traffic, and checks arriving on them are dropped. Default 'all'.
   */
  transportPolicy?: 'all' | 'relay';
  /**
   * Trickle ICE (RFC 8838): checks may start while gathering goes on (`start()` once
   * `hostsGathered()` resolved), local candidates found later are paired with the remote ones at
   * once, remote ones may be added to the running agent, and the check list is not Failed before
   * both our gathering finished and the peer's end-of-candidates arrived (`remoteEndOfCandidates()`;
   * RFC 8838 §8). Default false: RFC 8445 rules.
   */
  trickle?: boolean;
  /**
   * 'regular' (default, RFC 8445 §8.1.1): the controlling agent nominates one valid pair per
   * component with a second check. 'aggressive' (RFC 5245 §8.1.1.2, RFC 8445 Appendix B, for peers
   * that expect it): as controlling, USE-CANDIDATE on every check, each pair nominated when its check
   * succeeds; on either role the highest-priority nominated valid pair is selected. A controlled
   * agent nominates on USE-CANDIDATE whatever the setting, so it works with either kind of peer.
   */
  nomination?: 'regular' | 'aggressive';
}

export interface IceAgentEvents {
  candidate: [Candidate];
  'gathering-complete': [];
  state: [IceState];
  'selected-pair': [component: number, pair: CandidatePairInfo];
  data: [component: number, data: Buffer, from: TransportAddress];
  check: [info: { pair: CandidatePairInfo; result: 'sent' | 'succeeded' | 'failed' | 'received' }];
  /** A component's TURN allocation finished (allocated, or every server failed). */
  relay: [RelayResult];
  /** The first valid pair of a component (data may flow on it before selection, RFC 8445 §12.1). */
  'valid-pair': [component: number, pair: CandidatePairInfo];
  /** Consent for the pair media used expired (RFC 7675 §5.1); the agent goes 'failed'. */
  'consent-lost': [component: number, pair: CandidatePairInfo];
  /** The host sockets are bound and their candidates emitted (trickle ICE can signal now, RFC 8838 §5). */
  'hosts-gathered': [];
}

export interface IceAgentStats {
  checksSent: number;
  checksReceived: number;
  responsesReceived: number;
  malformedDropped: number;
  integrityFailures: number;
  roleConflicts: number;
  unauthorized401Sent: number;
  /** Unauthenticated checks left unanswered: the error response rate limit (stun/error-response-limiter.ts) was reached. */
  errorResponsesSuppressed: number;
  /** Unsigned 400/401 responses to our checks, discarded (RFC 8489 §6.3.4). */
  unauthenticatedErrorsDropped: number;
  /** Checks that arrived on a host socket under transport policy 'relay', dropped. */
  policyDropped: number;
  /** Consent checks sent (RFC 7675). */
  consentChecksSent: number;
  /** Media datagrams not sent because consent had expired. */
  sendsBlockedByConsent: number;
  /** RTP/RTCP from an address that is no valid pair's remote on that base (or not the peer's m/c address): dropped. */
  mediaFromStrangers: number;
}

/** Allowed predecessors of each agent state. */
const STATE_PREDECESSORS: Record<IceState, readonly IceState[]> = {
  new: [],
  gathering: ['new'],
  // RFC 8445 §9: an ICE restart runs checks again from any state after gathering (restart()).
  checking: ['gathering', 'connected', 'completed', 'failed'],
  connected: ['checking'],
  completed: ['connected'],
  // Failed during checks, or later when consent expires (RFC 7675 §5.1).
  failed: ['checking', 'connected', 'completed'],
  closed: ['new', 'gathering', 'checking', 'connected', 'completed', 'failed'],
};

function randomIceString(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ICE_CHARS[randomInt(ICE_CHARS.length)];
  return s;
}

function remoteKey(component: number, a: { address: string; port: number }): string {
  return `${component}|${transportAddressKey(a)}`;
}

const TYPE_RANK: Record<CandidateType, number> = { relay: 3, srflx: 2, prflx: 1, host: 0 };

export class IceAgent extends TypedEmitter<IceAgentEvents> {
  /** Our ICE credentials (RFC 8445 §5.3); new ones after restart(). */
  localUfrag: string;
  localPwd: string;
  readonly tieBreaker: bigint;
  /** A lite agent (RFC 8445 §2.5). */
  readonly lite: boolean;
  /** Components in use; lowered by `useComponents()` once offer/answer settles rtcp-mux. */
  components: number;
  /** Host, server-reflexive and relayed candidates (the ones to signal). */
  localCandidates: Candidate[] = [];
  /** defaultCandidate()'s answer per component, with the list (and its length) it was read from. */
  private readonly defaultCandidates = new Map<number, { list: Candidate[]; length: number; candidate: Candidate }>();
  /** Peer-reflexive local candidates learned from XOR-MAPPED-ADDRESS (§7.2.5.3.1); not signalled. */
  readonly peerReflexiveLocal: Candidate[] = [];
  /** Signalled remote candidates and peer-reflexive ones learned from checks (§7.3.1.3). */
  remoteCandidates: Candidate[] = [];
  /** Why the agent went 'failed' (check timeout, every pair failed, consent expired). */
  failureReason?: string;
  readonly stats: IceAgentStats = {
    checksSent: 0, checksReceived: 0, responsesReceived: 0, malformedDropped: 0, integrityFailures: 0, roleConflicts: 0, unauthorized401Sent: 0, errorResponsesSuppressed: 0,
    unauthenticatedErrorsDropped: 0, policyDropped: 0, consentChecksSent: 0, sendsBlockedByConsent: 0, mediaFromStrangers: 0,
  };

  private currentRole: IceRole;
  private currentState: IceState = 'new';
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Releases of the passwords registered for log redaction; run on close() (per-call state). */
  private readonly redactions: Array<() => void> = [];
  private readonly taMs: number;
  private readonly checkTimeoutMs: number;
  private readonly checkMaxRequests: number;
  private readonly transactions: StunTransactionManager;
  private readonly foundations = new FoundationRegistry();
  private readonly localBases: LocalBases;
  private readonly sender: CheckSender;
  private readonly responder: CheckResponder;
  private readonly consent: ConsentFreshness;
  private checklist: CheckList;
  private readonly nomination: RegularNomination;
  private readonly validAnnounced = new Set<number>();
  private readonly remoteIndex = new Map<string, Candidate>();
  private remoteUfrag?: string;
  private remotePwd?: string;
  private started = false;
  private gathered = false;
  private paceTimer?: TimerHandle;
  private lastCheckAt = -Infinity;
  private failTimer?: TimerHandle;
  private nominationTimer?: TimerHandle;
  private readonly selected = new Map<number, CandidatePair>();
  /** After restart(): the pairs selected before it, carrying media until the new checks select others (RFC 8445 §9). */
  private readonly previousSelected = new Map<number, CandidatePair>();
  private restarted = false;
  private readonly lastSentAt = new Map<number, number>();
  private readonly fallback = new Map<number, { address: string; port: number }>();
  private gatherPromise?: Promise<Candidate[]>;
  private hostsPromise?: Promise<void>;
  private hostsResolve?: () => void;
  /** The peer's end-of-candidates arrived for the current ICE generation (RFC 8838 §13). */
  private remoteEnded = false;
  /** Trickle ICE (RFC 8838), see IceAgentOptions.trickle. */
  readonly trickle: boolean;
  /** Host candidates of addresses added after gathering (addHostAddress): their pairs may replace a nominated one. */
  private readonly lateHosts = new Set<Candidate>();
  /**
   * Per component, the pairs of higher priority than the selected one whose checks were still in
   * progress when it was selected (RFC 8445 §8.1.2 lets them run on). Under loss the better pair's
   * first transmissions can be lost until after the nomination wait (lab 9.1.1 with 5% loss picked a
   * relayed path over server-reflexive for that): when one of them then succeeds, the controlling
   * agent nominates it and both ends move to it (the latest nomination is selected, CheckList.selected).
   */
  private readonly outrankingAtSelection = new Map<number, Set<CandidatePair>>();
  private readonly mediaPath = new Map<number, { base: Candidate; remote: { address: string; port: number } }>();
  /** Per component, the peer addresses the a=alt engine verified (`SharedBases.trustMediaFrom`), by transportAddressKey. */
  private readonly altTrusted = new Map<number, Set<string>>();

  constructor(private readonly opts: IceAgentOptions) {
    super();
    if (!Number.isInteger(opts.components) || opts.components < 1 || opts.components > 256) {
      throw new RangeError(`components must be 1..256, got ${opts.components}`);
    }
    this.lite = opts.lite ?? false;
    this.trickle = opts.trickle ?? false;
    this.components = opts.components;
    // RFC 8445 §6.1.1: with one full and one lite agent the full one is controlling; a lite agent never is.
    this.currentRole = this.lite ? 'controlled' : opts.role;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.taMs = opts.taMs ?? 50;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? 15000;
    this.checkMaxRequests = opts.checkMaxRequests ?? 7;
    // RFC 8445 §5.3: ufrag at least 24 bits (4 ice-chars), password at least 128 bits (22 ice-chars).
    this.localUfrag = opts.ufrag ?? randomIceString(8);
    this.localPwd = opts.pwd ?? randomIceString(24);
    this.redactions.push(redact(this.localPwd));
    this.tieBreaker = opts.tieBreaker ?? randomUint64();
    this.transactions = new StunTransactionManager(this.clock);
    this.checklist = this.newCheckList(this.components);
    this.nomination = new RegularNomination(opts.nominationWaitMs ?? 1000);
    this.localBases = new LocalBases({
      components: this.components,
      addresses: opts.addresses,
      includeLoopback: opts.includeLoopback,
      // RFC 8445 §2.5: a lite agent has host candidates only.
      stunServers: this.lite ? undefined : opts.stunServers,
      turnServers: this.lite ? undefined : opts.turnServers,
      turnTimeoutMs: opts.turnTimeoutMs,
      turnFamilies: opts.turnFamilies,
      bindSocket: opts.bindSocket,
      transactions: this.transactions,
      foundations: this.foundations,
      clock: this.clock,
      log: this.log,
    }, {
      stun: (base, msg, from) => this.onStun(base, msg, from),
      data: (component, data, from, base) => this.onData(component, data, from, base),
      malformed: (base, from, reason) => {
        this.stats.malformedDropped++;
        this.log.debug(`dropped datagram from ${formatAddress(from)} on ${formatAddress(base.candidate)}: ${reason}`);
      },
      candidate: (c) => this.addLocalCandidate(c),
      relay: (r) => this.safeEmit('relay', r),
      hostsReady: () => this.onHostsReady(),
    });
    this.sender = new CheckSender(this.transactions, this.clock, this.log, this.stats, (record, result) => this.onCheckResult(record, result));
    this.responder = new CheckResponder(this.stats, this.log, new ErrorResponseLimiter(this.clock, opts.errorResponseLimits));
    const consentChecks = !this.lite && (opts.consent ?? true);
    this.consent = new ConsentFreshness({
      clock: this.clock,
      checks: consentChecks,
      intervalMs: opts.consentIntervalMs,
      expiryMs: opts.consentExpiryMs,
      keepaliveMs: opts.keepaliveMs,
      random: opts.random,
    }, {
      pathOf: (component) => this.currentPath(component),
      sendCheck: (pair) => this.sendConsentCheck(pair),
      sendIndication: (pair) => {
        if (this.localBases.sendFrom(pair.base, encodeKeepalive(), pair.remote)) this.lastSentAt.set(pair.component, this.clock.now());
      },
      lastSentAt: (component) => this.lastSentAt.get(component),
      expired: (component, pair) => this.onConsentExpired(component, pair),
    });
  }

  get role(): IceRole { return this.currentRole; }
  /**
   * Sets the role decided by offer/answer (RFC 8445 §6.1.1); normally before start(). Pair
   * priorities are recomputed. Role conflicts found by checks change it on their own. A lite
   * agent stays controlled.
   */
  set role(role: IceRole) {
    if (role !== 'controlling' && role !== 'controlled') throw new RangeError(`not an ICE role: ${String(role)}`);
    if (this.lite) return;
    this.setRole(role, 'set by caller');
    this.afterCheckUpdate();
  }
  get state(): IceState { return this.currentState; }
  private isClosed(): boolean { return this.currentState === 'closed'; }

  private transition(to: IceState): void {
    if (this.currentState === to) return;
    if (!STATE_PREDECESSORS[to].includes(this.currentState)) throw new StateError(`ICE agent: illegal transition ${this.currentState} -> ${to}`);
    this.log.debug(`state ${this.currentState} -> ${to}`);
    this.currentState = to;
    this.safeEmit('state', to);
  }

  // ---------------------------------------------------------------- gathering

  /**
   * Gathers host candidates (one UDP socket per component per address) and, for a full agent,
   * server-reflexive and relayed ones. From the moment the sockets are bound the agent answers
   * incoming checks.
   * @throws StateError when called in another state than 'new'; Error when no socket could be bound.
   */
  gather(): Promise<Candidate[]> {
    if (this.gatherPromise) return this.gatherPromise;
    if (this.currentState !== 'new') throw new StateError(`gather() in state ${this.currentState}`);
    this.transition('gathering');
    this.gatherPromise = this.doGather();
    return this.gatherPromise;
  }

  private async doGather(): Promise<Candidate[]> {
    try {
      await this.localBases.gather(this.components);
    } finally {
      // Hosts could not be bound (or the agent closed): whoever waits for them goes on.
      this.hostsResolve?.();
    }
    if (this.isClosed()) return [];
    this.gathered = true;
    this.log.debug(`gathering complete: ${this.localCandidates.length} candidate(s)`);
    this.safeEmit('gathering-complete');
    this.formPairs();
    // RFC 8838 §8: our end-of-candidates may decide the check list (Failed, when nothing worked).
    if (this.started) this.afterCheckUpdate();
    return [...this.localCandidates];
  }

  /**
   * Trickle ICE (RFC 8838 §5): resolves once the host sockets are bound and their candidates are
   * in `localCandidates` (an offer or answer can be written then); server-reflexive and relayed
   * candidates follow as 'candidate' events, then 'gathering-complete'. Calls `gather()` if needed.
   * @throws StateError as `gather()`; rejects when no host socket could be bound.
   */
  hostsGathered(): Promise<void> {
    if (!this.hostsPromise) {
      this.hostsPromise = new Promise<void>((resolve) => (this.hostsResolve = resolve));
      if (this.localBases.bases.length > 0) this.hostsResolve!();
    }
    const gathering = this.gather();
    // Failing to bind any host socket rejects the gather promise: surface it here too.
    return Promise.race([this.hostsPromise, gathering.then(() => undefined)]);
  }

  /**
   * A local address that appeared after gathering (an interface added mid-call): host sockets on it
   * for each component, their candidates emitted ('candidate', so trickle ICE signals them, RFC 8838
   * §10) and paired with the remote candidates, checks run without an ICE restart. As the
   * controlling agent with regular nomination, a valid pair from it whose priority beats the
   * selected pair's is nominated, and media moves to it. `localPreference` (RFC 8445 §5.1.2.1)
   * defaults to 65535, above every address gathered at the start.
   * @throws StateError before gathering finished or after close().
   */
  async addHostAddress(address: string, localPreference = 65535): Promise<Candidate[]> {
    if (!this.gathered || this.isClosed() || this.lite) throw new StateError(`addHostAddress() in state ${this.currentState}${this.gathered ? '' : ' before gathering finished'}`);
    const bases = await this.localBases.addHost(normalizeAddress(address), this.components, localPreference);
    for (const b of bases) this.lateHosts.add(b.candidate);
    if (bases.length) this.log.info(`new local address ${address}: ${bases.length} host candidate(s) added`);
    this.afterCheckUpdate();
    return bases.map((b) => b.candidate).filter((c) => this.localCandidates.includes(c));
  }

  /** Whether gathering finished (our end-of-candidates, RFC 8838 §13). */
  get gatheringComplete(): boolean {
    return this.gathered;
  }

  private onHostsReady(): void {
    this.hostsResolve?.();
    if (!this.hostsPromise) this.hostsPromise = Promise.resolve();
    this.safeEmit('hosts-gathered');
  }

  private addLocalCandidate(c: Candidate): void {
    if (this.isClosed()) return;
    if (this.opts.transportPolicy === 'relay' && c.type !== 'relay') {
      this.log.debug(`not offering ${describeCandidate(c)}: transport policy is relay`);
      return;
    }
    // A trickled candidate of a component withdrawn since (rtcp-mux accepted): not used.
    if (c.component > this.components) return;
    this.localCandidates.push(c);
    this.log.debug(`local candidate ${describeCandidate(c)} c${c.component} prio ${c.priority}`);
    // RFC 8838 §10: a candidate found while checks may already run is paired with the remote
    // candidates at once (srflx ones are redundant with their base, RFC 8445 §6.1.2.4).
    if (!this.lite && this.remoteCandidates.length > 0 && this.baseOf(c)) {
      const added = this.checklist.pairNewLocal(c, this.remoteCandidates.filter((r) => r.type !== 'prflx'), (l) => this.baseOf(l)?.candidate);
      if (added.length) {
        this.log.debug(`trickled local ${describeCandidate(c)}: ${added.length} new pair(s)`);
        this.kick();
      }
    }
    this.safeEmit('candidate', c);
  }

  private newCheckList(components: number): CheckList {
    return new CheckList({
      role: this.currentRole,
      components,
      // RFC 8838 §8: not Failed while either side may still add candidates.
      awaitingCandidates: this.trickle ? () => !(this.gathered && this.remoteEnded) : undefined,
      selection: this.opts.nomination === 'aggressive' ? 'highest-priority' : 'latest',
    });
  }

  /**
   * Trickle ICE (RFC 8838 §13, RFC 8840 §4.3 `a=end-of-candidates`): the peer sent all its
   * candidates of the current ICE generation. A peer without trickle support says so implicitly
   * with its description. Idempotent.
   */
  remoteEndOfCandidates(): void {
    if (this.remoteEnded || this.isClosed()) return;
    this.remoteEnded = true;
    this.log.debug('remote end-of-candidates');
    if (this.started) this.afterCheckUpdate();
  }

  /** Whether the peer's end-of-candidates arrived (current ICE generation). */
  get remoteCandidatesComplete(): boolean {
    return this.remoteEnded;
  }

  /**
   * RFC 8445 §5.1.4: the default candidate of a component: relayed if any, else
   * server-reflexive, else host; within a type the highest priority.
   * @throws StateError when the component has no candidate (not gathered yet).
   */
  defaultCandidate(component: number): Candidate {
    // send() asks for it on every packet to a peer without ICE: kept until the local candidates
    // change (they are only appended to, or the list replaced).
    const hit = this.defaultCandidates.get(component);
    if (hit && hit.list === this.localCandidates && hit.length === this.localCandidates.length) return hit.candidate;
    const own = this.localCandidates.filter((c) => c.component === component && c.type !== 'prflx');
    own.sort((a, b) => TYPE_RANK[b.type] - TYPE_RANK[a.type] || b.priority - a.priority);
    if (own.length === 0) throw new StateError(`no local candidate for component ${component} (gather() first)`);
    this.defaultCandidates.set(component, { list: this.localCandidates, length: this.localCandidates.length, candidate: own[0]! });
    return own[0]!;
  }

  private baseOf(c: Candidate): LocalBase | undefined {
    return this.localBases.baseOf(c);
  }

  // ---------------------------------------------------------------- remote side

  /** @throws RangeError on an empty ufrag or password. */
  setRemoteCredentials(ufrag: string, pwd: string): void {
    if (!ufrag || !pwd) throw new RangeError('remote ufrag and pwd must not be empty');
    this.remoteUfrag = ufrag;
    this.remotePwd = pwd;
    this.redactions.push(redact(pwd));
    this.kick();
  }

  /**
   * Adds a signalled remote candidate and pairs it with the local ones (§6.1.2.2, pruning
   * §6.1.2.4), at a cost linear in the number of local candidates.
   */
  addRemoteCandidate(c: Candidate): void {
    if (this.isClosed()) return;
    if (c.component < 1 || c.component > this.components) {
      this.log.debug(`ignoring remote candidate for component ${c.component}`);
      return;
    }
    if (c.transport !== 'udp') {
      this.log.debug(`ignoring remote ${c.transport} candidate ${describeCandidate(c)} (UDP only)`);
      return;
    }
    const key = remoteKey(c.component, c);
    const known = this.remoteIndex.get(key);
    if (known) {
      // A signalled candidate equal to a peer-reflexive one learned earlier: keep the pair, adopt the
      // signalled identity — its priority too, so the pair's priority is the signalled one (a host
      // candidate learned first from the peer's check carries the PRIORITY of a peer-reflexive one,
      // which may tie with the peer's relayed path and let that be nominated first).
      if (known.type === 'prflx' && c.type !== 'prflx') {
        Object.assign(known, { ...c, address: known.address });
        this.checklist.remoteCandidateUpdated(known);
        this.log.debug(`remote peer-reflexive candidate is the signalled ${describeCandidate(known)}`);
      }
      return;
    }
    // Canonical text (lib/base/address.ts), so logs, summaries and comparisons see one spelling.
    const remote: Candidate = { ...c, address: normalizeAddress(c.address) };
    if (c.relatedAddress !== undefined) remote.relatedAddress = normalizeAddress(c.relatedAddress);
    this.remoteCandidates.push(remote);
    this.remoteIndex.set(key, remote);
    // Paired as soon as the host sockets exist (trickle ICE: gathering may still go on, RFC 8838 §10).
    if (this.localBases.bases.length === 0 || this.lite) return;
    const added = this.checklist.pairNewRemote(remote, this.localCandidates, (l) => this.baseOf(l)?.candidate);
    if (added.length) this.kick();
  }

  /** The components the peer gave candidates for (1..n), in order. */
  remoteComponents(): number[] {
    return [...new Set(this.remoteCandidates.filter((c) => c.type !== 'prflx').map((c) => c.component))].sort((a, b) => a - b);
  }

  private formPairs(): void {
    if (this.localBases.bases.length === 0 || this.lite) return;
    const added = this.checklist.formPairs(this.localCandidates, this.remoteCandidates, (c) => this.baseOf(c)?.candidate);
    if (added.length) {
      this.log.debug(`formed ${added.length} pair(s); check list has ${this.checklist.pairs.length}`);
      this.kick();
    }
  }

  // ---------------------------------------------------------------- checks

  /**
   * Drops the components above `count` before checks start: an offer that proposed rtcp-mux
   * (RFC 5761 §5.1.3) still carries component 2 candidates for a peer that declines it, and a
   * peer may give candidates for component 1 only (RTCP off, RFC 8445 §6.1.2.2: pairs exist only
   * for components both agents have). Component `count+1..` sockets are closed and its
   * candidates withdrawn; remote candidates added so far are kept for the remaining components.
   * @throws StateError after start(); RangeError when `count` is not 1..components.
   */
  async useComponents(count: number): Promise<void> {
    if (this.started) throw new StateError('useComponents() after start()');
    if (!Number.isInteger(count) || count < 1 || count > this.components) throw new RangeError(`component count ${count} not in 1..${this.components}`);
    if (count === this.components) return;
    // Trickle: only the host sockets are awaited; later candidates of dropped components are ignored.
    if (this.trickle) await this.hostsPromise;
    else await this.gatherPromise;
    this.localCandidates = this.localCandidates.filter((c) => c.component <= count);
    this.remoteCandidates = this.remoteCandidates.filter((c) => c.component <= count);
    for (const [key, c] of this.remoteIndex) if (c.component > count) this.remoteIndex.delete(key);
    this.components = count;
    this.checklist = this.newCheckList(count);
    this.formPairs();
    // The peer's checks answered so far (they may beat its answer): their triggered checks
    // (§7.3.1.4) were queued in the check list just replaced.
    for (const p of this.checklist.pairs) {
      if (this.checkedBy.has(`${transportAddressKey(p.base)}|${transportAddressKey(p.remote)}`)) this.checklist.trigger(p);
    }
    await this.localBases.dropComponentsAbove(count);
  }

  /**
   * Starts connectivity checks: initial pair states (§6.1.2.6), Ta-paced checks (§6.1.4.2),
   * and the overall timeout. A lite agent only waits for the full peer's nominations (§8.2).
   * @throws StateError before gather() has resolved, or when already started.
   */
  start(): void {
    if (this.started) throw new StateError('start() called twice');
    if (this.localBases.bases.length === 0 || (this.currentState !== 'gathering' && !(this.restarted && this.currentState !== 'closed'))) {
      throw new StateError(`start() in state ${this.currentState} before gathering finished`);
    }
    this.started = true;
    this.transition('checking');
    this.formPairs();
    if (!this.lite) this.checklist.unfreezeInitial();
    this.failTimer = this.clock.setTimer(this.checkTimeoutMs, () => this.onCheckTimeout());
    this.afterCheckUpdate();
    this.kick();
  }

  /**
   * ICE restart (RFC 8445 §9): new local ufrag and password; the remote credentials, remote
   * candidates, check list and nomination state are forgotten. Sockets and gathered candidates are
   * reused (§9: "the agent MAY ... reuse" them). The pairs selected so far keep carrying media until
   * the new checks select others. Then, as for the first run: setRemoteCredentials(),
   * addRemoteCandidate(), start().
   * @throws StateError before gathering finished or after close().
   */
  restart(): void {
    if (this.currentState === 'closed' || this.currentState === 'new' || this.localBases.bases.length === 0) throw new StateError(`restart() in state ${this.currentState}`);
    this.localUfrag = randomIceString(8);
    this.localPwd = randomIceString(24);
    this.redactions.push(redact(this.localPwd));
    this.sender.abandonAll();
    for (const t of [this.paceTimer, this.failTimer, this.nominationTimer]) this.clock.clearTimer(t);
    this.paceTimer = this.failTimer = this.nominationTimer = undefined;
    for (const [component, pair] of this.selected) this.previousSelected.set(component, pair);
    this.selected.clear();
    this.validAnnounced.clear();
    this.remoteUfrag = undefined;
    this.remotePwd = undefined;
    this.remoteCandidates = [];
    this.remoteIndex.clear();
    this.checkedBy.clear();
    this.failureReason = undefined;
    this.remoteEnded = false;
    this.checklist = this.newCheckList(this.components);
    this.nomination.reset();
    this.outrankingAtSelection.clear();
    this.started = false;
    this.restarted = true;
    this.log.info(`ICE restart: new ufrag ${this.localUfrag}`);
  }

  private canRunChecks(): boolean {
    return this.started && !this.lite && this.remoteUfrag !== undefined && this.remotePwd !== undefined
      && this.currentState !== 'failed' && this.currentState !== 'closed';
  }

  /** Runs the Ta timer if there may be work and it is not running. */
  private kick(): void {
    if (!this.canRunChecks() || this.paceTimer) return;
    const delay = Math.max(0, this.lastCheckAt + this.taMs - this.clock.now());
    this.paceTimer = this.clock.setTimer(delay, () => this.tick());
  }

  /** RFC 8445 §6.1.4.2: one check per Ta; the timer stops when there is nothing to check. */
  private tick(): void {
    this.paceTimer = undefined;
    if (!this.canRunChecks()) return;
    const next = this.checklist.nextCheck();
    if (!next) return;
    this.sendCheck(next);
    this.lastCheckAt = this.clock.now();
    this.paceTimer = this.clock.setTimer(this.taMs, () => this.tick());
  }

  /** RFC 8445 §14.3: RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress)). */
  private rtoMs(): number {
    const active = this.checklist.pairs.filter((p) => p.state === 'waiting' || p.state === 'in-progress').length;
    return Math.max(500, this.taMs * active);
  }

  private sendCheck(check: ScheduledCheck): void {
    const { pair, nominate } = check;
    if (nominate && this.currentRole !== 'controlling') {
      this.checklist.nominationAbandoned(pair);
      return;
    }
    const base = this.baseOf(pair.base);
    if (!base || base.socket.closed) {
      if (!nominate) this.checklist.checkFailed(pair);
      else this.checklist.nominationFailed(pair);
      return;
    }
    this.sender.send({
      pair, kind: nominate ? 'nominate' : 'check', base,
      localUfrag: this.localUfrag, remoteUfrag: this.remoteUfrag!, remotePwd: this.remotePwd!, role: this.currentRole, tieBreaker: this.tieBreaker,
      // RFC 8445 §7.1.1: PRIORITY is the priority a peer-reflexive candidate of this base would have.
      priority: computePriority('prflx', base.localPreference, pair.component),
      rtoMs: this.rtoMs(), maxRequests: this.checkMaxRequests,
      // RFC 5245 §8.1.1.2: with aggressive nomination every check of the controlling agent nominates.
      useCandidate: this.aggressive(),
    });
    this.lastSentAt.set(pair.component, this.clock.now());
    this.log.trace(`check ${nominate || this.aggressive() ? '(USE-CANDIDATE) ' : ''}${pair.describe()}`);
    this.safeEmit('check', { pair: pair.info(), result: 'sent' });
  }

  /** Aggressive nomination in force for our checks: the option, as the controlling agent. */
  private aggressive(): boolean {
    return this.opts.nomination === 'aggressive' && this.currentRole === 'controlling' && !this.lite;
  }

  /** RFC 7675 §5.1: a consent check is an ordinary Binding request on the pair, without USE-CANDIDATE. */
  private sendConsentCheck(pair: CandidatePair): void {
    if (this.remoteUfrag === undefined || this.remotePwd === undefined || this.isClosed()) return;
    const base = this.baseOf(pair.base);
    if (!base || base.socket.closed) return;
    this.stats.consentChecksSent++;
    this.sender.send({
      pair, kind: 'consent', base,
      localUfrag: this.localUfrag, remoteUfrag: this.remoteUfrag, remotePwd: this.remotePwd, role: this.currentRole, tieBreaker: this.tieBreaker,
      priority: computePriority('prflx', base.localPreference, pair.component),
      // One consent check lives at most until the next one is due.
      rtoMs: 500, maxRequests: 3,
    });
    this.lastSentAt.set(pair.component, this.clock.now());
  }

  private onStun(base: LocalBase, msg: StunMessage, from: TransportAddress): void {
    if (msg.messageClass === 'request') this.onRequest(base, msg, from);
    else if (msg.messageClass === 'indication') return; // keepalives (§11): nothing to do
    else if (!this.sender.handleResponse(base, msg, from)) {
      // Gathering (server-reflexive) responses, or a stray one.
      if (!this.transactions.handleResponse(msg, from)) this.log.trace(`unmatched STUN response from ${formatAddress(from)}`);
    }
  }

  private onCheckResult(record: CheckRecord, result: CheckResult): void {
    if (this.isClosed()) return;
    const pair = record.pair;
    if (record.kind === 'consent') {
      if (result.kind === 'response') {
        const outcome = judgeCheckResponse(result.message, result.from, record.remote, result.arrivedOn === record.base);
        if (outcome.kind === 'success') this.consent.granted(pair);
        else this.log.debug(`consent check ${pair.describe()}: ${outcome.kind === 'failure' ? outcome.reason : 'role conflict'}`);
      }
      return;
    }
    if (result.kind === 'timeout') {
      this.log.debug(`check ${pair.describe()} ended: ${result.reason}`);
      if (record.kind === 'nominate') this.checklist.nominationFailed(pair);
      else if (pair.state === 'in-progress') this.checklist.checkFailed(pair);
      this.safeEmit('check', { pair: pair.info(), result: 'failed' });
      this.afterCheckUpdate();
      return;
    }
    const outcome = judgeCheckResponse(result.message, result.from, record.remote, result.arrivedOn === record.base);
    if (outcome.kind === 'role-conflict') {
      // RFC 8445 §7.2.5.1: switch to the role opposite to the one the request claimed, and retry.
      this.stats.roleConflicts++;
      if (this.currentRole === record.roleSent && !this.lite) this.setRole(record.roleSent === 'controlling' ? 'controlled' : 'controlling');
      if (record.kind === 'nominate') this.checklist.nominationAbandoned(pair);
      else if (pair.state === 'in-progress') this.checklist.retry(pair);
    } else if (record.kind === 'nominate') {
      if (outcome.kind === 'success') {
        this.checklist.nominationSucceeded(pair);
        this.consent.granted(pair);
        this.log.debug(`nominated ${pair.describe()}`);
        this.safeEmit('check', { pair: pair.info(), result: 'succeeded' });
      } else {
        this.checklist.nominationFailed(pair);
        this.safeEmit('check', { pair: pair.info(), result: 'failed' });
      }
    } else if (outcome.kind === 'success') {
      if (pair.state !== 'in-progress' && pair.state !== 'waiting') return; // already decided
      const local = this.mappedLocalCandidate(record, outcome.mapped);
      const valid = this.checklist.checkSucceeded(pair, local);
      // Aggressive nomination: the check carried USE-CANDIDATE, so its valid pair is nominated (RFC 5245 §8.1.1.2).
      if (record.useCandidate && record.roleSent === 'controlling' && this.currentRole === 'controlling') this.checklist.nominate(valid);
      this.consent.granted(valid);
      this.log.debug(`check succeeded ${pair.describe()}${valid !== pair ? ` (valid pair ${valid.describe()})` : ''}`);
      this.safeEmit('check', { pair: pair.info(), result: 'succeeded' });
      // RFC 8445 §12.1: "An ICE agent MAY send data on any valid pair before selected pairs have
      // been produced": announce the first one so media need not wait for nomination.
      if (!this.validAnnounced.has(pair.component)) {
        this.validAnnounced.add(pair.component);
        this.consent.watch(pair.component);
        this.safeEmit('valid-pair', pair.component, valid.info());
      }
    } else {
      this.log.debug(`check failed ${pair.describe()}: ${outcome.reason}`);
      if (pair.state === 'in-progress') this.checklist.checkFailed(pair);
      this.safeEmit('check', { pair: pair.info(), result: 'failed' });
    }
    this.afterCheckUpdate();
  }

  /**
   * RFC 8445 §7.2.5.3.1: the local candidate of the valid pair is the one whose address is the
   * XOR-MAPPED-ADDRESS; if none, a new peer-reflexive candidate with the PRIORITY sent, base =
   * the base of the checked pair.
   */
  private mappedLocalCandidate(record: CheckRecord, mapped: TransportAddress): Candidate {
    const component = record.pair.component;
    const known = [...this.localCandidates, ...this.peerReflexiveLocal].find((c) => c.component === component && sameAddress(c, mapped));
    if (known) return known;
    const prflx: Candidate = {
      foundation: this.foundations.get('prflx', record.base.candidate.address),
      component,
      transport: 'udp',
      priority: record.priority,
      address: mapped.address,
      port: mapped.port,
      type: 'prflx',
      relatedAddress: record.base.candidate.address,
      relatedPort: record.base.candidate.port,
    };
    this.peerReflexiveLocal.push(prflx);
    this.log.debug(`learned local peer-reflexive candidate ${describeCandidate(prflx)}`);
    return prflx;
  }

  /** RFC 8445 §7.3: an incoming check, then §7.3.1.3-§7.3.1.5 (lite: §8.2). */
  private onRequest(base: LocalBase, msg: StunMessage, from: TransportAddress): void {
    if (this.opts.transportPolicy === 'relay' && base.candidate.type !== 'relay') {
      // The host socket is only a carrier for TURN here: it is no candidate of ours.
      this.stats.policyDropped++;
      this.log.debug(`dropped check from ${formatAddress(from)} on host ${formatAddress(base.candidate)}: transport policy is relay`);
      return;
    }
    const outcome = this.responder.respond(base, msg, from, {
      localUfrag: this.localUfrag,
      localPwd: this.localPwd,
      remoteUfrag: this.remoteUfrag,
      role: this.currentRole,
      tieBreaker: this.tieBreaker,
      lite: this.lite,
      switchRole: (role) => this.setRole(role),
      findRemote: (component, addr) => this.remoteIndex.get(remoteKey(component, addr)),
      addRemote: (c) => {
        this.remoteCandidates.push(c);
        this.remoteIndex.set(remoteKey(c.component, c), c);
        this.log.debug(`learned remote peer-reflexive candidate ${describeCandidate(c)}`);
      },
    });
    if (outcome.kind !== 'answered' || this.isClosed()) return;
    if (this.checkedBy.size < 1000) this.checkedBy.add(`${transportAddressKey(base.candidate)}|${transportAddressKey(from)}`);
    const component = base.candidate.component;
    if (component > this.components) return;
    if (this.lite) {
      // RFC 8445 §7.3.1.5 (lite): the pair (this host candidate, the source) is valid and, with
      // USE-CANDIDATE, nominated at once.
      if (outcome.useCandidate) {
        this.checklist.addNominatedPair(base.candidate, outcome.remote);
        this.afterCheckUpdate();
      }
      return;
    }
    const added = this.checklist.addPair(base.candidate, outcome.remote);
    if (!added) return;
    const pair = added.pair;
    this.safeEmit('check', { pair: pair.info(), result: 'received' });
    let triggerNow = !this.checklist.nominated(component); // §8.1.2: a concluded component runs no more checks...
    if (outcome.useCandidate && this.currentRole === 'controlled') {
      // RFC 8445 §7.3.1.5: the controlled agent nominates on USE-CANDIDATE; a pair whose own check
      // has not succeeded yet gets a triggered check even on a concluded component (...but a new
      // nomination must be checkable, or the two ends would select different pairs).
      this.checklist.requestNomination(pair);
      if (pair.state !== 'succeeded') triggerNow = true;
    }
    if (triggerNow) {
      if (this.checklist.trigger(pair) === 'cancel-in-progress') this.sender.cancelRetransmissions(pair, 2 * this.rtoMs());
    }
    this.afterCheckUpdate();
    this.kick();
  }

  private setRole(role: IceRole, why = 'role conflict'): void {
    if (role === this.currentRole || this.lite) return;
    this.log.info(`ICE role ${this.currentRole} -> ${role} (${why})`);
    this.currentRole = role;
    this.checklist.setRole(role);
  }

  /** Re-evaluates nomination, selection, conclusion and the agent state after any change. */
  private afterCheckUpdate(): void {
    if (this.currentState === 'closed' || this.currentState === 'failed') return;
    if (this.started && this.currentRole === 'controlling' && !this.lite && this.opts.nomination !== 'aggressive') this.runNomination();
    for (let c = 1; c <= this.components; c++) {
      const chosen = this.checklist.selected(c);
      if (!chosen || this.selected.get(c) === chosen) continue;
      this.selected.set(c, chosen);
      this.previousSelected.delete(c);
      this.log.info(`selected pair c${c}: ${chosen.describe()}`);
      this.consent.watch(c);
      this.safeEmit('selected-pair', c, chosen.info());
      // RFC 8445 §8.1.2: stop lower-priority checks of this component.
      for (const p of this.checklist.concludeComponent(c)) this.sender.cancelRetransmissions(p, 0);
      if (!this.outrankingAtSelection.has(c)) {
        this.outrankingAtSelection.set(c, new Set(this.checklist.pairs.filter((p) => p.component === c && p.state === 'in-progress' && p.priority > chosen.priority)));
      }
    }
    if (!this.started) return;
    const allSelected = this.selected.size === this.components;
    if (this.currentState === 'checking' && allSelected) {
      this.clock.clearTimer(this.failTimer);
      this.transition('connected');
    }
    // RFC 8445 §8.2: a lite agent completes once every component has a nominated pair.
    if (this.currentState === 'connected' && (this.lite || (this.checklist.state === 'completed' && this.checklist.inProgressCount() === 0))) {
      this.transition('completed');
    }
    if (this.currentState === 'checking' && !this.lite && this.checklist.state === 'failed') this.fail('every candidate pair failed');
    this.kick();
  }

  private runNomination(): void {
    this.clock.clearTimer(this.nominationTimer);
    this.nominationTimer = undefined;
    const outranking = (p: CandidatePair) => {
      const pending = this.outrankingAtSelection.get(p.component);
      return pending !== undefined && [...pending].some((q) => q === p || q.validPair === p);
    };
    const lateHost = (p: CandidatePair) => [...this.lateHosts].some((h) => h.component === p.component && sameAddress(h, p.base));
    const decision = this.nomination.decide(this.checklist, this.clock.now(),
      this.outrankingAtSelection.size > 0 || this.lateHosts.size > 0 ? (p) => outranking(p) || lateHost(p) : undefined);
    for (const p of decision.nominate) {
      this.log.debug(`nominating ${p.describe()}`);
      this.checklist.queueNomination(p);
    }
    if (decision.recheckInMs !== undefined) {
      this.nominationTimer = this.clock.setTimer(decision.recheckInMs, () => {
        this.nominationTimer = undefined;
        // The wait is over only once the check responses already received are read: after a
        // blocked event loop this timer fires before them, and would nominate a worse pair.
        afterPendingInput(this.clock, () => {
          if (!this.isClosed() && this.nominationTimer === undefined) this.afterCheckUpdate();
        });
      });
    }
    if (decision.nominate.length) this.kick();
  }

  private onCheckTimeout(): void {
    this.failTimer = undefined;
    if (this.currentState !== 'checking') return;
    for (let c = 1; c <= this.components; c++) {
      if (!this.checklist.bestValid(c)) {
        this.fail(this.lite ? `no nomination for component ${c} after ${this.checkTimeoutMs} ms` : `no valid pair for component ${c} after ${this.checkTimeoutMs} ms`);
        return;
      }
    }
    this.log.warn(`valid pairs but no nomination after ${this.checkTimeoutMs} ms; media uses the best valid pairs`);
  }

  private onConsentExpired(component: number, pair: CandidatePair): void {
    if (this.isClosed() || this.currentState === 'failed') return;
    const reason = `consent expired on component ${component} (${pair.describe()}): no check response for ${this.consent.expiryMs} ms (RFC 7675)`;
    this.safeEmit('consent-lost', component, pair.info());
    this.fail(reason);
  }

  private fail(reason: string): void {
    this.failureReason = reason;
    this.log.warn(`ICE failed: ${reason}`);
    this.clock.clearTimer(this.paceTimer);
    this.paceTimer = undefined;
    this.clock.clearTimer(this.nominationTimer);
    this.clock.clearTimer(this.failTimer);
    this.consent.stop();
    this.sender.abandonAll();
    this.transition('failed');
  }

  // ---------------------------------------------------------------- media

  /** base|remote keys of peers whose authenticated checks we answered (they hold our password). */
  private readonly checkedBy = new Set<string>();

  /** RFC 4961 latching for a peer without ICE: a source other than its m/c address that proved itself. */
  private readonly latch = new Map<number, { address: string; port: number; count: number; latched: boolean }>();

  /**
   * Media only from the peer. Once ICE checks run, RTP/RTCP is accepted only from the remote
   * transport address of a valid pair on the base it arrived on (RFC 8445 §11: data flows on
   * pairs ICE verified). For a peer without ICE (fallback address), only from its m/c address, or
   * from the one source that replaced it (symmetric RTP behind a NAT, RFC 4961 §3): after 5 packets
   * in a row from that source while none came from the m/c address, media is latched to it (sent
   * there too). With the draft's a=alt engine (`setMediaPath`), once it chose a path for a
   * component, media of that component only from the path's remote alternate or an address that
   * passed the draft's checks (`trustMediaFrom`: an alternate we reached, or the source of an
   * authenticated request we answered: draft-rosenberg-sipping-ice-01 §5.5, §5.6). Everything else is
   * counted and dropped.
   */
  private onData(component: number, data: Buffer, from: TransportAddress, base: LocalBase): void {
    if (this.isClosed()) return;
    const altPath = this.mediaPath.get(component);
    if (altPath) {
      if (!sameAddress(altPath.remote, from) && !this.altTrusted.get(component)?.has(transportAddressKey(from))) return this.stranger(from);
    } else if (this.mediaPath.size === 0) {
      if (this.started || this.restarted) {
        // The selected pair's remote (nearly every packet of a call: tested first, string compares
        // only), a valid pair's remote, or a peer that sent us an authenticated check on this base
        // (its own check may have succeeded before ours: media it sends then is not a stranger's).
        const selected = this.selected.get(component);
        const ok = (selected !== undefined && sameAddress(selected.remote, from) && sameAddress(selected.base, base.candidate))
          || this.checkedBy.has(`${transportAddressKey(base.candidate)}|${transportAddressKey(from)}`)
          || this.checklist.validList(component).some((p) => sameAddress(p.remote, from) && sameAddress(p.base, base.candidate))
          || [this.previousSelected.get(component)].some((p) => p !== undefined && sameAddress(p.remote, from) && sameAddress(p.base, base.candidate));
        if (!ok) return this.stranger(from);
      } else {
        const fallback = this.fallback.get(component);
        if (fallback && !sameAddress(fallback, from)) {
          const l = this.latch.get(component);
          if (l?.latched) {
            if (!sameAddress(l, from)) return this.stranger(from);
          } else {
            if (!l || !sameAddress(l, from)) this.latch.set(component, { address: from.address, port: from.port, count: 1, latched: false });
            else if (++l.count >= 5) {
              l.latched = true;
              this.log.info(`latched media of component ${component} to ${formatAddress(from)} (RFC 4961; the peer's m/c line said ${formatAddress(fallback)})`);
            }
            if (!this.latch.get(component)!.latched) return this.stranger(from);
          }
        } else if (fallback) {
          this.latch.delete(component);
        }
      }
    }
    this.safeEmit('data', component, data, from);
  }

  private stranger(from: TransportAddress): void {
    this.stats.mediaFromStrangers++;
    this.log.trace(`dropped media from ${formatAddress(from)}: not the peer`);
  }

  /** The pair carrying media now: selected, else the best valid pair (§12.1), else the pre-restart one. */
  private currentPath(component: number): CandidatePair | undefined {
    return this.selected.get(component) ?? this.checklist.bestValid(component) ?? this.previousSelected.get(component);
  }

  /**
   * The pair media uses now: the selected pair, else (before selection, RFC 8445 §12.1) the
   * highest-priority valid pair. `selected` tells which.
   */
  mediaPair(component: number): { pair: CandidatePairInfo; selected: boolean } | undefined {
    const selected = this.selected.get(component);
    if (selected) return { pair: selected.info(), selected: true };
    const valid = this.checklist.bestValid(component) ?? this.previousSelected.get(component);
    return valid ? { pair: valid.info(), selected: false } : undefined;
  }

  /**
   * Sends one datagram of `component`: on the selected pair, else the best valid pair, else to
   * the fallback remote address from the default candidate's socket. Nothing is sent on a pair
   * whose consent expired (RFC 7675 §5.1 "MUST cease transmission").
   * @returns false when there is nowhere to send.
   */
  send(component: number, data: Buffer): boolean {
    if (this.isClosed()) return false;
    const path = this.mediaPath.get(component);
    if (path) {
      if (!this.localBases.sendFrom(path.base, data, path.remote)) return false;
      this.lastSentAt.set(component, this.clock.now());
      return true;
    }
    const pair = this.currentPath(component);
    if (pair) {
      if (!this.consent.allowed(pair)) {
        this.stats.sendsBlockedByConsent++;
        return false;
      }
      if (!this.localBases.sendFrom(pair.base, data, pair.remote)) return false;
      this.lastSentAt.set(component, this.clock.now());
      return true;
    }
    const latched = this.latch.get(component);
    const fallback = latched?.latched ? { address: latched.address, port: latched.port } : this.fallback.get(component);
    if (!fallback) return false;
    let local: Candidate;
    try {
      local = this.defaultCandidate(component);
    } catch {
      return false;
    }
    if (!this.localBases.sendFrom(local, data, fallback)) return false;
    this.lastSentAt.set(component, this.clock.now());
    return true;
  }

  /** A non-ICE peer: send() goes from the default candidate's socket to this address until a pair is valid. */
  setFallbackRemote(component: number, addr: { address: string; port: number }): void {
    this.fallback.set(component, { address: normalizeAddress(addr.address), port: addr.port });
  }

  selectedPair(component: number): CandidatePairInfo | undefined {
    return this.selected.get(component)?.info();
  }

  /** Check-list pairs and discovered valid pairs, highest priority first. */
  pairs(): CandidatePairInfo[] {
    return this.checklist.allPairs().map((p) => p.info());
  }

  // ---------------------------------------------------------------- the shared base set
  // draft-rosenberg-sipping-ice-01 peers are served by a separate engine (lib/ice/alt-agent.ts)
  // working on this agent's local bases; none of this is used on the RFC 8445 path.

  /** The local bases as the draft's `a=alt` engine uses them (see `SharedBases`). */
  sharedBases(): SharedBases {
    const agent = this;
    const bases = this.localBases;
    return {
      get localCandidates() { return agent.localCandidates; },
      baseCandidates: () => bases.bases.map((b) => ({ ...b.candidate })),
      interceptStun: (handler) => bases.interceptStun(handler),
      sendFrom: (local, data, to) => {
        if (agent.isClosed() || !bases.sendFrom(local, data, to)) return false;
        agent.lastSentAt.set(local.component, agent.clock.now());
        return true;
      },
      setMediaPath: (component, path) => {
        if (path) agent.mediaPath.set(component, { base: { ...path.base }, remote: { address: path.remote.address, port: path.remote.port } });
        else {
          agent.mediaPath.delete(component);
          agent.altTrusted.delete(component);
        }
      },
      trustMediaFrom: (component, address) => {
        let set = agent.altTrusted.get(component);
        if (!set) agent.altTrusted.set(component, (set = new Set()));
        set.add(transportAddressKey({ address: normalizeAddress(address.address), port: address.port }));
      },
      releaseRelay: async (relay) => {
        const known = bases.relayBases.some((b) => b.candidate.component === relay.component && sameAddress(b.candidate, relay));
        if (!known) return false;
        agent.localCandidates = agent.localCandidates.filter((c) => !(c.type === 'relay' && c.component === relay.component && sameAddress(c, relay)));
        return bases.releaseRelay(relay);
      },
    };
  }

  /** Local transport addresses the agent's sockets are bound to (one per component per address). */
  localSockets(): Array<{ component: number; local: TransportAddress }> {
    return this.localBases.bases.map((b) => ({ component: b.candidate.component, local: b.socket.local }));
  }

  /** Stops every timer and check, closes every socket (TURN allocations are released first). */
  async close(): Promise<void> {
    if (this.isClosed()) return;
    this.transition('closed');
    this.clock.clearTimer(this.paceTimer);
    this.clock.clearTimer(this.failTimer);
    this.clock.clearTimer(this.nominationTimer);
    this.consent.stop();
    this.sender.abandonAll();
    this.transactions.cancelAll();
    for (const release of this.redactions.splice(0)) release();
    await this.localBases.close();
  }
}
