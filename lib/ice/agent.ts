import { randomBytes, randomInt } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { StateError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { redact, silentLogger, type Logger } from '../base/log.js';
import { PacketDemux } from '../net/demux.js';
import { formatAddress, sameAddress, type PacketSocket, type TransportAddress } from '../net/socket.js';
import { shortTermKey } from '../stun/integrity.js';
import { StunMessage } from '../stun/message.js';
import { StunTransactionManager, TransactionCancelledError } from '../stun/transaction.js';
import { computePriority, describeCandidate, type Candidate, type CandidateType } from './candidate.js';
import type { CandidatePair, CandidatePairInfo, IceRole } from './candidate-pair.js';
import { CheckList, type ScheduledCheck } from './checklist.js';
import {
  ICE_CHARS, authenticateResponse, buildCheckRequest, encodeErrorResponse, encodeKeepalive, encodeSuccessResponse,
  judgeCheckResponse, judgeIncomingCheck, resolveRoleConflict,
} from './connectivity-check.js';
import { FoundationRegistry, gatherHostCandidates, gatherServerReflexive, type IceServer, type LocalBase } from './gatherer.js';
import { RegularNomination } from './nomination.js';
import { allocateRelay, type RelayResult, type TurnServer } from './relay.js';
import type { TurnClient } from '../turn/client.js';

/**
 * The ICE agent (RFC 8445, full implementation, UDP, one data stream with 1 or 2
 * components): gathering, answering checks, the paced check list, regular nomination,
 * keepalives, and the media path on the selected pair.
 */
export type { IceRole, CandidatePairInfo } from './candidate-pair.js';
export { pairPriority } from './candidate-pair.js';
export type { IceServer } from './gatherer.js';

export type { TurnServer, RelayResult } from './relay.js';

/** See `IceAgent.interceptStun`: `base` is the host or relayed candidate whose socket received `msg`. */
export type StunInterceptor = (base: Candidate, msg: StunMessage, from: TransportAddress) => boolean;

export type IceState = 'new' | 'gathering' | 'checking' | 'connected' | 'completed' | 'failed' | 'closed';

export interface IceAgentOptions {
  role: IceRole;
  /** 1 (rtcp-mux) or 2. */
  components: number;
  clock?: Clock;
  log?: Logger;
  /** Restrict host candidates to these local IPs; default every usable interface (lib/net/interfaces.ts). */
  addresses?: string[];
  /** Also gather on loopback when no `addresses` given. */
  includeLoopback?: boolean;
  /** Server-reflexive candidates: Binding request, RTO 500 ms, 3 sends, gives up after 2.5 s. */
  stunServers?: IceServer[];
  /** Pacing Ta (RFC 8445 §14.2), default 50 ms. */
  taMs?: number;
  tieBreaker?: bigint;
  ufrag?: string;
  pwd?: string;
  /** The agent goes 'failed' when some component has no valid pair this long after start(). Default 15000. */
  checkTimeoutMs?: number;
  /** Binding indications on the selected pair when nothing was sent for this long (RFC 8445 §11). Default 15000. */
  keepaliveMs?: number;
  /** Controlling agent: how long to wait after a component's first valid pair for a better one before nominating. Default 1000. */
  nominationWaitMs?: number;
  /** Rc for connectivity checks (transmissions per check). Default 7 (RFC 8489). */
  checkMaxRequests?: number;
  /** Socket factory (tests); default UdpSocket.bind(address, 0). */
  bindSocket?: (address: string) => Promise<PacketSocket>;
  /** TURN servers in order of preference: one relayed candidate per component from the first that allocates. */
  turnServers?: TurnServer[];
  /** Time one TURN server may take before the next is tried, ms. Default 5000. */
  turnTimeoutMs?: number;
  /**
   * 'relay' signals and checks from relayed candidates only (WebRTC's iceTransportPolicy); host
   * sockets still carry the TURN traffic. Default 'all'.
   */
  transportPolicy?: 'all' | 'relay';
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
}

export interface IceAgentStats {
  checksSent: number;
  checksReceived: number;
  responsesReceived: number;
  malformedDropped: number;
  integrityFailures: number;
  roleConflicts: number;
  unauthorized401Sent: number;
}

/** Allowed predecessors of each agent state. */
const STATE_PREDECESSORS: Record<IceState, readonly IceState[]> = {
  new: [],
  gathering: ['new'],
  // RFC 8445 §9: an ICE restart runs checks again from any state after gathering (restart()).
  checking: ['gathering', 'connected', 'completed', 'failed'],
  connected: ['checking'],
  completed: ['connected'],
  failed: ['checking'],
  closed: ['new', 'gathering', 'checking', 'connected', 'completed', 'failed'],
};

/** One connectivity check in flight. */
interface CheckRecord {
  transactionId: Buffer;
  pair: CandidatePair;
  nominate: boolean;
  base: LocalBase;
  remote: { address: string; port: number };
  roleSent: IceRole;
  /** PRIORITY sent: a peer-reflexive local candidate learned from this check gets it (§7.2.5.3.1). */
  priority: number;
  remotePwd: string;
  cancelled: boolean;
}

function randomIceString(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ICE_CHARS[randomInt(ICE_CHARS.length)];
  return s;
}

const TYPE_RANK: Record<CandidateType, number> = { relay: 3, srflx: 2, prflx: 1, host: 0 };

export class IceAgent extends TypedEmitter<IceAgentEvents> {
  /** Our ICE credentials (RFC 8445 §5.3); new ones after restart(). */
  localUfrag: string;
  localPwd: string;
  readonly tieBreaker: bigint;
  /** Components in use; lowered by `useComponents()` once offer/answer settles rtcp-mux. */
  components: number;
  /** Host and server-reflexive candidates (the ones to signal). */
  localCandidates: Candidate[] = [];
  /** Peer-reflexive local candidates learned from XOR-MAPPED-ADDRESS (§7.2.5.3.1); not signalled. */
  readonly peerReflexiveLocal: Candidate[] = [];
  /** Signalled remote candidates and peer-reflexive ones learned from checks (§7.3.1.3). */
  remoteCandidates: Candidate[] = [];
  readonly stats: IceAgentStats = {
    checksSent: 0, checksReceived: 0, responsesReceived: 0, malformedDropped: 0, integrityFailures: 0, roleConflicts: 0, unauthorized401Sent: 0,
  };

  private currentRole: IceRole;
  private currentState: IceState = 'new';
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly taMs: number;
  private readonly checkTimeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly checkMaxRequests: number;
  private readonly transactions: StunTransactionManager;
  private readonly foundations = new FoundationRegistry();
  private checklist: CheckList;
  private readonly nomination: RegularNomination;
  private bases: LocalBase[] = [];
  private relayBases: LocalBase[] = [];
  private readonly validAnnounced = new Set<number>();
  private readonly turnOnHost = new Map<PacketSocket, Set<TurnClient>>();
  private readonly checks = new Map<string, CheckRecord>();
  private remoteUfrag?: string;
  private remotePwd?: string;
  private started = false;
  private paceTimer?: TimerHandle;
  private lastCheckAt = -Infinity;
  private failTimer?: TimerHandle;
  private nominationTimer?: TimerHandle;
  private readonly keepaliveTimers = new Map<number, TimerHandle>();
  private readonly selected = new Map<number, CandidatePair>();
  /** After restart(): the pairs selected before it, carrying media until the new checks select others (RFC 8445 §9). */
  private readonly previousSelected = new Map<number, CandidatePair>();
  private restarted = false;
  /** Checks in flight when restart() was called: their outcome no longer matters. */
  private readonly abandoned = new WeakSet<CheckRecord>();
  private readonly lastSentAt = new Map<number, number>();
  private readonly fallback = new Map<number, { address: string; port: number }>();
  private remotePrflxCount = 0;
  private gatherPromise?: Promise<Candidate[]>;
  /** Hooks for the draft-rosenberg-sipping-ice-01 engine (lib/ice/alt-agent.ts); see `interceptStun`. */
  private stunInterceptor?: StunInterceptor;
  private readonly mediaPath = new Map<number, { base: Candidate; remote: { address: string; port: number } }>();

  constructor(private readonly opts: IceAgentOptions) {
    super();
    if (!Number.isInteger(opts.components) || opts.components < 1 || opts.components > 256) {
      throw new RangeError(`components must be 1..256, got ${opts.components}`);
    }
    this.components = opts.components;
    this.currentRole = opts.role;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.taMs = opts.taMs ?? 50;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? 15000;
    this.keepaliveMs = opts.keepaliveMs ?? 15000;
    this.checkMaxRequests = opts.checkMaxRequests ?? 7;
    // RFC 8445 §5.3: ufrag at least 24 bits (4 ice-chars), password at least 128 bits (22 ice-chars).
    this.localUfrag = opts.ufrag ?? randomIceString(8);
    this.localPwd = opts.pwd ?? randomIceString(24);
    redact(this.localPwd);
    this.tieBreaker = opts.tieBreaker ?? randomBytes(8).readBigUInt64BE(0);
    this.transactions = new StunTransactionManager(this.clock);
    this.checklist = new CheckList({ role: this.currentRole, components: this.components });
    this.nomination = new RegularNomination(opts.nominationWaitMs ?? 1000);
  }

  get role(): IceRole { return this.currentRole; }
  /**
   * Sets the role decided by offer/answer (RFC 8445 §6.1.1); normally before start(). Pair
   * priorities are recomputed. Role conflicts found by checks change it on their own.
   */
  set role(role: IceRole) {
    if (role !== 'controlling' && role !== 'controlled') throw new RangeError(`not an ICE role: ${String(role)}`);
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
   * Gathers host candidates (one UDP socket per component per address) and server-reflexive
   * ones. From the moment the sockets are bound the agent answers incoming checks.
   * @throws StateError when called twice; Error when no socket could be bound.
   */
  gather(): Promise<Candidate[]> {
    if (this.gatherPromise) return this.gatherPromise;
    if (this.currentState !== 'new') throw new StateError(`gather() in state ${this.currentState}`);
    this.transition('gathering');
    this.gatherPromise = this.doGather();
    return this.gatherPromise;
  }

  private async doGather(): Promise<Candidate[]> {
    const bases = await gatherHostCandidates({
      components: this.components,
      addresses: this.opts.addresses,
      includeLoopback: this.opts.includeLoopback,
      foundations: this.foundations,
      log: this.log,
      bind: this.opts.bindSocket,
    });
    if (this.currentState === 'closed') {
      await Promise.all(bases.map((b) => b.socket.close()));
      return [];
    }
    this.bases = bases;
    for (const base of bases) {
      const demux = new PacketDemux(
        {
          stun: (data, from) => this.onStun(base, data, from),
          rtp: (data, from) => this.safeEmit('data', base.candidate.component, data, from),
        },
        (_data, from, reason) => {
          this.stats.malformedDropped++;
          this.log.debug(`dropped datagram from ${formatAddress(from)} on ${formatAddress(base.candidate)}: ${reason}`);
        },
      );
      base.socket.onPacket((data, from) => {
        // Packets from a TURN server whose allocation shares this socket go to its client first.
        const clients = this.turnOnHost.get(base.socket);
        if (clients) for (const client of clients) if (client.handlePacket(data, from)) return;
        demux.handle(data, from);
      });
      this.addLocalCandidate(base.candidate);
    }
    const jobs: Promise<unknown>[] = [];
    if (this.opts.stunServers?.length) {
      jobs.push(gatherServerReflexive(bases, {
        servers: this.opts.stunServers,
        transactions: this.transactions,
        foundations: this.foundations,
        log: this.log,
        onCandidate: (c) => this.addLocalCandidate(c),
      }));
    }
    if (this.opts.turnServers?.length) {
      for (let component = 1; component <= this.components; component++) {
        const host = bases.find((b) => b.candidate.component === component && b.socket.local.family === 'IPv4') ?? bases.find((b) => b.candidate.component === component);
        if (host) jobs.push(this.gatherRelay(component, host));
      }
    }
    await Promise.all(jobs);
    if (this.isClosed()) return [];
    this.safeEmit('gathering-complete');
    this.formPairs();
    return [...this.localCandidates];
  }

  /** One relayed candidate for a component (RFC 8445 §5.1.1.2), its base the allocation itself. */
  private async gatherRelay(component: number, host: LocalBase): Promise<void> {
    const { socket, result } = await allocateRelay({
      component,
      servers: this.opts.turnServers!,
      hostSocket: host.socket,
      attachToHost: (client) => {
        let set = this.turnOnHost.get(host.socket);
        if (!set) this.turnOnHost.set(host.socket, (set = new Set()));
        set.add(client);
      },
      detachFromHost: (client) => this.turnOnHost.get(host.socket)?.delete(client),
      perServerTimeoutMs: this.opts.turnTimeoutMs,
      clock: this.clock,
      log: this.log,
    });
    for (const f of result.failures) this.log.debug(f.error);
    this.safeEmit('relay', result);
    if (!socket) return;
    if (this.isClosed()) {
      await socket.close();
      return;
    }
    const mapped = socket.client.mappedAddress;
    const candidate: Candidate = {
      foundation: this.foundations.get('relay', socket.local.address, socket.client.server.address),
      component,
      transport: 'udp',
      priority: computePriority('relay', host.localPreference, component),
      address: socket.local.address,
      port: socket.local.port,
      type: 'relay',
      relatedAddress: mapped?.address ?? host.candidate.address,
      relatedPort: mapped?.port ?? host.candidate.port,
    };
    const base: LocalBase = { socket, candidate, localPreference: host.localPreference };
    const demux = new PacketDemux(
      {
        stun: (data, from) => this.onStun(base, data, from),
        rtp: (data, from) => this.safeEmit('data', component, data, from),
      },
      () => void this.stats.malformedDropped++,
    );
    socket.onPacket((data, from) => demux.handle(data, from));
    this.relayBases.push(base);
    this.bases.push(base);
    this.addLocalCandidate(candidate);
  }

  private addLocalCandidate(c: Candidate): void {
    if (this.currentState === 'closed') return;
    if (this.opts.transportPolicy === 'relay' && c.type !== 'relay') {
      this.log.debug(`not offering ${describeCandidate(c)}: transport policy is relay`);
      return;
    }
    this.localCandidates.push(c);
    this.log.debug(`local candidate ${describeCandidate(c)} c${c.component} prio ${c.priority}`);
    this.safeEmit('candidate', c);
  }

  /**
   * RFC 8445 §5.1.4: the default candidate of a component: relayed if any, else
   * server-reflexive, else host; within a type the highest priority.
   * @throws StateError when the component has no candidate (not gathered yet).
   */
  defaultCandidate(component: number): Candidate {
    const own = this.localCandidates.filter((c) => c.component === component && c.type !== 'prflx');
    own.sort((a, b) => TYPE_RANK[b.type] - TYPE_RANK[a.type] || b.priority - a.priority);
    if (own.length === 0) throw new StateError(`no local candidate for component ${component} (gather() first)`);
    return own[0];
  }

  private baseOf(c: Candidate): LocalBase | undefined {
    if (c.type === 'relay') return this.relayBases.find((b) => b.candidate.component === c.component && sameAddress(b.candidate, c));
    if (c.type === 'host') return this.bases.find((b) => b.candidate.component === c.component && sameAddress(b.candidate, c));
    if (c.relatedAddress === undefined || c.relatedPort === undefined) return undefined;
    const related = { address: c.relatedAddress, port: c.relatedPort };
    return this.bases.find((b) => b.candidate.component === c.component && sameAddress(b.candidate, related));
  }

  // ---------------------------------------------------------------- remote side

  setRemoteCredentials(ufrag: string, pwd: string): void {
    if (!ufrag || !pwd) throw new RangeError('remote ufrag and pwd must not be empty');
    this.remoteUfrag = ufrag;
    this.remotePwd = pwd;
    redact(pwd);
    this.kick();
  }

  /** Adds a signalled remote candidate; pairs it with the local ones (§6.1.2.2, pruning §6.1.2.4). */
  addRemoteCandidate(c: Candidate): void {
    if (this.currentState === 'closed') return;
    if (c.component < 1 || c.component > this.components) {
      this.log.debug(`ignoring remote candidate for component ${c.component}`);
      return;
    }
    if (c.transport !== 'udp') {
      this.log.debug(`ignoring remote ${c.transport} candidate ${describeCandidate(c)} (UDP only)`);
      return;
    }
    const known = this.remoteCandidates.find((r) => r.component === c.component && sameAddress(r, c));
    if (known) {
      // A signalled candidate equal to a peer-reflexive one learned earlier: keep the pair, adopt the signalled identity.
      if (known.type === 'prflx' && c.type !== 'prflx') Object.assign(known, { ...c });
      return;
    }
    this.remoteCandidates.push({ ...c });
    this.formPairs();
  }

  private formPairs(): void {
    if (this.bases.length === 0) return;
    const added = this.checklist.formPairs(this.localCandidates, this.remoteCandidates, (c) => this.baseOf(c)?.candidate);
    if (added.length) {
      this.log.debug(`formed ${added.length} pair(s); check list has ${this.checklist.pairs.length}`);
      this.kick();
    }
  }

  // ---------------------------------------------------------------- checks

  /**
   * Starts connectivity checks: initial pair states (§6.1.2.6), Ta-paced checks (§6.1.4.2),
   * and the overall timeout.
   * @throws StateError before gather() has resolved, or when already started.
   */
  /**
   * Drops the components above `count` before checks start: an offer that proposed rtcp-mux
   * (RFC 5761 §5.1.3) still carries component 2 candidates for a peer that declines it; when the
   * answer accepts mux, component 2's sockets are closed and its candidates withdrawn.
   * Remote candidates added so far are kept for the remaining components.
   * @throws StateError after start(); RangeError when `count` is not 1..components.
   */
  async useComponents(count: number): Promise<void> {
    if (this.started) throw new StateError('useComponents() after start()');
    if (!Number.isInteger(count) || count < 1 || count > this.components) throw new RangeError(`component count ${count} not in 1..${this.components}`);
    if (count === this.components) return;
    await this.gatherPromise;
    const dropped = this.bases.filter((b) => b.candidate.component > count);
    this.bases = this.bases.filter((b) => b.candidate.component <= count);
    const droppedRelays = this.relayBases.filter((b) => b.candidate.component > count);
    this.relayBases = this.relayBases.filter((b) => b.candidate.component <= count);
    this.localCandidates = this.localCandidates.filter((c) => c.component <= count);
    this.remoteCandidates = this.remoteCandidates.filter((c) => c.component <= count);
    this.components = count;
    this.checklist = new CheckList({ role: this.currentRole, components: count });
    await Promise.all(droppedRelays.map((b) => b.socket.close()));
    await Promise.all(dropped.filter((b) => !droppedRelays.includes(b)).map((b) => b.socket.close()));
  }

  start(): void {
    if (this.started) throw new StateError('start() called twice');
    if (this.bases.length === 0 || (this.currentState !== 'gathering' && !(this.restarted && this.currentState !== 'closed'))) throw new StateError(`start() in state ${this.currentState} before gathering finished`);
    this.started = true;
    this.transition('checking');
    this.formPairs();
    this.checklist.unfreezeInitial();
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
    if (this.currentState === 'closed' || this.currentState === 'new' || this.bases.length === 0) throw new StateError(`restart() in state ${this.currentState}`);
    this.localUfrag = randomIceString(8);
    this.localPwd = randomIceString(24);
    redact(this.localPwd);
    for (const record of this.checks.values()) {
      record.cancelled = true;
      this.abandoned.add(record);
      this.transactions.cancel(record.transactionId);
    }
    this.checks.clear();
    for (const t of [this.paceTimer, this.failTimer, this.nominationTimer]) this.clock.clearTimer(t);
    this.paceTimer = this.failTimer = this.nominationTimer = undefined;
    for (const [component, pair] of this.selected) this.previousSelected.set(component, pair);
    this.selected.clear();
    this.remoteUfrag = undefined;
    this.remotePwd = undefined;
    this.remoteCandidates = [];
    this.checklist = new CheckList({ role: this.currentRole, components: this.components });
    this.nomination.reset();
    this.started = false;
    this.restarted = true;
    this.log.info(`ICE restart: new ufrag ${this.localUfrag}`);
  }

  private canRunChecks(): boolean {
    return this.started && this.remoteUfrag !== undefined && this.remotePwd !== undefined
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

  private sendCheck(check: ScheduledCheck): void {
    const { pair, nominate } = check;
    const base = this.baseOf(pair.base);
    if (nominate && this.currentRole !== 'controlling') {
      pair.nominating = false;
      return;
    }
    if (!base || base.socket.closed) {
      if (!nominate) this.checklist.checkFailed(pair);
      return;
    }
    // RFC 8445 §7.1.1: PRIORITY is the priority a peer-reflexive candidate of this base would have.
    const priority = computePriority('prflx', base.localPreference, pair.component);
    const request = buildCheckRequest({
      localUfrag: this.localUfrag, remoteUfrag: this.remoteUfrag!, priority, role: this.currentRole, tieBreaker: this.tieBreaker, useCandidate: nominate,
    });
    const remote = { address: pair.remote.address, port: pair.remote.port };
    const record: CheckRecord = {
      transactionId: request.transactionId, pair, nominate, base, remote, roleSent: this.currentRole, priority, remotePwd: this.remotePwd!, cancelled: false,
    };
    this.checks.set(request.transactionId.toString('hex'), record);
    this.stats.checksSent++;
    this.log.trace(`check ${nominate ? '(USE-CANDIDATE) ' : ''}${pair.describe()}`);
    this.safeEmit('check', { pair: pair.info(), result: 'sent' });
    // RFC 8445 §14.3: RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress)).
    const active = this.checklist.pairs.filter((p) => p.state === 'waiting' || p.state === 'in-progress').length;
    const rtoMs = Math.max(500, this.taMs * active);
    this.transactions.request(request, (bytes) => base.socket.send(bytes, remote), {
      rtoMs, maxRequests: this.checkMaxRequests, integrityKey: shortTermKey(record.remotePwd), fingerprint: true,
    }).then(() => undefined, (err: unknown) => this.onCheckError(record, err));
  }

  private onStun(base: LocalBase, data: Buffer, from: TransportAddress): void {
    let msg: StunMessage;
    try {
      msg = StunMessage.decode(data);
    } catch (e) {
      this.stats.malformedDropped++;
      this.log.debug(`malformed STUN from ${formatAddress(from)}: ${errorMessage(e)}`);
      return;
    }
    if (this.stunInterceptor?.(base.candidate, msg, from)) return;
    if (msg.messageClass === 'request') this.onRequest(base, msg, from);
    else if (msg.messageClass === 'indication') return; // keepalives (§11): nothing to do
    else this.onResponse(base, msg, from);
  }

  private onResponse(base: LocalBase, msg: StunMessage, from: TransportAddress): void {
    const record = this.checks.get(msg.transactionId.toString('hex'));
    if (!record) {
      // Gathering (server-reflexive) responses, or a stray one.
      if (!this.transactions.handleResponse(msg, from)) this.log.trace(`unmatched STUN response from ${formatAddress(from)}`);
      return;
    }
    const auth = authenticateResponse(msg, record.remotePwd);
    if (auth === 'bad-integrity') {
      // RFC 8489 §9.1.4: discarded "as if it was never received".
      this.stats.integrityFailures++;
      this.log.debug(`check response from ${formatAddress(from)} failed MESSAGE-INTEGRITY: dropped`);
      return;
    }
    if (!this.transactions.handleResponse(msg, from)) return;
    this.stats.responsesReceived++;
    this.checks.delete(msg.transactionId.toString('hex'));
    if (record.cancelled || this.currentState === 'closed') return;
    this.completeCheck(record, msg, from, base);
  }

  private completeCheck(record: CheckRecord, msg: StunMessage, from: TransportAddress, arrivedOn: LocalBase): void {
    const pair = record.pair;
    const outcome = judgeCheckResponse(msg, from, record.remote, arrivedOn === record.base);
    if (outcome.kind === 'role-conflict') {
      // RFC 8445 §7.2.5.1: switch to the role opposite to the one the request claimed, and retry.
      this.stats.roleConflicts++;
      if (this.currentRole === record.roleSent) this.setRole(record.roleSent === 'controlling' ? 'controlled' : 'controlling');
      if (record.nominate) pair.nominating = false;
      else this.checklist.retry(pair);
    } else if (record.nominate) {
      if (outcome.kind === 'success') {
        this.checklist.nominate(pair);
        this.log.debug(`nominated ${pair.describe()}`);
        this.safeEmit('check', { pair: pair.info(), result: 'succeeded' });
      } else {
        pair.nominating = false;
        pair.nominationFailed = true;
        this.safeEmit('check', { pair: pair.info(), result: 'failed' });
      }
    } else if (outcome.kind === 'success') {
      const local = this.mappedLocalCandidate(record, outcome.mapped);
      const valid = this.checklist.checkSucceeded(pair, local);
      // RFC 8445 §7.3.1.5: USE-CANDIDATE arrived before this check succeeded.
      if (pair.nominateOnSuccess && this.currentRole === 'controlled') {
        pair.nominateOnSuccess = false;
        this.checklist.nominate(valid);
      }
      this.log.debug(`check succeeded ${pair.describe()}${valid !== pair ? ` (valid pair ${valid.describe()})` : ''}`);
      this.safeEmit('check', { pair: pair.info(), result: 'succeeded' });
      // RFC 8445 §12.1: "An ICE agent MAY send data on any valid pair before selected pairs have
      // been produced": announce the first one so media need not wait for nomination.
      if (!this.validAnnounced.has(pair.component)) {
        this.validAnnounced.add(pair.component);
        this.safeEmit('valid-pair', pair.component, valid.info());
      }
    } else {
      this.log.debug(`check failed ${pair.describe()}: ${outcome.reason}`);
      if (!this.checklist.checkFailed(pair)) this.safeEmit('check', { pair: pair.info(), result: 'failed' });
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
    if (sameAddress(mapped, record.base.candidate)) return record.base.candidate;
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

  private onCheckError(record: CheckRecord, err: unknown): void {
    if (this.abandoned.has(record)) return;
    this.checks.delete(record.transactionId.toString('hex'));
    if (this.currentState === 'closed') return;
    const pair = record.pair;
    if (record.nominate) {
      pair.nominating = false;
      pair.nominationFailed = true;
    } else if (pair.state === 'in-progress') {
      if (record.cancelled || err instanceof TransactionCancelledError) pair.retriggerOnFailure = false;
      this.log.debug(`check ${pair.describe()} ended: ${errorMessage(err)}`);
      if (this.checklist.checkFailed(pair)) {
        this.kick();
        return;
      }
    }
    this.safeEmit('check', { pair: pair.info(), result: 'failed' });
    this.afterCheckUpdate();
  }

  /** RFC 8445 §7.3: answering an incoming check, then §7.3.1.3-§7.3.1.5. */
  private onRequest(base: LocalBase, msg: StunMessage, from: TransportAddress): void {
    this.stats.checksReceived++;
    const verdict = judgeIncomingCheck(msg, { localUfrag: this.localUfrag, localPwd: this.localPwd, remoteUfrag: this.remoteUfrag });
    if (verdict.kind === 'drop') {
      this.stats.malformedDropped++;
      this.log.debug(`dropped request from ${formatAddress(from)}: ${verdict.reason}`);
      return;
    }
    if (verdict.kind === 'reject') {
      if (verdict.code === 401) this.stats.unauthorized401Sent++;
      if (verdict.integrityFailure) this.stats.integrityFailures++;
      this.log.debug(`answering ${verdict.code} to ${formatAddress(from)}: ${verdict.reason}`);
      base.socket.send(encodeErrorResponse(msg, verdict.code, verdict.reason, {
        localPwd: verdict.authenticated ? this.localPwd : undefined, unknownAttributes: verdict.unknownAttributes,
      }), from);
      return;
    }
    const conflict = resolveRoleConflict(this.currentRole, this.tieBreaker, verdict);
    if (conflict !== 'none') {
      this.stats.roleConflicts++;
      if (conflict === 'reject-487') {
        this.log.debug(`role conflict with ${formatAddress(from)}: answering 487`);
        base.socket.send(encodeErrorResponse(msg, 487, 'Role Conflict', { localPwd: this.localPwd }), from);
        return;
      }
      this.setRole(conflict === 'switch-to-controlled' ? 'controlled' : 'controlling');
    }
    base.socket.send(encodeSuccessResponse(msg, from, this.localPwd), from);

    const component = base.candidate.component;
    let remote = this.remoteCandidates.find((r) => r.component === component && r.transport === 'udp' && sameAddress(r, from));
    if (!remote) {
      // RFC 8445 §7.3.1.3: a peer-reflexive remote candidate, priority from PRIORITY, fresh foundation.
      remote = {
        foundation: `prflx${++this.remotePrflxCount}`,
        component, transport: 'udp', priority: verdict.priority, address: from.address, port: from.port, type: 'prflx',
      };
      this.remoteCandidates.push(remote);
      this.log.debug(`learned remote peer-reflexive candidate ${describeCandidate(remote)}`);
    }
    const added = this.checklist.addPair(base.candidate, remote);
    if (!added) return;
    const pair = added.pair;
    this.safeEmit('check', { pair: pair.info(), result: 'received' });
    // RFC 8445 §7.3.1.4: triggered check (not once this component is concluded, §8.1.2).
    if (!this.checklist.nominated(component)) this.checklist.trigger(pair);
    // RFC 8445 §7.3.1.5: the controlled agent nominates on USE-CANDIDATE.
    if (verdict.useCandidate && this.currentRole === 'controlled') {
      if (pair.state === 'succeeded' && pair.validPair) {
        if (!pair.validPair.nominated) this.checklist.nominate(pair.validPair);
      } else {
        pair.nominateOnSuccess = true;
      }
    }
    this.afterCheckUpdate();
    this.kick();
  }

  private setRole(role: IceRole, why = 'role conflict'): void {
    if (role === this.currentRole) return;
    this.log.info(`ICE role ${this.currentRole} -> ${role} (${why})`);
    this.currentRole = role;
    this.checklist.setRole(role);
  }

  /** Re-evaluates nomination, selection, conclusion and the agent state after any change. */
  private afterCheckUpdate(): void {
    if (this.currentState === 'closed' || this.currentState === 'failed') return;
    if (this.started && this.currentRole === 'controlling') this.runNomination();
    for (let c = 1; c <= this.components; c++) {
      const chosen = this.checklist.nominated(c);
      if (!chosen || this.selected.get(c) === chosen) continue;
      this.selected.set(c, chosen);
      this.log.info(`selected pair c${c}: ${chosen.describe()}`);
      this.safeEmit('selected-pair', c, chosen.info());
      this.scheduleKeepalive(c);
      // RFC 8445 §8.1.2: stop lower-priority checks of this component.
      for (const p of this.checklist.concludeComponent(c)) this.cancelChecksOf(p);
    }
    if (!this.started) return;
    const allSelected = this.selected.size === this.components;
    if (this.currentState === 'checking' && allSelected) {
      this.clock.clearTimer(this.failTimer);
      this.transition('connected');
    }
    if (this.currentState === 'connected' && this.checklist.state === 'completed' && this.checklist.inProgressCount() === 0) {
      this.transition('completed');
    }
    if (this.currentState === 'checking' && this.checklist.state === 'failed') this.fail('every candidate pair failed');
    this.kick();
  }

  private runNomination(): void {
    this.clock.clearTimer(this.nominationTimer);
    this.nominationTimer = undefined;
    const decision = this.nomination.decide(this.checklist, this.clock.now());
    for (const p of decision.nominate) {
      this.log.debug(`nominating ${p.describe()}`);
      this.checklist.queueNomination(p);
    }
    if (decision.recheckInMs !== undefined) {
      this.nominationTimer = this.clock.setTimer(decision.recheckInMs, () => {
        this.nominationTimer = undefined;
        this.afterCheckUpdate();
      });
    }
    if (decision.nominate.length) this.kick();
  }

  private cancelChecksOf(pair: CandidatePair): void {
    for (const record of this.checks.values()) {
      if (record.pair !== pair || record.nominate) continue;
      record.cancelled = true;
      this.transactions.cancel(record.transactionId);
    }
  }

  private onCheckTimeout(): void {
    this.failTimer = undefined;
    if (this.currentState !== 'checking') return;
    for (let c = 1; c <= this.components; c++) {
      if (!this.checklist.bestValid(c)) {
        this.fail(`no valid pair for component ${c} after ${this.checkTimeoutMs} ms`);
        return;
      }
    }
    this.log.warn(`valid pairs but no nomination after ${this.checkTimeoutMs} ms; media uses the best valid pairs`);
  }

  private fail(reason: string): void {
    this.log.warn(`ICE failed: ${reason}`);
    this.clock.clearTimer(this.paceTimer);
    this.paceTimer = undefined;
    this.clock.clearTimer(this.nominationTimer);
    this.clock.clearTimer(this.failTimer);
    for (const record of this.checks.values()) record.cancelled = true;
    this.transition('failed');
    this.transactions.cancelAll();
  }

  // ---------------------------------------------------------------- media

  private scheduleKeepalive(component: number): void {
    this.clock.clearTimer(this.keepaliveTimers.get(component));
    const last = this.lastSentAt.get(component) ?? this.clock.now();
    const delay = Math.max(0, last + this.keepaliveMs - this.clock.now());
    this.keepaliveTimers.set(component, this.clock.setTimer(delay, () => this.onKeepaliveTimer(component)));
  }

  /** RFC 8445 §11: a Binding indication when nothing was sent on the selected pair for Tr. */
  private onKeepaliveTimer(component: number): void {
    this.keepaliveTimers.delete(component);
    if (this.currentState === 'closed') return;
    const pair = this.selected.get(component);
    if (!pair) return;
    const last = this.lastSentAt.get(component) ?? -Infinity;
    if (this.clock.now() - last >= this.keepaliveMs) {
      const base = this.baseOf(pair.base);
      if (base) base.socket.send(encodeKeepalive(), pair.remote);
      this.lastSentAt.set(component, this.clock.now());
    }
    this.scheduleKeepalive(component);
  }

  /**
   * Sends one datagram of `component`: on the selected pair, else the best valid pair,
   * else to the fallback remote address from the default candidate's socket.
   * @returns false when there is nowhere to send.
   */
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

  send(component: number, data: Buffer): boolean {
    if (this.currentState === 'closed') return false;
    const path = this.mediaPath.get(component);
    if (path) return this.sendFrom(path.base, data, path.remote);
    const pair = this.selected.get(component) ?? this.checklist.bestValid(component) ?? this.previousSelected.get(component);
    if (pair) {
      const base = this.baseOf(pair.base);
      if (!base) return false;
      base.socket.send(data, pair.remote);
      this.lastSentAt.set(component, this.clock.now());
      return true;
    }
    const fallback = this.fallback.get(component);
    if (!fallback) return false;
    let base: LocalBase | undefined;
    try {
      base = this.baseOf(this.defaultCandidate(component));
    } catch {
      return false;
    }
    if (!base) return false;
    base.socket.send(data, fallback);
    this.lastSentAt.set(component, this.clock.now());
    return true;
  }

  /** A non-ICE peer: send() goes from the default candidate's socket to this address until a pair is valid. */
  setFallbackRemote(component: number, addr: { address: string; port: number }): void {
    this.fallback.set(component, { address: addr.address, port: addr.port });
  }

  selectedPair(component: number): CandidatePairInfo | undefined {
    return this.selected.get(component)?.info();
  }

  /** Check-list pairs and discovered valid pairs, highest priority first. */
  pairs(): CandidatePairInfo[] {
    return this.checklist.allPairs().map((p) => p.info());
  }

  // ---------------------------------------------------------------- hooks for lib/ice/alt-agent.ts
  // draft-rosenberg-sipping-ice-01 peers are served by a separate engine that reuses this agent's
  // gathered sockets; these hooks are all it needs. None of them is used on the RFC 8445 path.

  /**
   * Every decoded STUN message on every base (host and relayed) goes to `handler` first; when it
   * returns true the agent does nothing more with it. TURN traffic on a shared host socket never
   * reaches it (the TURN client takes it first). `undefined` removes the interceptor.
   */
  interceptStun(handler: StunInterceptor | undefined): void {
    this.stunInterceptor = handler;
  }

  /** The candidates that own a socket: host candidates and relayed ones (not srflx/prflx). */
  baseCandidates(): Candidate[] {
    return this.bases.map((b) => ({ ...b.candidate }));
  }

  /**
   * Sends one datagram from a given local candidate: a host or relayed candidate sends from its own
   * socket (a relayed one through its TURN allocation), a server-reflexive one from its base.
   * @returns false when that candidate has no open socket.
   */
  sendFrom(local: Candidate, data: Buffer, to: { address: string; port: number }): boolean {
    if (this.currentState === 'closed') return false;
    const base = this.baseOf(local);
    if (!base || base.socket.closed) return false;
    base.socket.send(data, to);
    this.lastSentAt.set(local.component, this.clock.now());
    return true;
  }

  /**
   * Overrides where `send(component)` puts media (the alt engine's chosen alternate and the local
   * candidate it must be sent from, draft §7); `undefined` restores the RFC 8445 behaviour.
   */
  setMediaPath(component: number, path: { base: Candidate; remote: { address: string; port: number } } | undefined): void {
    if (path) this.mediaPath.set(component, { base: { ...path.base }, remote: { address: path.remote.address, port: path.remote.port } });
    else this.mediaPath.delete(component);
  }

  /**
   * Frees a relayed candidate (closes its socket: TURN Refresh with LIFETIME 0) and withdraws it
   * from the local candidates. Used by the alt engine's draft §5.5 rule. Host candidates are not
   * released (their socket also carries everything else).
   * @returns false when `relay` is not a live relayed candidate of this agent.
   */
  async releaseRelay(relay: Candidate): Promise<boolean> {
    const base = this.relayBases.find((b) => b.candidate.component === relay.component && sameAddress(b.candidate, relay));
    if (!base) return false;
    this.relayBases = this.relayBases.filter((b) => b !== base);
    this.bases = this.bases.filter((b) => b !== base);
    this.localCandidates = this.localCandidates.filter((c) => !(c.type === 'relay' && c.component === relay.component && sameAddress(c, relay)));
    this.log.info(`released relayed candidate ${describeCandidate(relay)}`);
    await base.socket.close();
    return true;
  }

  /** Local transport addresses the agent's sockets are bound to (one per component per address). */
  localSockets(): Array<{ component: number; local: TransportAddress }> {
    return this.bases.map((b) => ({ component: b.candidate.component, local: b.socket.local }));
  }

  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.transition('closed');
    this.clock.clearTimer(this.paceTimer);
    this.clock.clearTimer(this.failTimer);
    this.clock.clearTimer(this.nominationTimer);
    for (const t of this.keepaliveTimers.values()) this.clock.clearTimer(t);
    this.keepaliveTimers.clear();
    for (const record of this.checks.values()) record.cancelled = true;
    this.transactions.cancelAll();
    this.checks.clear();
    // Relays first: their deallocation (Refresh, LIFETIME 0) may still need the host socket.
    await Promise.all(this.relayBases.map((b) => b.socket.close()));
    await Promise.all(this.bases.map((b) => b.socket.close()));
  }
}
