/**
 * The connectivity procedures of draft-rosenberg-sipping-ice-01 (§5.2-§5.8), run for a peer that
 * speaks `a=alt` (§7). The RFC 8445 agent (agent.ts) still gathers the local bases (host,
 * server-reflexive, relayed); this engine works on the same base set (`SharedBases`,
 * lib/ice/local-bases.ts: `interceptStun`, `sendFrom`, `setMediaPath`, `releaseRelay`) and never
 * runs RFC 8445 checks.
 *
 * What it does:
 * - Local alternates (§5.3, §5.4): one per gathered candidate of component 1 (its component 2
 *   candidate as the RTCP pair), qvalue host 1.0 > server reflexive 0.8 > relayed 0.4 (each lowered
 *   by 0.01 per further address of the same kind), plus peer derived ones (below). Each alternate
 *   has its own random username/password (§7 RECOMMENDS distinct ones; §5.2 wants them globally
 *   unique: 96 random bits each).
 * - STUN server (§5.2, lib/stun/server.ts) on every base: accepts only this dialog's credentials;
 *   another dialog's username gets 430 and never counts. An accepted request tells us which of our
 *   alternates the peer reached (by the username, not by the socket, §5.5).
 * - Checks (§5.5, §5.7): an RFC 3489 Binding request (lib/stun/legacy.ts) from each host base of
 *   the component to each peer alternate, in parallel; to a peer alternate whose derived-from names
 *   one of our alternates, only from that alternate's base (§7: media to it "MUST" be sent from
 *   there; for our relayed alternate that means through the TURN allocation). RFC 3489 §9.3 timing
 *   (100 ms doubling, 7 sends, given up at 9.5 s). Error responses per §5.5: 401/430/432/500 retried
 *   (at most `maxRetries` times: a foreign server's 430 never turns into success), 400/431/600 and
 *   others not: like a timeout, no connectivity.
 * - Peer derived addresses (§5.5): a MAPPED-ADDRESS differing from every address we have is a new
 *   local alternate with the qvalue of the peer alternate it came through and derived-from = its id.
 * - Media (§5.5): to the best verified peer alternate, ranked by qvalue, then peer derived over not
 *   (§5.5 "a STUN derived address always has higher priority"), then the peer's order
 *   (`qvalueToPriority`), from the base the check was sent from. Only upgrades: "once an agent sends
 *   media to a transport address with a specified priority, it MUST NOT ... send media to a
 *   connected transport address with a lower priority".
 * - Additional offer/answer (§5.8): a newly learned address is worth a new offer only if its
 *   qvalue is higher than that of every alternate the peer already reached; decided
 *   `renegotiationDelayMs` after learning it (the peer's checks are still arriving then), emitted
 *   as 'renegotiate' for the signalling layer.
 * - Freeing relays (§5.5): a relayed alternate R is released (TURN deallocated) no earlier than
 *   3 s after the peer reached an alternate X outranking R, under the rule below.
 *
 * ## The open issue of §9.1.2 (both sides free their relays, nothing works), resolved
 * A relay may be load-bearing in two ways: as the *destination* of the peer's media, and as the
 * *source* of ours (a peer alternate derived from R must be sent to from R, §7). We release our
 * relayed alternate R only when, at the end of the 3 s window, all of these hold:
 *  1. the peer reached an alternate X of ours that outranks R (higher qvalue, or equal qvalue and X
 *     peer derived, §5.5) and X's own base is not R (X learned through R would die with it);
 *  2. none of our media paths sends from R, i.e. we are not using a peer alternate derived from R;
 *  3. we have a verified media path of our own (never release while still searching).
 * By (1) the peer has verified X, and as it only ever upgrades, it leaves R; by (2) whichever side
 * sends through its own relay to the other's peer derived address keeps that relay. In §9.1.2, B
 * reached A's relay (3) and A sends to B's alternate 7, derived from 3, so from its relay: A keeps
 * its relay, B frees its own, and media flows both ways through A's relay. If A also offered a peer
 * derived address learned through B's relay, B's path to it would send from B's relay and B would
 * keep it: at least one relay on every live path survives, so the two sides are never both cut off.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { StateError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { silentLogger, type Logger } from '../base/log.js';
import { formatQvalue } from '../base/qvalue.js';
import { familyOf, formatAddress, sameAddress, type TransportAddress } from '../net/socket.js';
import { buildLegacyBindingRequest, judgeLegacyResponse, legacyKey } from '../stun/legacy.js';
import { StunAttr, type StunMessage } from '../stun/message.js';
import { DialogStunServer } from '../stun/server.js';
import { ErrorResponseLimiter } from '../stun/error-response-limiter.js';
import { StunTransactionManager } from '../stun/transaction.js';
import type { SharedBases } from './local-bases.js';
import { alternatesToCandidates, qvalueToPriority, type AltCandidate } from './alternate.js';
import { describeCandidate, type Candidate } from './candidate.js';

export type AltState = 'new' | 'checking' | 'connected' | 'failed' | 'closed';

const STATE_PREDECESSORS: Record<AltState, readonly AltState[]> = {
  new: [],
  checking: ['new'],
  connected: ['checking', 'failed'],
  failed: ['checking'],
  closed: ['new', 'checking', 'connected', 'failed'],
};

/** One of our alternates and the sockets behind it. */
export interface LocalAlternate {
  alt: AltCandidate;
  kind: 'host' | 'srflx' | 'relay' | 'peer-derived';
  /** Per component: the candidate whose socket sends for this alternate (host or relayed). */
  bases: Map<number, Candidate>;
  /** Set once the peer's authenticated request named this alternate (§5.5). */
  reachedAt?: number;
  released?: boolean;
  /** Carried in an offer or answer already (§5.8 counts only new addresses). */
  announced?: boolean;
}

