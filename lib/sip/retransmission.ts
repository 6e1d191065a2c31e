import type { Clock, TimerHandle } from '../base/clock.js';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';

/**
 * RFC 3261 §17 retransmission timers over unreliable transports, which sip.js 0.21.2 lacks.
 *
 * Choice: a layer inside our transport, keyed by top-Via branch + CSeq method, rather than a
 * patch of sip.js. Why:
 *  - sip.js's transactions leave Timer A (`invite-client-transaction` FIXME), Timer E
 *    (`non-invite-client-transaction` FIXME) and Timer G (`invite-server-transaction`
 *    `timerG() {}`) empty, and `core/timers` sets D/I/J/K to 0. All of these matter only
 *    on an unreliable transport, and only the transport knows whether it is reliable.
 *  - A transport-level layer sees every message on the wire (including sip.js's stateless
 *    replies, e.g. the 200 to CANCEL, which no sip.js transaction retransmits or caches),
 *    runs on our `Clock` (so it is unit-tested under ManualClock), and survives sip.js
 *    upgrades without a patch to re-base.
 *  - We do NOT change sip.js's `Timers` object: raising D/I/J/K there would be global
 *    (also for TCP, where RFC 3261 wants them 0) and would make sip.js hold transactions
 *    that this layer already answers for. With them at 0 sip.js frees transactions at once
 *    and this layer absorbs what arrives late.
 *
 * What the layer does (UDP only; the transport bypasses it on TCP):
 *  - Timer A (§17.1.1.2): resend an INVITE at T1, 2·T1, 4·T1… until any response or 64·T1.
 *  - Timer E (§17.1.2.2): resend a non-INVITE at T1, doubling, capped at T2; every T2 once a
 *    provisional arrived; until a final response or 64·T1 (Timer F).
 *  - Timer G (§17.2.1): resend a 300-699 final response to INVITE at T1, doubling, capped
 *    at T2, until the ACK arrives or 64·T1 (Timer H).
 *  - Timer D (§17.1.1.2, 32 s): a retransmitted 300-699 to our INVITE is absorbed and the
 *    ACK sent for it is sent again ("Any retransmissions of the final response that are
 *    received while in the Completed state MUST cause the ACK to be re-passed").
 *  - Timer I (T4): retransmitted ACKs (and INVITEs) after the ACK are absorbed.
 *  - Timer J (64·T1): the final response to a non-INVITE request is kept; a retransmitted
 *    request is answered from that cache and not passed up.
 *  - Timer K (T4): retransmitted final responses to our non-INVITE requests are absorbed.
 *
 * Not done here because sip.js already does it:
 *  - 2xx retransmission to INVITE by the UAS core (RFC 3261 §13.3.1.4): sip.js's session
 *    dialog resends the 2xx at T1 doubling to T2 until the ACK (`invite2xxTimer`).
 *  - ACK to a retransmitted 2xx: sip.js's INVITE client transaction keeps the ACK in its
 *    `ackRetransmissionCache` and resends it; 2xx responses are always passed up.
 *  - Provisional response retransmission on a retransmitted INVITE: sip.js's INVITE server
 *    transaction resends its last provisional while in Proceeding.
 */
export interface Peer {
  address: string;
  port: number;
}

export interface RetransmissionTimers {
  /** RTT estimate, 500 ms (RFC 3261 §17.1.1.1). */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s. */
  T2: number;
  /** Maximum time a message stays in the network, 5 s. */
  T4: number;
}

export const DEFAULT_TIMERS: RetransmissionTimers = { T1: 500, T2: 4000, T4: 5000 };

/** What the transport should do with a received message. */
export type Verdict = 'deliver' | 'absorb';

export interface RetransmissionStats {
  /** Messages this layer sent again: timer A/E/G retransmissions, re-sent ACKs, cached responses. */
  retransmissionsSent: number;
  /** Received duplicates this layer answered or dropped instead of passing them to sip.js. */
  retransmissionsAbsorbed: number;
}

export interface RetransmissionOptions {
  clock: Clock;
  /** Puts bytes on the wire again (the transport counts and traces them). */
  send: (wire: Buffer, to: Peer, why: string) => void;
  timers?: Partial<RetransmissionTimers>;
  log?: Logger;
}

