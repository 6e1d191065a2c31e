import type { Clock, TimerHandle } from '../base/clock.js';
import { StateError, TimeoutError } from '../base/errors.js';
import type { TransportAddress } from '../net/socket.js';
import { verifyMessageIntegrity, verifyMessageIntegritySha256 } from './integrity.js';
import { describeStun, StunAttr, type StunMessage } from './message.js';

/**
 * STUN client transactions (RFC 8489 §6.2, §6.3.3): send a request, retransmit it over
 * unreliable transports, match the response by transaction ID. All timing goes through the
 * injected Clock.
 */

export interface StunResponse {
  message: StunMessage;
  from: TransportAddress;
  /**
   * Milliseconds from the first transmission to the response. When the request was
   * retransmitted this overstates the round trip (Karn: do not feed it to an RTO estimator
   * unless `sends` is 1).
   */
  rttMs: number;
  /** How many times the request was sent before the response arrived. */
  sends: number;
}

export interface StunRequestOptions {
  /** Initial retransmission timeout, RFC 8489 §6.2.1: "SHOULD be greater than 500 ms". Default 500. */
  rtoMs?: number;
  /** Rc, the number of transmissions, RFC 8489 §6.2.1. Default 7. */
  maxRequests?: number;
  /** Rm: after the last transmission the client waits Rm * RTO, RFC 8489 §6.2.1. Default 16. */
  lastWaitFactor?: number;
  /** Reliable transport (TCP/TLS): send once, wait Ti (RFC 8489 §6.2.2). */
  reliable?: boolean;
  /** Ti for reliable transports, RFC 8489 §6.2.2: "SHOULD be 39.5 s". Default 39500. */
  reliableTimeoutMs?: number;
  /** Adds MESSAGE-INTEGRITY with this key when encoding. */
  integrityKey?: Buffer;
  /** Adds MESSAGE-INTEGRITY-SHA256 with this key when encoding. */
  integritySha256Key?: Buffer;
  /** Adds FINGERPRINT when encoding. */
  fingerprint?: boolean;
  /**
   * RFC 8489 §9.1.4 / §9.2.5: when true and a key is given, a response that carries
   * MESSAGE-INTEGRITY(-SHA256) failing verification with the request's key, or a success
   * response carrying neither, is discarded "as if it had never been received" and the
   * transaction keeps waiting. Error responses without integrity (400, 401, 438 challenges)
   * are delivered. Default false: the first response is delivered and the caller verifies.
   */
  verifyResponses?: boolean;
}

/** Rejection reason of a transaction ended by cancel() or cancelAll(). */
export class TransactionCancelledError extends Error {
  override readonly name = 'TransactionCancelledError';
}

interface Pending {
  request: StunMessage;
  label: string;
  bytes: Buffer;
  send: (bytes: Buffer) => void;
  opts: StunRequestOptions;
  startedAt: number;
  sends: number;
  nextIntervalMs: number;
  timer?: TimerHandle;
  resolve: (r: StunResponse) => void;
  reject: (e: Error) => void;
}

const DEFAULT_RTO_MS = 500;
const DEFAULT_RC = 7;
const DEFAULT_RM = 16;
const DEFAULT_TI_MS = 39_500;

export class StunTransactionManager {
  private readonly transactions = new Map<string, Pending>();

  constructor(private readonly clock: Clock) {}

  /** Transactions not yet answered, timed out or cancelled. */
  get pending(): number {
    return this.transactions.size;
  }