/** A verified way to the peer: one of its alternates, reached from one of our bases. */
export interface AltPath {
  component: number;
  remote: AltCandidate;
  /** The peer alternate's address for this component (RTP, or its RTCP pair / port + 1). */
  remoteAddress: { address: string; port: number };
  base: Candidate;
  /** Rank among the peer's alternates (`qvalueToPriority`): higher is preferred. */
  priority: number;
}

export interface AltCheckInfo {
  component: number;
  remote: AltCandidate;
  base: Candidate;
  result: 'sent' | 'succeeded' | 'failed' | 'rejected';
  detail?: string;
}

export interface AltAgentEvents {
  state: [AltState];
  /** Media for `component` now goes along `path` (first one, or an upgrade). */
  path: [AltPath];
  check: [AltCheckInfo];
  /** The peer's authenticated request reached our alternate. */
  'peer-reached': [LocalAlternate];
  /** A peer derived address was learned (a new local alternate). */
  'local-alternate': [LocalAlternate];
  /** §5.8: a new offer/answer is worth doing. */
  renegotiate: [reason: string];
  /** A relayed alternate was freed (§5.5). */
  released: [LocalAlternate];
}

export interface AltAgentOptions {
  /** The local bases gathered by the RFC 8445 agent (`IceAgent.sharedBases()`; that agent is never `start()`ed). */
  bases: SharedBases;
  /** Components in use (1 with rtcp-mux). Can be lowered with `useComponents` before `setRemote`. */
  components: number;
  clock?: Clock;
  log?: Logger;
  /** RFC 3489 §9.3: first retransmission after 100 ms, doubling. */
  rtoMs?: number;
  /** Transmissions per check (default 7: sends at 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s). */
  maxRequests?: number;
  /** Wait after the last send, in RTOs (default 32: the check fails at 9.5 s as in RFC 3489). */
  lastWaitFactor?: number;
  /** Retries after a retriable error response (draft §5.5), default 2. */
  maxRetries?: number;
  /** Delay before a retry, default 200 ms. */
  retryDelayMs?: number;
  /** §5.5: free a relay no earlier than this after the peer proved a better address. Default 3000. */
  relayReleaseDelayMs?: number;
  /** §5.8 decision delay after a peer derived address is learned. Default 2000. */
  renegotiationDelayMs?: number;
  /** No verified path for component 1 this long after `setRemote`: state 'failed'. Default 10000. */
  checkTimeoutMs?: number;
  /** Extra alternates appended to ours as-is (tests: an alternate served by another process). */
  extraAlternates?: AltCandidate[];
}

