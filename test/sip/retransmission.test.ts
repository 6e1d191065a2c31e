import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { RetransmissionLayer, type Peer } from '../../lib/sip/retransmission.js';

interface Sent { at: number; text: string; to: Peer; why: string }

function setup() {
  const clock = new ManualClock();
  const sent: Sent[] = [];
  const layer = new RetransmissionLayer({
    clock,
    send: (wire, to, why) => sent.push({ at: clock.now(), text: wire.toString(), to, why }),
  });
  return { clock, sent, layer };
}

const peer: Peer = { address: '127.0.0.1', port: 5060 };
const wire = (s: string) => Buffer.from(s);

/** Intervals between the first transmission (t=0) and each retransmission. */
function intervals(sent: Sent[]): number[] {
  const times = [0, ...sent.map((s) => s.at)];
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe('RetransmissionLayer (RFC 3261 §17 timers over UDP, ManualClock)', () => {
  describe('Timer A: INVITE client transaction', () => {
    it('retransmits at 500, 1000, 2000, 4000, 8000, 16000 ms intervals and stops before Timer B (64·T1)', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKa', wire('INVITE-1'), peer);
      clock.advance(40_000);
      expect(intervals(sent)).to.deep.equal([500, 1000, 2000, 4000, 8000, 16000]);
      expect(sent.every((s) => s.text === 'INVITE-1' && s.to === peer)).to.equal(true);
      expect(layer.stats.retransmissionsSent).to.equal(6);
      expect(layer.size).to.equal(0); // dropped at 64·T1
      expect(clock.pendingCount).to.equal(0);
    });

    it('stops on a provisional response (Proceeding: no more retransmissions)', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKa', wire('INVITE'), peer);
      clock.advance(1600); // retransmissions at 500 and 1500
      expect(layer.responseReceived('INVITE', 'z9hG4bKa', 100)).to.equal('deliver');
      clock.advance(30_000);
      expect(sent.map((s) => s.at)).to.deep.equal([500, 1500]);
    });

    it('stops on a 2xx and always passes 2xx retransmissions up (sip.js re-sends its ACK)', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKa', wire('INVITE'), peer);
      clock.advance(600);
      expect(layer.responseReceived('INVITE', 'z9hG4bKa', 200)).to.equal('deliver');
      expect(layer.responseReceived('INVITE', 'z9hG4bKa', 200)).to.equal('deliver');
      clock.advance(10_000);
      expect(sent).to.have.length(1);
      expect(layer.stats.retransmissionsAbsorbed).to.equal(0);
    });

    it('the same INVITE passed again by sip.js does not start a second timer', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKa', wire('INVITE'), peer);
      layer.requestSent('INVITE', 'z9hG4bKa', wire('INVITE'), peer);
      clock.advance(1000);
      expect(sent).to.have.length(1);
    });
  });

  describe('Timer D: non-2xx final response to our INVITE', () => {
    it('delivers the first 487, absorbs retransmissions and re-sends the ACK, for 32 s', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKd', wire('INVITE'), peer);
      expect(layer.responseReceived('INVITE', 'z9hG4bKd', 487)).to.equal('deliver');
      layer.requestSent('ACK', 'z9hG4bKd', wire('ACK-487'), peer);
      clock.advance(2000);
      expect(sent).to.have.length(0); // Timer A stopped
      expect(layer.responseReceived('INVITE', 'z9hG4bKd', 487)).to.equal('absorb');
      expect(sent.map((s) => s.text)).to.deep.equal(['ACK-487']);
      clock.advance(32_000);
      expect(layer.responseReceived('INVITE', 'z9hG4bKd', 487)).to.equal('deliver'); // Timer D over
      expect(layer.stats).to.deep.equal({ retransmissionsSent: 1, retransmissionsAbsorbed: 1 });
    });
  });

  describe('Timer E: non-INVITE client transaction', () => {
    it('retransmits at 500, 1000, 2000, 4000 then every T2=4000 until Timer F', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('BYE', 'z9hG4bKe', wire('BYE'), peer);
      clock.advance(40_000);
      expect(intervals(sent)).to.deep.equal([500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]);
      expect(sent.at(-1)!.at).to.equal(31_500);
      expect(layer.size).to.equal(0);
    });

    it('switches to T2 in Proceeding and stops on the final response', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('OPTIONS', 'z9hG4bKe', wire('OPTIONS'), peer);
      clock.advance(600); // first retransmission at 500, next scheduled at 1500
      layer.responseReceived('OPTIONS', 'z9hG4bKe', 100);
      clock.advance(5000); // 1500, then T2 later at 5500
      expect(sent.map((s) => s.at)).to.deep.equal([500, 1500, 5500]);
      expect(layer.responseReceived('OPTIONS', 'z9hG4bKe', 200)).to.equal('deliver');
      clock.advance(20_000);
      expect(sent).to.have.length(3);
    });

    it('Timer K: absorbs retransmitted final responses for T4, then forgets', () => {
      const { clock, layer } = setup();
      layer.requestSent('BYE', 'z9hG4bKk', wire('BYE'), peer);
      expect(layer.responseReceived('BYE', 'z9hG4bKk', 200)).to.equal('deliver');
      expect(layer.responseReceived('BYE', 'z9hG4bKk', 200)).to.equal('absorb');
      clock.advance(5000);
      expect(layer.responseReceived('BYE', 'z9hG4bKk', 200)).to.equal('deliver');
      expect(layer.stats.retransmissionsAbsorbed).to.equal(1);
    });

    it('keys by branch and method: a CANCEL shares the INVITE branch but has its own timer', () => {
      const { clock, sent, layer } = setup();
      layer.requestSent('INVITE', 'z9hG4bKc', wire('INVITE'), peer);
      layer.responseReceived('INVITE', 'z9hG4bKc', 180);
      layer.requestSent('CANCEL', 'z9hG4bKc', wire('CANCEL'), peer);
      clock.advance(600);
      expect(sent.map((s) => s.text)).to.deep.equal(['CANCEL']);
      layer.responseReceived('CANCEL', 'z9hG4bKc', 200);
      clock.advance(5000);
      expect(sent).to.have.length(1);
    });
  });

  describe('Timer G/H/I: non-2xx final response to an incoming INVITE', () => {
    it('retransmits the 486 at 500, 1000, 2000, 4000, 4000... until the ACK arrives', () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bKg', 486, wire('486'), peer);
      clock.advance(12_000);
      expect(intervals(sent)).to.deep.equal([500, 1000, 2000, 4000, 4000]);
      expect(layer.requestReceived('ACK', 'z9hG4bKg')).to.equal('deliver');
      clock.advance(20_000);
      expect(sent).to.have.length(5);
      // Timer I (T4) after the ACK has long passed: the transaction is forgotten
      expect(layer.size).to.equal(0);
      expect(layer.requestReceived('ACK', 'z9hG4bKg')).to.equal('deliver');
    });

    it('absorbs ACK and INVITE retransmissions in Confirmed (Timer I = T4)', () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bKi', 603, wire('603'), peer);
      expect(layer.requestReceived('ACK', 'z9hG4bKi')).to.equal('deliver');
      expect(layer.requestReceived('ACK', 'z9hG4bKi')).to.equal('absorb');
      expect(layer.requestReceived('INVITE', 'z9hG4bKi')).to.equal('absorb');
      expect(sent).to.have.length(0);
      clock.advance(5000);
      expect(layer.size).to.equal(0);
    });

    it('answers a retransmitted INVITE with the cached final response before the ACK', () => {
      const { layer, sent } = setup();
      layer.responseSent('INVITE', 'z9hG4bKr', 487, wire('487'), peer);
      expect(layer.requestReceived('INVITE', 'z9hG4bKr')).to.equal('absorb');
      expect(sent.map((s) => s.text)).to.deep.equal(['487']);
    });

    it('gives up at Timer H (64·T1) without an ACK', () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bKh', 480, wire('480'), peer);
      clock.advance(64 * 500);
      const count = sent.length;
      clock.advance(30_000);
      expect(sent.length).to.equal(count);
      expect(layer.size).to.equal(0);
    });

    it('whenFinalsAcknowledged() resolves on the ACK, not before (what Phone.stop() waits for before closing)', async () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bKw', 580, wire('580'), peer);
      layer.responseSent('INVITE', 'z9hG4bKv', 200, wire('200'), peer); // 2xx: sip.js's business, not waited for
      expect(layer.unacknowledgedFinals).to.equal(1);
      let done = false;
      const waiting = layer.whenFinalsAcknowledged().then(() => (done = true));
      clock.advance(3000);
      await Promise.resolve();
      expect(done).to.equal(false);
      expect(sent.map((s) => s.text)).to.deep.equal(['580', '580']); // Timer G keeps going meanwhile
      layer.requestReceived('ACK', 'z9hG4bKw');
      await waiting;
      expect(layer.unacknowledgedFinals).to.equal(0);
      await layer.whenFinalsAcknowledged(); // nothing pending: at once
    });

    it('whenFinalsAcknowledged() is bounded by Timer H (64·T1) when the ACK never comes, and by close()', async () => {
      const { clock, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bKh1', 580, wire('580'), peer);
      let at = -1;
      const waiting = layer.whenFinalsAcknowledged().then(() => (at = clock.now()));
      clock.advance(64 * 500 - 1);
      await Promise.resolve();
      expect(at).to.equal(-1);
      clock.advance(1);
      await waiting;
      expect(at).to.equal(64 * 500);
      layer.responseSent('INVITE', 'z9hG4bKh2', 486, wire('486'), peer);
      const closed = layer.whenFinalsAcknowledged();
      layer.close();
      await closed;
    });

    it('leaves 1xx and 2xx to INVITE alone (sip.js retransmits 2xx itself, RFC 3261 §13.3.1.4)', () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('INVITE', 'z9hG4bK2', 180, wire('180'), peer);
      layer.responseSent('INVITE', 'z9hG4bK2', 200, wire('200'), peer);
      clock.advance(40_000);
      expect(sent).to.have.length(0);
      expect(layer.size).to.equal(0);
      expect(layer.requestReceived('INVITE', 'z9hG4bK2')).to.equal('deliver');
    });
  });

  describe('Timer J: final responses to incoming non-INVITE requests', () => {
    it('answers a retransmitted BYE from the cache for 64·T1, then passes requests up again', () => {
      const { clock, sent, layer } = setup();
      expect(layer.requestReceived('BYE', 'z9hG4bKj')).to.equal('deliver');
      layer.responseSent('BYE', 'z9hG4bKj', 200, wire('200-BYE'), peer);
      clock.advance(10_000);
      expect(layer.requestReceived('BYE', 'z9hG4bKj')).to.equal('absorb');
      expect(layer.requestReceived('BYE', 'z9hG4bKj')).to.equal('absorb');
      expect(sent.map((s) => s.text)).to.deep.equal(['200-BYE', '200-BYE']);
      expect(layer.stats).to.deep.equal({ retransmissionsSent: 2, retransmissionsAbsorbed: 2 });
      clock.advance(22_000);
      expect(layer.requestReceived('BYE', 'z9hG4bKj')).to.equal('deliver');
    });

    it('does not retransmit the response by itself (only on a retransmitted request)', () => {
      const { clock, sent, layer } = setup();
      layer.responseSent('OPTIONS', 'z9hG4bKo', 200, wire('200'), peer);
      clock.advance(40_000);
      expect(sent).to.have.length(0);
    });

    it('caches the 200 to CANCEL separately from the INVITE with the same branch', () => {
      const { layer, sent } = setup();
      layer.responseSent('CANCEL', 'z9hG4bKx', 200, wire('200-CANCEL'), peer);
      expect(layer.requestReceived('INVITE', 'z9hG4bKx')).to.equal('deliver');
      expect(layer.requestReceived('CANCEL', 'z9hG4bKx')).to.equal('absorb');
      expect(sent.map((s) => s.text)).to.deep.equal(['200-CANCEL']);
    });

    it('ignores 100 Trying (sip.js resends it in Proceeding)', () => {
      const { layer } = setup();
      layer.responseSent('BYE', 'z9hG4bKt', 100, wire('100'), peer);
      expect(layer.requestReceived('BYE', 'z9hG4bKt')).to.equal('deliver');
    });
  });

  it('after 1,000 transactions of each kind finished and their timers fired, it holds 0 entries and 0 timers', () => {
    const { clock, layer } = setup();
    for (let i = 0; i < 1000; i++) {
      layer.requestSent('INVITE', `z9hG4bKi${i}`, wire('INVITE'), peer);
      layer.responseReceived('INVITE', `z9hG4bKi${i}`, 200);
      layer.requestSent('BYE', `z9hG4bKb${i}`, wire('BYE'), peer);
      layer.responseReceived('BYE', `z9hG4bKb${i}`, 200);
      layer.requestReceived('BYE', `z9hG4bKs${i}`);
      layer.responseSent('BYE', `z9hG4bKs${i}`, 200, wire('200'), peer);
      layer.responseSent('INVITE', `z9hG4bKr${i}`, 486, wire('486'), peer);
      layer.requestReceived('ACK', `z9hG4bKr${i}`);
    }
    expect(layer.size).to.equal(4000);
    clock.advance(64 * 500);
    expect(layer.size).to.equal(0);
    expect(clock.pendingCount).to.equal(0);
  });

  it('keeps the bytes it may resend in their own allocation, not a slice of the shared Buffer pool', () => {
    const { clock, layer } = setup();
    const resent: Buffer[] = [];
    const own = new RetransmissionLayer({ clock, send: (w) => resent.push(w) });
    // Buffer.from of a short string is a slice of Node's 8 KiB pool: keeping it would keep the slab.
    const pooled = Buffer.from('SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\n\r\n');
    expect(pooled.buffer.byteLength).to.be.greaterThan(pooled.length);
    own.responseSent('BYE', 'z9hG4bKpool', 200, pooled, peer);
    expect(own.requestReceived('BYE', 'z9hG4bKpool')).to.equal('absorb');
    expect(resent).to.have.length(1);
    expect(resent[0]!.equals(pooled)).to.equal(true);
    expect(resent[0]!.buffer.byteLength).to.equal(pooled.length);
    void layer;
  });

  it('close() cancels every timer and stops acting', () => {
    const { clock, sent, layer } = setup();
    layer.requestSent('INVITE', 'z9hG4bK1', wire('INVITE'), peer);
    layer.requestSent('BYE', 'z9hG4bK2', wire('BYE'), peer);
    layer.responseSent('INVITE', 'z9hG4bK3', 486, wire('486'), peer);
    layer.responseSent('BYE', 'z9hG4bK4', 200, wire('200'), peer);
    layer.close();
    expect(clock.pendingCount).to.equal(0);
    clock.advance(40_000);
    expect(sent).to.have.length(0);
    expect(layer.requestReceived('BYE', 'z9hG4bK4')).to.equal('deliver');
  });
});