type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed';

interface ClientTransaction {
  method: string;
  branch: string;
  wire: Buffer;
  to: Peer;
  state: ClientState;
  startedAt: number;
  interval: number;
  retransmit?: TimerHandle;
  expiry?: TimerHandle;
  /** ACK sent for a 300-699 final response (INVITE only). */
  ack?: { wire: Buffer; to: Peer };
}

interface ServerTransaction {
  method: string;
  branch: string;
  /** The final response we sent (300-699 for INVITE, any final for non-INVITE). */
  wire: Buffer;
  to: Peer;
  acked: boolean;
  interval: number;
  retransmit?: TimerHandle;
  expiry?: TimerHandle;
}

const keyOf = (branch: string, method: string) => `${branch}|${method.toUpperCase()}`;

/**
 * The bytes of a message this layer keeps for up to 64·T1, in an allocation of their own. A SIP
 * message built by Buffer.concat/Buffer.from is a slice of Node's shared 8 KiB pool, and one
 * retained slice keeps its whole slab alive: with responses kept 32 s (Timer J) among messages
 * dropped at once, that was about 8 KiB per kept message instead of its few hundred bytes.
 */
function retained(wire: Buffer): Buffer {
  if (wire.byteOffset === 0 && wire.buffer.byteLength === wire.length) return wire;
  const own = Buffer.allocUnsafeSlow(wire.length);
  wire.copy(own);
  return own;
}

export class RetransmissionLayer {
  readonly timers: RetransmissionTimers;
  readonly stats: RetransmissionStats = { retransmissionsSent: 0, retransmissionsAbsorbed: 0 };
  private readonly clock: Clock;
  private readonly sendWire: RetransmissionOptions['send'];
  private readonly log: Logger;
  private readonly client = new Map<string, ClientTransaction>();
  private readonly server = new Map<string, ServerTransaction>();
  /** whenFinalsAcknowledged() callers, told whenever an INVITE server transaction leaves Completed. */
  private finalWaiters: Array<() => void> = [];
  private closed = false;

  constructor(opts: RetransmissionOptions) {
    this.clock = opts.clock;
    this.sendWire = opts.send;
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.log = opts.log ?? silentLogger;
  }

  /** Transactions currently held (client + server), for tests and diagnostics. */
  get size(): number {
    return this.client.size + this.server.size;
  }

  /** 300-699 final responses to INVITE we are still retransmitting (Completed: no ACK yet, Timer H running). */
  get unacknowledgedFinals(): number {
    let n = 0;
    for (const st of this.server.values()) if (st.method === 'INVITE' && !st.acked) n++;
    return n;
  }