interface CheckState {
  key: string;
  component: number;
  remote: AltCandidate;
  remoteIndex: number;
  remoteAddress: { address: string; port: number };
  base: Candidate;
  retries: number;
  done: boolean;
  transactionId?: Buffer;
}

const CRED_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let s = '';
  for (let i = 0; i < length; i++) s += CRED_CHARS[bytes[i]! % CRED_CHARS.length];
  return s;
}

function clampQ(q: number): number {
  return Math.max(0, Math.min(1, Math.round(q * 1000) / 1000));
}

/** The peer alternate's address for `component`: RTP, else its RTCP pair, else port + 1 (§7). */
export function alternateAddress(alt: AltCandidate, component: number): { address: string; port: number } | undefined {
  if (component === 1) return { address: alt.address, port: alt.port };
  if (alt.rtcpAddress !== undefined && alt.rtcpPort !== undefined) return { address: alt.rtcpAddress, port: alt.rtcpPort };
  return alt.port < 65535 ? { address: alt.address, port: alt.port + 1 } : undefined;
}

/** draft §5.5: X outranks Y when its qvalue is higher, or equal and X is peer derived and Y is not. */
export function outranks(x: AltCandidate, y: AltCandidate): boolean {
  const qx = Math.round(x.qvalue * 1000);
  const qy = Math.round(y.qvalue * 1000);
  return qx > qy || (qx === qy && x.derivedFrom !== null && y.derivedFrom === null);
}

export class AltAgent extends TypedEmitter<AltAgentEvents> {
  private readonly bases: SharedBases;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly server: DialogStunServer;
  private readonly transactions: StunTransactionManager;
  private readonly locals: LocalAlternate[] = [];
  private remotes: AltCandidate[] = [];
  private readonly checks = new Map<string, CheckState>();
  private readonly byTransaction = new Map<string, CheckState>();
  private readonly paths = new Map<number, AltPath>();
  private readonly timers = new Set<TimerHandle>();
  private currentState: AltState = 'new';
  private nextId = 1;
  private components: number;
  private failTimer?: TimerHandle;
  private renegotiationTimer?: TimerHandle;
  private readonly releaseTimers = new Map<LocalAlternate, TimerHandle>();

  constructor(private readonly opts: AltAgentOptions) {
    super();
    this.bases = opts.bases;
    this.clock = opts.clock ?? systemClock;
    this.server = new DialogStunServer(new ErrorResponseLimiter(this.clock));
    this.log = opts.log ?? silentLogger;
    this.components = opts.components;
    this.transactions = new StunTransactionManager(this.clock);
    this.buildLocalAlternates();
    this.bases.interceptStun((base, msg, from) => this.onStun(base, msg, from));
  }

  get state(): AltState { return this.currentState; }

  /** The STUN server's counters (rejections include other dialogs' checks, §5.2). */
  get serverStats(): DialogStunServer['stats'] { return this.server.stats; }

  private transition(to: AltState): void {
    if (this.currentState === to) return;
    if (!STATE_PREDECESSORS[to].includes(this.currentState)) throw new StateError(`alt engine: illegal transition ${this.currentState} -> ${to}`);
    this.currentState = to;
    this.log.debug(`alt state ${to}`);
    this.safeEmit('state', to);
  }

  // ---------------------------------------------------------------- local alternates

  private newCredential(): { username: string; password: string } {
    return { username: randomToken(16), password: randomToken(16) };
  }

