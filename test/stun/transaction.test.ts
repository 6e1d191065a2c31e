import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { StateError, TimeoutError } from '../../lib/base/errors.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { shortTermKey, verifyFingerprint, verifyMessageIntegrity } from '../../lib/stun/integrity.js';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';
import { StunTransactionManager, TransactionCancelledError, type StunRequestOptions, type StunResponse } from '../../lib/stun/transaction.js';

const SERVER: TransportAddress = { address: '203.0.113.1', port: 3478, family: 'IPv4' };

/** Lets promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Harness {
  clock: ManualClock;
  manager: StunTransactionManager;
  request: StunMessage;
  sentAt: number[];
  sent: Buffer[];
  outcome: { value?: StunResponse; error?: unknown; settled: boolean };
  promise: Promise<StunResponse | undefined>;
}

function start(opts?: StunRequestOptions, method: number = StunMethod.Binding): Harness {
  const clock = new ManualClock();
  const manager = new StunTransactionManager(clock);
  const request = new StunMessage({ method, messageClass: 'request' });
  const sentAt: number[] = [];
  const sent: Buffer[] = [];
  const outcome: Harness['outcome'] = { settled: false };
  const promise = manager
    .request(request, (bytes) => { sentAt.push(clock.now()); sent.push(bytes); }, opts)
    .then((v) => { outcome.value = v; outcome.settled = true; return v; }, (e: unknown) => { outcome.error = e; outcome.settled = true; return undefined; });
  return { clock, manager, request, sentAt, sent, outcome, promise };
}

function responseTo(request: StunMessage, messageClass: 'success' | 'error' = 'success'): StunMessage {
  return new StunMessage({ method: request.method, messageClass, transactionId: request.transactionId });
}

describe('STUN client transactions (RFC 8489 §6.2)', () => {
  it('unreliable defaults: sends at 0, 500, 1500, 3500, 7500, 15500, 31500 ms, fails at 39500 ms', async () => {
    const h = start();
    expect(h.sentAt).to.deep.equal([0]);
    expect(h.manager.pending).to.equal(1);
    h.clock.advance(39_499);
    await flush();
    expect(h.sentAt).to.deep.equal([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(h.outcome.settled).to.equal(false);
    h.clock.advance(1);
    await h.promise;
    expect(h.outcome.error).to.be.instanceOf(TimeoutError);
    const err = h.outcome.error as TimeoutError;
    expect(err.afterMs).to.equal(39_500);
    expect(err.message).to.contain('Binding request');
    expect(err.message).to.contain('39500 ms');
    expect(err.message).to.contain('7 sends');
    expect(h.manager.pending).to.equal(0);
    expect(h.clock.pendingCount).to.equal(0);
    expect(new Set(h.sent.map((b) => b.toString('hex'))).size).to.equal(1); // identical retransmissions
  });

  it('honours rtoMs, maxRequests (Rc) and lastWaitFactor (Rm)', async () => {
    const h = start({ rtoMs: 100, maxRequests: 3, lastWaitFactor: 4 }, StunMethod.Allocate);
    h.clock.advance(10_000);
    await h.promise;
    expect(h.sentAt).to.deep.equal([0, 100, 300]);
    expect((h.outcome.error as TimeoutError).afterMs).to.equal(700);
    expect((h.outcome.error as Error).message).to.contain('Allocate request');
  });

  it('a success response stops retransmission and reports RTT and send count', async () => {
    const h = start();
    h.clock.advance(600);
    expect(h.sentAt).to.deep.equal([0, 500]);
    const reply = responseTo(h.request).addXorAddress(0x0020, { address: '198.51.100.2', port: 6000 });
    expect(h.manager.handleResponse(StunMessage.decode(reply.encode()), SERVER)).to.equal(true);
    await h.promise;
    expect(h.outcome.value!.message.messageClass).to.equal('success');
    expect(h.outcome.value!.message.getXorMappedAddress()).to.deep.equal({ address: '198.51.100.2', port: 6000, family: 'IPv4' });
    expect(h.outcome.value!.from).to.deep.equal(SERVER);
    expect(h.outcome.value!.rttMs).to.equal(600);
    expect(h.outcome.value!.sends).to.equal(2);
    h.clock.advance(100_000);
    expect(h.sentAt).to.deep.equal([0, 500]);
    expect(h.manager.pending).to.equal(0);
    expect(h.clock.pendingCount).to.equal(0);
    // A retransmitted duplicate response no longer matches.
    expect(h.manager.handleResponse(reply, SERVER)).to.equal(false);
  });

  it('an error response also completes the transaction (caller inspects the class)', async () => {
    const h = start();
    h.clock.advance(20);
    expect(h.manager.handleResponse(responseTo(h.request, 'error').addErrorCode(487, 'Role Conflict'), SERVER)).to.equal(true);
    await h.promise;
    expect(h.outcome.value!.message.messageClass).to.equal('error');
    expect(h.outcome.value!.message.getErrorCode()).to.deep.equal({ code: 487, reason: 'Role Conflict' });
    expect(h.outcome.value!.rttMs).to.equal(20);
    expect(h.outcome.value!.sends).to.equal(1);
  });

  it('reliable transport: one send, fails after Ti = 39500 ms', async () => {
    const h = start({ reliable: true });
    h.clock.advance(39_499);
    await flush();
    expect(h.sentAt).to.deep.equal([0]);
    expect(h.outcome.settled).to.equal(false);
    h.clock.advance(1);
    await h.promise;
    expect(h.sentAt).to.deep.equal([0]);
    expect((h.outcome.error as TimeoutError).afterMs).to.equal(39_500);
    expect((h.outcome.error as Error).message).to.contain('1 send');
  });

  it('reliable transport: a response completes it', async () => {
    const h = start({ reliable: true });
    h.clock.advance(5_000);
    h.manager.handleResponse(responseTo(h.request), SERVER);
    await h.promise;
    expect(h.outcome.value!.rttMs).to.equal(5_000);
    expect(h.sentAt).to.deep.equal([0]);
  });

  it('ignores requests, indications, unknown transaction IDs; drops a response of another method', async () => {
    const h = start();
    const other = new StunMessage({ method: StunMethod.Binding, messageClass: 'success' });
    expect(h.manager.handleResponse(other, SERVER)).to.equal(false);
    const asRequest = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: h.request.transactionId });
    expect(h.manager.handleResponse(asRequest, SERVER)).to.equal(false);
    const asIndication = new StunMessage({ method: StunMethod.Binding, messageClass: 'indication', transactionId: h.request.transactionId });
    expect(h.manager.handleResponse(asIndication, SERVER)).to.equal(false);
    const wrongMethod = new StunMessage({ method: StunMethod.Allocate, messageClass: 'success', transactionId: h.request.transactionId });
    expect(h.manager.handleResponse(wrongMethod, SERVER)).to.equal(true);
    await flush();
    expect(h.outcome.settled).to.equal(false);
    expect(h.manager.pending).to.equal(1);
    h.manager.handleResponse(responseTo(h.request), SERVER);
    await h.promise;
    expect(h.outcome.value!.message.method).to.equal(StunMethod.Binding);
  });

  it('cancel rejects with TransactionCancelledError and stops retransmission', async () => {
    const h = start();
    h.clock.advance(500);
    h.manager.cancel(h.request.transactionId);
    await h.promise;
    expect(h.outcome.error).to.be.instanceOf(TransactionCancelledError);
    expect((h.outcome.error as Error).message).to.contain('Binding request');
    h.clock.advance(100_000);
    expect(h.sentAt).to.deep.equal([0, 500]);
    expect(h.manager.pending).to.equal(0);
    h.manager.cancel(h.request.transactionId); // harmless twice
  });

  it('cancelAll ends every pending transaction', async () => {
    const clock = new ManualClock();
    const manager = new StunTransactionManager(clock);
    let sends = 0;
    const results = [1, 2, 3].map(() => manager.request(new StunMessage({ method: 1, messageClass: 'request' }), () => { sends++; }).catch((e: unknown) => e));
    expect(manager.pending).to.equal(3);
    manager.cancelAll();
    expect(manager.pending).to.equal(0);
    for (const r of await Promise.all(results)) expect(r).to.be.instanceOf(TransactionCancelledError);
    clock.advance(100_000);
    expect(sends).to.equal(3);
    expect(clock.pendingCount).to.equal(0);
  });

  it('rejects a duplicate transaction ID and a non-request with StateError', async () => {
    const h = start();
    const again = await h.manager.request(h.request, () => {}).catch((e: unknown) => e);
    expect(again).to.be.instanceOf(StateError);
    const indication = new StunMessage({ method: StunMethod.Send, messageClass: 'indication' });
    expect(await h.manager.request(indication, () => {}).catch((e: unknown) => e)).to.be.instanceOf(StateError);
    expect(h.manager.pending).to.equal(1);
    h.manager.cancelAll();
  });

  it('a throwing send rejects the transaction with that error', async () => {
    const clock = new ManualClock();
    const manager = new StunTransactionManager(clock);
    const boom = new Error('EHOSTUNREACH');
    const result = await manager.request(new StunMessage({ method: 1, messageClass: 'request' }), () => { throw boom; }).catch((e: unknown) => e);
    expect(result).to.equal(boom);
    expect(manager.pending).to.equal(0);
    expect(clock.pendingCount).to.equal(0);
  });

  it('a send throwing on a retransmission rejects then', async () => {
    const clock = new ManualClock();
    const manager = new StunTransactionManager(clock);
    let n = 0;
    const p = manager.request(new StunMessage({ method: 1, messageClass: 'request' }), () => { if (++n === 3) throw new Error('closed'); }).catch((e: unknown) => e);
    clock.advance(2_000);
    expect(((await p) as Error).message).to.equal('closed');
    expect(manager.pending).to.equal(0);
  });

  it('encodes with MESSAGE-INTEGRITY and FINGERPRINT when asked', async () => {
    const key = shortTermKey('remote-password-22chars');
    const h = start({ integrityKey: key, fingerprint: true });
    const onWire = StunMessage.decode(h.sent[0]!);
    expect(verifyMessageIntegrity(onWire, key)).to.equal(true);
    expect(verifyFingerprint(onWire)).to.equal(true);
    h.manager.cancelAll();
    await h.promise;
  });

  describe('verifyResponses', () => {
    const key = shortTermKey('remote-password-22chars');

    it('drops a success response whose MESSAGE-INTEGRITY fails and keeps retransmitting; accepts a valid one', async () => {
      const h = start({ integrityKey: key, verifyResponses: true });
      const forged = StunMessage.decode(responseTo(h.request).encode({ integrityKey: shortTermKey('attacker') }));
      expect(h.manager.handleResponse(forged, SERVER)).to.equal(true);
      const unsigned = StunMessage.decode(responseTo(h.request).encode());
      expect(h.manager.handleResponse(unsigned, SERVER)).to.equal(true);
      h.clock.advance(500);
      await flush();
      expect(h.outcome.settled).to.equal(false);
      expect(h.sentAt).to.deep.equal([0, 500]);
      const good = StunMessage.decode(responseTo(h.request).encode({ integrityKey: key, fingerprint: true }));
      h.manager.handleResponse(good, SERVER);
      await h.promise;
      expect(h.outcome.value!.message).to.equal(good);
    });

    it('delivers an unauthenticated error response (e.g. a 401 challenge)', async () => {
      const h = start({ integrityKey: key, verifyResponses: true });
      h.manager.handleResponse(StunMessage.decode(responseTo(h.request, 'error').addErrorCode(401).encode()), SERVER);
      await h.promise;
      expect(h.outcome.value!.message.getErrorCode()!.code).to.equal(401);
    });
  });
});