  /**
   * Resolves once every 300-699 final response to INVITE sent so far has left Completed: its ACK
   * arrived, or Timer H (64·T1) gave up, or the layer was closed. So the wait is bounded by Timer H.
   * Whoever closes the transport should wait for it first: closing stops Timer G, and a peer that
   * lost the final (a 580, a 486) would otherwise wait for its own timers (RFC 3261 §17.2.1).
   */
  whenFinalsAcknowledged(): Promise<void> {
    if (this.closed || this.unacknowledgedFinals === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed || this.unacknowledgedFinals === 0) resolve();
        else this.finalWaiters.push(check);
      };
      this.finalWaiters.push(check);
    });
  }

  private finalsChanged(): void {
    const waiters = this.finalWaiters;
    this.finalWaiters = [];
    for (const w of waiters) w();
  }

  // ---------------------------------------------------------------- client side

  /** A request we sent for the first time (wire bytes as sent, destination resolved). */
  requestSent(method: string, branch: string, wire: Buffer, to: Peer): void {
    if (this.closed) return;
    const m = method.toUpperCase();
    if (m === 'ACK') {
      // The ACK to a 300-699 response shares the INVITE's branch (RFC 3261 §17.1.1.3);
      // keep it for Timer D. An ACK to a 2xx has its own branch and is sip.js's business.
      const invite = this.client.get(keyOf(branch, 'INVITE'));
      if (invite && invite.state === 'completed') invite.ack = { wire: retained(wire), to };
      return;
    }
    const key = keyOf(branch, m);
    if (this.client.has(key)) return; // sip.js re-sent it itself: timers already run
    const tx: ClientTransaction = {
      method: m, branch, wire: retained(wire), to,
      state: m === 'INVITE' ? 'calling' : 'trying',
      startedAt: this.clock.now(),
      interval: this.timers.T1,
    };
    this.client.set(key, tx);
    tx.retransmit = this.clock.setTimer(tx.interval, () => this.clientTimer(key, tx));
    // Timer B / Timer F: give up after 64·T1 (sip.js reports the timeout to its TU).
    tx.expiry = this.clock.setTimer(64 * this.timers.T1, () => this.dropClient(key, tx));
  }

  /** Timer A (INVITE) or Timer E (non-INVITE) fired. */
  private clientTimer(key: string, tx: ClientTransaction): void {
    tx.retransmit = undefined;
    if (this.client.get(key) !== tx) return;
    if (tx.method === 'INVITE') {
      // "These retransmissions SHOULD only be done while the client transaction is in
      // the Calling state." (§17.1.1.2)
      if (tx.state !== 'calling') return;
      this.resend(tx.wire, tx.to, `Timer A ${tx.method} ${tx.branch}`);
      tx.interval *= 2;
    } else {
      if (tx.state !== 'trying' && tx.state !== 'proceeding') return;
      this.resend(tx.wire, tx.to, `Timer E ${tx.method} ${tx.branch}`);
      // Trying: MIN(2·T1·2^n, T2). Proceeding: "reset with a value of T2" (§17.1.2.2).
      tx.interval = tx.state === 'proceeding' ? this.timers.T2 : Math.min(tx.interval * 2, this.timers.T2);
    }
    const elapsed = this.clock.now() - tx.startedAt;
    if (elapsed + tx.interval < 64 * this.timers.T1) {
      tx.retransmit = this.clock.setTimer(tx.interval, () => this.clientTimer(key, tx));
    }
  }

  /** A response arrived for one of our requests. */
  responseReceived(method: string, branch: string, status: number): Verdict {
    if (this.closed) return 'deliver';
    const key = keyOf(branch, method);
    const tx = this.client.get(key);
    if (!tx) return 'deliver';
    const provisional = status < 200;
    if (tx.method === 'INVITE') {
      if (provisional) {
        if (tx.state === 'calling') this.enter(tx, 'proceeding');
        return 'deliver';
      }
      if (status < 300) {
        // 2xx and its retransmissions always go up: sip.js ACKs them (RFC 6026 Accepted).
        if (tx.state !== 'completed') this.enter(tx, 'accepted');
        return 'deliver';
      }
      if (tx.state === 'completed') {
        this.stats.retransmissionsAbsorbed++;
        if (tx.ack) this.resend(tx.ack.wire, tx.ack.to, `Timer D: ACK again for retransmitted ${status}`);
        return 'absorb';
      }
      this.enter(tx, 'completed');
      // Timer D: at least 32 s for unreliable transports (§17.1.1.2).
      this.restartExpiry(tx, Math.max(32_000, 64 * this.timers.T1), () => this.dropClient(key, tx));
      return 'deliver';
    }
    if (provisional) {
      if (tx.state === 'trying') tx.state = 'proceeding';
      return 'deliver';
    }
    if (tx.state === 'completed') {
      this.stats.retransmissionsAbsorbed++;
      return 'absorb';
    }
    this.enter(tx, 'completed');
    // Timer K: T4 for unreliable transports (§17.1.2.2).
    this.restartExpiry(tx, this.timers.T4, () => this.dropClient(key, tx));
    return 'deliver';
  }

  private enter(tx: ClientTransaction, state: ClientState): void {
    tx.state = state;
    this.clock.clearTimer(tx.retransmit);
    tx.retransmit = undefined;
  }

  private restartExpiry(tx: { expiry?: TimerHandle }, ms: number, fn: () => void): void {
    this.clock.clearTimer(tx.expiry);
    tx.expiry = this.clock.setTimer(ms, fn);
  }

  private dropClient(key: string, tx: ClientTransaction): void {
    if (this.client.get(key) !== tx) return;
    this.clock.clearTimer(tx.retransmit);
    this.clock.clearTimer(tx.expiry);
    this.client.delete(key);
  }

  // ---------------------------------------------------------------- server side

  /** A request arrived. `absorb` means the layer handled it as a retransmission. */
  requestReceived(method: string, branch: string): Verdict {
    if (this.closed) return 'deliver';
    const m = method.toUpperCase();
    if (m === 'ACK') {
      const st = this.server.get(keyOf(branch, 'INVITE'));
      if (!st) return 'deliver'; // ACK to a 2xx: a separate transaction, sip.js's dialog
      if (st.acked) {
        this.stats.retransmissionsAbsorbed++;
        return 'absorb';
      }
      // The ACK stops Timer G; Timer I (T4) then absorbs ACK retransmissions (§17.2.1).
      st.acked = true;
      this.clock.clearTimer(st.retransmit);
      st.retransmit = undefined;
      const key = keyOf(branch, 'INVITE');
      this.restartExpiry(st, this.timers.T4, () => this.dropServer(key, st));
      this.finalsChanged();
      return 'deliver';
    }
    const st = this.server.get(keyOf(branch, m));
    if (!st) return 'deliver';
    this.stats.retransmissionsAbsorbed++;
    if (m === 'INVITE' && st.acked) return 'absorb'; // Confirmed: absorb silently
    // Completed (INVITE) or Timer J cache (non-INVITE): "any retransmissions of the request
    // received ... MUST cause the last response to be passed to the transport" (§17.2.1, §17.2.2).
    this.resend(st.wire, st.to, `cached ${m} response for retransmitted request`);
    return 'absorb';
  }

  /** A response we sent (first transmission by sip.js). */
  responseSent(method: string, branch: string, status: number, wire: Buffer, to: Peer): void {
    if (this.closed || status < 200) return;
    const m = method.toUpperCase();
    if (m === 'INVITE' && status < 300) return; // 2xx: sip.js's UAS core retransmits (§13.3.1.4)
    const key = keyOf(branch, m);
    const existing = this.server.get(key);
    if (existing) {
      if (m === 'INVITE') return; // sip.js re-sent the same final; Timer G already runs
      existing.wire = retained(wire);
      existing.to = to;
      return;
    }
    const st: ServerTransaction = { method: m, branch, wire: retained(wire), to, acked: false, interval: this.timers.T1 };
    this.server.set(key, st);
    if (m === 'INVITE') {
      st.retransmit = this.clock.setTimer(st.interval, () => this.timerG(key, st));
      // Timer H: 64·T1 waiting for the ACK.
      st.expiry = this.clock.setTimer(64 * this.timers.T1, () => this.dropServer(key, st));
    } else {
      // Timer J: 64·T1 for unreliable transports.
      st.expiry = this.clock.setTimer(64 * this.timers.T1, () => this.dropServer(key, st));
    }
  }

  private timerG(key: string, st: ServerTransaction): void {
    st.retransmit = undefined;
    if (this.server.get(key) !== st || st.acked) return;
    this.resend(st.wire, st.to, `Timer G INVITE ${st.branch}`);
    st.interval = Math.min(st.interval * 2, this.timers.T2);
    st.retransmit = this.clock.setTimer(st.interval, () => this.timerG(key, st));
  }

  private dropServer(key: string, st: ServerTransaction): void {
    if (this.server.get(key) !== st) return;
    this.clock.clearTimer(st.retransmit);
    this.clock.clearTimer(st.expiry);
    this.server.delete(key);
    if (st.method === 'INVITE' && !st.acked) this.finalsChanged();
  }

  // ---------------------------------------------------------------- common

  private resend(wire: Buffer, to: Peer, why: string): void {
    this.stats.retransmissionsSent++;
    this.log.debug(`retransmit (${why}) to ${to.address}:${to.port}`);
    this.sendWire(wire, to, why);
  }

  /** Cancels every timer; later calls are ignored. */
  close(): void {
    this.closed = true;
    for (const [key, tx] of this.client) this.dropClient(key, tx);
    for (const [key, st] of this.server) this.dropServer(key, st);
    this.finalsChanged();
  }
}