  private buildLocalAlternates(): void {
    const all = this.bases.localCandidates.filter((c) => c.transport === 'udp');
    const counts = { host: 0, srflx: 0, relay: 0 };
    const baseQ = { host: 1.0, srflx: 0.8, relay: 0.4 };
    const usedRtcp = new Set<Candidate>();
    for (const c of all.filter((x) => x.component === 1 && x.type !== 'prflx')) {
      const kind = c.type as 'host' | 'srflx' | 'relay';
      const qvalue = clampQ(baseQ[kind] - 0.01 * counts[kind]++);
      const rtcp = all.find((x) => x.component === 2 && x.type === c.type && x.foundation === c.foundation && !usedRtcp.has(x));
      if (rtcp) usedRtcp.add(rtcp);
      const alt: AltCandidate = { id: String(this.nextId++), qvalue, derivedFrom: null, ...this.newCredential(), address: c.address, port: c.port };
      const bases = new Map<number, Candidate>();
      const b1 = this.baseFor(c);
      if (b1) bases.set(1, b1);
      if (rtcp) {
        alt.rtcpAddress = rtcp.address;
        alt.rtcpPort = rtcp.port;
        const b2 = this.baseFor(rtcp);
        if (b2) bases.set(2, b2);
      }
      this.addLocal({ alt, kind, bases });
    }
    for (const extra of this.opts.extraAlternates ?? []) {
      // Test hook: advertised, never served by us (no credential registered, no base).
      this.locals.unshift({ alt: { ...extra }, kind: 'host', bases: new Map() });
    }
  }

  /** The socket-owning candidate that sends for `c`: itself (host, relay) or its base (srflx). */
  private baseFor(c: Candidate): Candidate | undefined {
    const bases = this.bases.baseCandidates();
    if (c.type === 'host' || c.type === 'relay') return bases.find((b) => b.component === c.component && b.type === c.type && sameAddress(b, c));
    if (c.relatedAddress === undefined || c.relatedPort === undefined) return undefined;
    const related = { address: c.relatedAddress, port: c.relatedPort };
    return bases.find((b) => b.component === c.component && b.type === 'host' && sameAddress(b, related));
  }

  private addLocal(local: LocalAlternate): void {
    this.locals.push(local);
    this.server.add({ username: local.alt.username, password: local.alt.password, id: local.alt.id });
  }

  /** Our alternates to put in an offer or answer (§5.4, §5.6), best first; freed relays left out. */
  localAlternates(): AltCandidate[] {
    const live = this.locals.filter((l) => !l.released).map((l) => l.alt);
    return [...live].sort((a, b) => b.qvalue - a.qvalue || (a.derivedFrom === null ? 1 : 0) - (b.derivedFrom === null ? 1 : 0)).map((a) => {
      const out: AltCandidate = { ...a };
      if (this.components < 2) {
        delete out.rtcpAddress;
        delete out.rtcpPort;
      }
      return out;
    });
  }

  /** All local alternates with their state (for tests and the summary). */
  localAlternateStates(): readonly LocalAlternate[] {
    return this.locals;
  }

  /** The peer's alternates as candidates (for the `--json` summary). */
  remoteCandidates(): Candidate[] {
    return alternatesToCandidates(this.remotes, { impliedRtcp: this.components >= 2 }).filter((c) => c.component <= this.components);
  }

  /** Lowers the component count (rtcp-mux agreed) before checks start. */
  useComponents(count: number): void {
    if (this.currentState !== 'new') throw new StateError('useComponents() after setRemote()');
    this.components = Math.min(this.components, count);
    for (const l of this.locals) for (const c of [...l.bases.keys()]) if (c > this.components) l.bases.delete(c);
  }

  // ---------------------------------------------------------------- checks