  /**
   * Encodes `request` (with the integrity/fingerprint options) and sends it now via `send`.
   * Unreliable (RFC 8489 §6.2.1): retransmits after RTO, 2*RTO, 4*RTO, ... until Rc
   * transmissions, then waits Rm*RTO; with the defaults sends happen at 0, 500, 1500, 3500,
   * 7500, 15500, 31500 ms and the transaction fails at 39500 ms. Reliable (§6.2.2): one send,
   * fails after Ti.
   * Resolves with the first matching success or error response (the caller inspects
   * `message.messageClass`); rejects with TimeoutError (naming the method and the time
   * waited), TransactionCancelledError, StateError for a request that is not a request or
   * whose transaction ID is already pending, or the error `send` threw.
   */
  request(request: StunMessage, send: (bytes: Buffer) => void, opts: StunRequestOptions = {}): Promise<StunResponse> {
    return new Promise<StunResponse>((resolve, reject) => {
      const label = describeStun(request).split(' [')[0]!;
      if (request.messageClass !== 'request') {
        reject(new StateError(`cannot start a client transaction for a ${request.messageClass}: ${label}`));
        return;
      }
      const key = request.transactionId.toString('hex');
      if (this.transactions.has(key)) {
        reject(new StateError(`a transaction with this ID is already pending: ${label}`));
        return;
      }
      let bytes: Buffer;
      try {
        bytes = request.encode({ integrityKey: opts.integrityKey, integritySha256Key: opts.integritySha256Key, fingerprint: opts.fingerprint });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      const p: Pending = {
        request, label, bytes, send, opts, resolve, reject,
        startedAt: this.clock.now(),
        sends: 0,
        nextIntervalMs: opts.rtoMs ?? DEFAULT_RTO_MS,
      };
      this.transactions.set(key, p);
      this.transmit(key, p);
    });
  }

  private transmit(key: string, p: Pending): void {
    p.sends++;
    try {
      p.send(p.bytes);
    } catch (e) {
      this.finish(key, p);
      p.reject(e instanceof Error ? e : new Error(`send failed for ${p.label}: ${String(e)}`));
      return;
    }
    if (p.opts.reliable) {
      // RFC 8489 §6.2.2: "the client SHOULD NOT retransmit"; fails after Ti.
      p.timer = this.clock.setTimer(p.opts.reliableTimeoutMs ?? DEFAULT_TI_MS, () => this.timeout(key, p));
      return;
    }
    const rc = p.opts.maxRequests ?? DEFAULT_RC;
    if (p.sends >= rc) {
      // RFC 8489 §6.2.1: "If, after the last request, a duration equal to Rm times the RTO has
      // passed without a response ..., the client SHOULD consider the transaction to have failed."
      const rto = p.opts.rtoMs ?? DEFAULT_RTO_MS;
      p.timer = this.clock.setTimer((p.opts.lastWaitFactor ?? DEFAULT_RM) * rto, () => this.timeout(key, p));
      return;
    }
    const interval = p.nextIntervalMs;
    p.nextIntervalMs *= 2; // RFC 8489 §6.2.1: the RTO doubles after each retransmission.
    p.timer = this.clock.setTimer(interval, () => {
      p.timer = undefined;
      if (this.transactions.get(key) === p) this.transmit(key, p);
    });
  }

  private timeout(key: string, p: Pending): void {
    if (this.transactions.get(key) !== p) return;
    this.finish(key, p);
    const waited = this.clock.now() - p.startedAt;
    p.reject(new TimeoutError(`${p.label} timed out after ${waited} ms (${p.sends} ${p.sends === 1 ? 'send' : 'sends'}, no response)`, waited));
  }

  private finish(key: string, p: Pending): void {
    this.clock.clearTimer(p.timer);
    p.timer = undefined;
    if (this.transactions.get(key) === p) this.transactions.delete(key);
  }

  /**
   * Offers a received STUN message. Success and error responses whose transaction ID matches
   * a pending transaction complete it (RFC 8489 §6.3.3, first response wins) and return true;
   * with `verifyResponses` a response failing verification is dropped but still returns true
   * (it belonged to the transaction). Requests, indications and unmatched responses: false.
   * RFC 8489 §6.3: a response whose method differs from the request's is discarded as well.
   */
  handleResponse(message: StunMessage, from: TransportAddress): boolean {
    if (message.messageClass !== 'success' && message.messageClass !== 'error') return false;
    const key = message.transactionId.toString('hex');
    const p = this.transactions.get(key);
    if (!p) return false;
    if (message.method !== p.request.method) return true;
    if (p.opts.verifyResponses && !this.authentic(message, p.opts)) return true;
    this.finish(key, p);
    p.resolve({ message, from, rttMs: this.clock.now() - p.startedAt, sends: p.sends });
    return true;
  }

  private authentic(message: StunMessage, opts: StunRequestOptions): boolean {
    const sha256 = message.has(StunAttr.MESSAGE_INTEGRITY_SHA256);
    const sha1 = message.has(StunAttr.MESSAGE_INTEGRITY);
    // RFC 8489 §9.1.4: with both present, only MESSAGE-INTEGRITY-SHA256 is checked.
    if (sha256) {
      const key = opts.integritySha256Key ?? opts.integrityKey;
      return key ? verifyMessageIntegritySha256(message, key) : true;
    }
    if (sha1) return opts.integrityKey ? verifyMessageIntegrity(message, opts.integrityKey) : true;
    if (!opts.integrityKey && !opts.integritySha256Key) return true;
    return message.messageClass === 'error';
  }

  /** Ends one transaction; its promise rejects with TransactionCancelledError. Unknown IDs are ignored. */
  cancel(transactionId: Buffer): void {
    const key = transactionId.toString('hex');
    const p = this.transactions.get(key);
    if (!p) return;
    this.finish(key, p);
    p.reject(new TransactionCancelledError(`${p.label} cancelled after ${p.sends} ${p.sends === 1 ? 'send' : 'sends'}`));
  }

  /** Ends every pending transaction (agent shutdown, ICE restart). */
  cancelAll(): void {
    for (const p of [...this.transactions.values()]) this.cancel(p.request.transactionId);
  }
}