  /**
   * The peer's alternates from an offer or answer (§5.5, §5.7); may be called again with a later
   * offer/answer (§5.8): alternates already checked are not checked again.
   */
  setRemote(alternates: AltCandidate[]): void {
    if (this.currentState === 'closed') return;
    this.remotes = alternates.map((a) => ({ ...a }));
    if (this.currentState === 'new') {
      this.transition('checking');
      const timeout = this.opts.checkTimeoutMs ?? 10000;
      this.failTimer = this.clock.setTimer(timeout, () => {
        this.failTimer = undefined;
        if (this.currentState === 'checking' && !this.paths.has(1)) {
          this.log.warn(`alt: no alternate of the peer answered within ${timeout} ms`);
          this.transition('failed');
        }
      });
    }
    this.remotes.forEach((remote, index) => {
      for (let component = 1; component <= this.components; component++) {
        const to = alternateAddress(remote, component);
        if (!to) continue;
        for (const base of this.sendersFor(remote, component, to)) this.startCheck(remote, index, component, to, base);
      }
    });
  }

  /** §5.5 / §7: which of our bases check (and later send media to) a peer alternate. */
  private sendersFor(remote: AltCandidate, component: number, to: { address: string; port: number }): Candidate[] {
    if (remote.derivedFrom !== null) {
      const from = this.locals.find((l) => l.alt.id === remote.derivedFrom && !l.released);
      const base = from?.bases.get(component);
      if (!base) {
        this.log.debug(`alt: peer alternate ${remote.id} is derived from ${remote.derivedFrom}, which is not a live alternate of ours: not checked`);
        return [];
      }
      return [base];
    }
    const family = familyOf(to.address);
    return this.bases.baseCandidates().filter((b) => b.component === component && b.type === 'host' && familyOf(b.address) === family);
  }

  private startCheck(remote: AltCandidate, remoteIndex: number, component: number, to: { address: string; port: number }, base: Candidate): void {
    const key = `${remote.id}|${remote.address}|${remote.port}|${component}|${base.address}|${base.port}`;
    if (this.checks.has(key)) return;
    const check: CheckState = { key, component, remote, remoteIndex, remoteAddress: to, base, retries: 0, done: false };
    this.checks.set(key, check);
    this.sendCheck(check);
  }

  private sendCheck(check: CheckState): void {
    if (this.currentState === 'closed') return;
    const request = buildLegacyBindingRequest({ username: check.remote.username, password: check.remote.password });
    const id = request.transactionId.toString('hex');
    check.transactionId = request.transactionId;
    this.byTransaction.set(id, check);
    this.safeEmit('check', { component: check.component, remote: check.remote, base: check.base, result: 'sent' });
    this.log.trace(`alt: check ${describeCandidate(check.base)} -> alternate ${check.remote.id} ${formatAddress(check.remoteAddress)}`);
    this.transactions
      .request(request, (bytes) => {
        if (!this.bases.sendFrom(check.base, bytes, check.remoteAddress)) throw new Error(`base ${describeCandidate(check.base)} is closed`);
      }, {
        rtoMs: this.opts.rtoMs ?? 100,
        maxRequests: this.opts.maxRequests ?? 7,
        lastWaitFactor: this.opts.lastWaitFactor ?? 32,
        integrityKey: legacyKey(check.remote.password),
        verifyResponses: true,
      })
      .then(
        (response) => {
          this.byTransaction.delete(id);
          this.onCheckResponse(check, response.message, response.from);
        },
        (err: unknown) => {
          this.byTransaction.delete(id);
          this.finishCheck(check, 'failed', errorMessage(err));
        },
      );
  }

  private finishCheck(check: CheckState, result: 'failed' | 'rejected', detail: string): void {
    if (check.done || this.currentState === 'closed') return;
    check.done = true;
    this.log.debug(`alt: check to alternate ${check.remote.id} ${formatAddress(check.remoteAddress)} from ${describeCandidate(check.base)} ${result}: ${detail}`);
    this.safeEmit('check', { component: check.component, remote: check.remote, base: check.base, result, detail });
  }

  private onCheckResponse(check: CheckState, msg: StunMessage, from: TransportAddress): void {
    if (this.currentState === 'closed' || check.done) return;
    const outcome = judgeLegacyResponse(msg, from, check.remoteAddress, check.remote.password);
    if (outcome.kind === 'invalid') {
      this.finishCheck(check, 'failed', outcome.reason);
      return;
    }
    if (outcome.kind === 'error') {
      if (outcome.disposition === 'retry' && check.retries < (this.opts.maxRetries ?? 2)) {
        check.retries++;
        this.log.debug(`alt: alternate ${check.remote.id} answered ${outcome.code}: retry ${check.retries}`);
        this.later(this.opts.retryDelayMs ?? 200, () => this.sendCheck(check));
        return;
      }
      // draft §5.5: "treated identically to a timeout, so that it is equal to no connectivity at all".
      this.finishCheck(check, 'rejected', outcome.reason);
      return;
    }
    check.done = true;
    // The peer answered from the address we checked: its media may come from there (draft §5.5).
    this.bases.trustMediaFrom(check.component, check.remoteAddress);
    this.safeEmit('check', { component: check.component, remote: check.remote, base: check.base, result: 'succeeded' });
    this.log.debug(`alt: alternate ${check.remote.id} ${formatAddress(check.remoteAddress)} reachable from ${describeCandidate(check.base)} (mapped ${formatAddress(outcome.mapped)})`);
    this.learnPeerDerived(check, outcome.mapped);
    const path: AltPath = {
      component: check.component,
      remote: check.remote,
      remoteAddress: check.remoteAddress,
      base: check.base,
      priority: qvalueToPriority(check.remote.qvalue, { peerDerived: check.remote.derivedFrom !== null, index: check.remoteIndex }),
    };
    this.offerPath(path);
  }

  /** §5.5: only a higher-priority verified alternate replaces the one media goes to. */
  private offerPath(path: AltPath): void {
    const current = this.paths.get(path.component);
    if (current && current.priority >= path.priority) return;
    if (this.isReleasedBase(path.base)) return;
    this.paths.set(path.component, path);
    this.bases.setMediaPath(path.component, { base: path.base, remote: path.remoteAddress });
    this.log.info(`alt: media for component ${path.component} to alternate ${path.remote.id} ${formatAddress(path.remoteAddress)} (q ${formatQvalue(path.remote.qvalue)}${path.remote.derivedFrom !== null ? `, derived from ${path.remote.derivedFrom}` : ''}) from ${describeCandidate(path.base)}`);
    this.safeEmit('path', path);
    if (path.component === 1 && (this.currentState === 'checking' || this.currentState === 'failed')) {
      this.clock.clearTimer(this.failTimer);
      this.transition('connected');
    }
    this.evaluateReleases();
  }

  /** The media path of a component, if one is verified. */
  path(component: number): AltPath | undefined {
    return this.paths.get(component);
  }

  /** §5.5: a MAPPED-ADDRESS we do not have is a peer derived transport address. */
  private learnPeerDerived(check: CheckState, mapped: TransportAddress): void {
    const known = this.bases.localCandidates.some((c) => c.component === check.component && sameAddress(c, mapped))
      || sameAddress(mapped, check.base)
      || this.locals.some((l) => (check.component === 1 ? sameAddress(l.alt, mapped) : l.alt.rtcpAddress !== undefined && sameAddress({ address: l.alt.rtcpAddress, port: l.alt.rtcpPort! }, mapped)));
    if (known) return;
    if (check.component === 2) {
      // The RTCP half of a peer derived alternate learned through the same peer alternate.
      const owner = this.locals.find((l) => l.kind === 'peer-derived' && l.alt.derivedFrom === check.remote.id && l.alt.rtcpAddress === undefined);
      if (owner) {
        owner.alt.rtcpAddress = mapped.address;
        owner.alt.rtcpPort = mapped.port;
        owner.bases.set(2, check.base);
      }
      return;
    }
    const alt: AltCandidate = { id: String(this.nextId++), qvalue: check.remote.qvalue, derivedFrom: check.remote.id, ...this.newCredential(), address: mapped.address, port: mapped.port };
    const local: LocalAlternate = { alt, kind: 'peer-derived', bases: new Map([[1, check.base]]) };
    this.addLocal(local);
    this.log.info(`alt: peer derived address ${formatAddress(mapped)} (q ${formatQvalue(alt.qvalue)}, derived from ${check.remote.id}) as alternate ${alt.id}`);
    this.safeEmit('local-alternate', local);
    this.scheduleRenegotiationDecision();
  }

  // ---------------------------------------------------------------- STUN server side

  private onStun(base: Candidate, msg: StunMessage, from: TransportAddress): boolean {
    if (this.currentState === 'closed') return false;
    if (msg.messageClass === 'success' || msg.messageClass === 'error') {
      return this.byTransaction.has(msg.transactionId.toString('hex')) ? (this.transactions.handleResponse(msg, from), true) : false;
    }
    if (msg.messageClass !== 'request') return false;
    // RFC 8445 checks (USERNAME "ufrag:ufrag", magic cookie) are the ICE agent's, when an offer carried both formats.
    const username = msg.getUsername();
    if (!msg.legacy && username !== undefined && username.includes(':') && !this.server.has(username)) return false;
    if (!msg.legacy && msg.has(StunAttr.PRIORITY) && (username === undefined || !this.server.has(username))) return false;
    const result = this.server.handle(msg, from, base, (bytes, to) => void this.bases.sendFrom(base, bytes, to));
    if (result.kind === 'rejected') {
      this.log.debug(`alt: rejected request on ${describeCandidate(base)}: ${result.code} ${result.reason}`);
      return true;
    }
    // An authenticated request from `from` (it holds this dialog's credentials): the peer sends
    // its media from there, whatever path we chose to send ours on (draft §5.6, one-way paths).
    this.bases.trustMediaFrom(base.component, from);
    const local = this.locals.find((l) => l.alt.id === result.credential.id);
    if (local && local.reachedAt === undefined) {
      local.reachedAt = this.clock.now();
      this.log.debug(`alt: peer reached our alternate ${local.alt.id} ${formatAddress(local.alt)} (q ${formatQvalue(local.alt.qvalue)})`);
      this.safeEmit('peer-reached', local);
      this.scheduleReleasesAfterReach(local);
    }
    return true;
  }

  // ---------------------------------------------------------------- §5.8

  private scheduleRenegotiationDecision(): void {
    if (this.renegotiationTimer) return;
    this.renegotiationTimer = this.later(this.opts.renegotiationDelayMs ?? 2000, () => {
      this.renegotiationTimer = undefined;
      const reason = this.renegotiationReason();
      if (reason) {
        this.log.info(`alt: new offer/answer: ${reason}`);
        this.safeEmit('renegotiate', reason);
      }
    });
  }

  /**
   * §5.8: "if the qvalue of those new gathered addresses is lower than the qvalue for an address
   * that the peer has established connectivity to, the agent SHOULD NOT initiate a new offer/answer
   * exchange just to convey this address" (and §9.1.2 does not for an equal one either). Returns why
   * a new exchange is worth it, or undefined.
   */
  renegotiationReason(): string | undefined {
    const reached = this.locals.filter((l) => l.reachedAt !== undefined && !l.released);
    const best = reached.reduce((q, l) => Math.max(q, Math.round(l.alt.qvalue * 1000)), -1);
    const fresh = this.locals.filter((l) => l.kind === 'peer-derived' && !l.released && !l.announced && Math.round(l.alt.qvalue * 1000) > best);
    if (fresh.length === 0) return undefined;
    return `peer derived ${fresh.map((l) => `${formatAddress(l.alt)} (q ${formatQvalue(l.alt.qvalue)})`).join(', ')} outrank${fresh.length === 1 ? 's' : ''} every alternate the peer reached${best < 0 ? ' (none yet)' : ` (best q ${formatQvalue(best / 1000)})`}`;
  }

  /** Marks the current local alternates as conveyed to the peer (an offer or answer carried them). */
  markAnnounced(): void {
    for (const l of this.locals) l.announced = true;
  }

  // ---------------------------------------------------------------- §5.5 relay release

  private scheduleReleasesAfterReach(reached: LocalAlternate): void {
    for (const relay of this.locals.filter((l) => l.kind === 'relay' && !l.released)) {
      if (this.releaseTimers.has(relay) || !outranks(reached.alt, relay.alt)) continue;
      // "Such an address SHOULD be freed no earlier than 3 seconds after receipt of the STUN request."
      this.armReleaseTimer(relay, reached.reachedAt! + (this.opts.relayReleaseDelayMs ?? 3000));
    }
  }

  /** Re-evaluates at `at` (clock time); re-arms if the timer fired early (system timers may, by a millisecond). */
  private armReleaseTimer(relay: LocalAlternate, at: number): void {
    this.releaseTimers.set(relay, this.later(Math.max(1, at - this.clock.now()), () => {
      if (this.clock.now() < at) return this.armReleaseTimer(relay, at);
      this.releaseTimers.delete(relay);
      this.evaluateReleases();
    }));
  }

  /** Releases every relayed alternate the rule in the module comment allows (timers must have run). */
  private evaluateReleases(): void {
    if (this.currentState === 'closed') return;
    const now = this.clock.now();
    const delay = this.opts.relayReleaseDelayMs ?? 3000;
    for (const relay of this.locals.filter((l) => l.kind === 'relay' && !l.released)) {
      if (this.releaseTimers.has(relay)) continue;
      const relayBases = [...relay.bases.values()];
      const onRelay = (c: Candidate) => relayBases.some((b) => b.component === c.component && sameAddress(b, c));
      // 1. The peer reached something better that does not itself go through this relay, 3 s ago.
      const better = this.locals.some((x) => x !== relay && !x.released && x.reachedAt !== undefined && now - x.reachedAt >= delay
        && outranks(x.alt, relay.alt) && ![...x.bases.values()].some(onRelay));
      if (!better) continue;
      // 2. None of our media paths sends from it.
      if ([...this.paths.values()].some((p) => onRelay(p.base))) continue;
      // 3. We have a path of our own.
      if (!this.paths.has(1)) continue;
      relay.released = true;
      this.server.remove(relay.alt.username);
      this.log.info(`alt: freeing relayed alternate ${relay.alt.id} ${formatAddress(relay.alt)}: the peer reached a higher-priority address`);
      for (const b of relayBases) void this.bases.releaseRelay(b).catch((e) => this.log.warn(`alt: releasing relay: ${errorMessage(e)}`));
      this.safeEmit('released', relay);
    }
  }

  private isReleasedBase(base: Candidate): boolean {
    return this.locals.some((l) => l.released && [...l.bases.values()].some((b) => b.component === base.component && sameAddress(b, base)));
  }

  // ---------------------------------------------------------------- lifecycle

  private later(ms: number, fn: () => void): TimerHandle {
    const handle: TimerHandle = this.clock.setTimer(ms, () => {
      this.timers.delete(handle);
      if (this.currentState !== 'closed') fn();
    });
    this.timers.add(handle);
    return handle;
  }

  /** Stops checks and timers and gives the sockets back to the ICE agent (which closes them). */
  close(): void {
    if (this.currentState === 'closed') return;
    this.transition('closed');
    this.clock.clearTimer(this.failTimer);
    for (const t of this.timers) this.clock.clearTimer(t);
    this.timers.clear();
    this.transactions.cancelAll();
    this.bases.interceptStun(undefined);
    for (let c = 1; c <= this.components; c++) this.bases.setMediaPath(c, undefined);
  }
}
