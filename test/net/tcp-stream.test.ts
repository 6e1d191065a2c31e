import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import { ManualClock } from '../../lib/base/clock.js';
import { TimeoutError } from '../../lib/base/errors.js';
import { StreamPacketSocket } from '../../lib/net/tcp-stream.js';

/**
 * StreamPacketSocket's connect timeout runs on the injected Clock: against a real listener on
 * 127.0.0.1 that accepts and then says nothing (no TLS ServerHello, no CONNECT answer), the
 * timeout fires exactly when the ManualClock is advanced past it, and not before.
 */

describe('net/tcp-stream: connect timeouts on the injected clock', function () {
  this.timeout(3000); // the timeouts asked for are 60 s: only the ManualClock can fire them in time
  let server: Server;
  let port: number;
  let accepted: Socket[];
  let received: Buffer[];

  beforeEach(async () => {
    accepted = [];
    received = [];
    server = createServer((s) => {
      accepted.push(s);
      s.on('data', (d) => received.push(d));
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const waitUntil = async (cond: () => boolean): Promise<void> => {
    while (!cond()) await new Promise<void>((r) => setTimeout(r, 5));
  };

  async function expectTimeout(p: Promise<unknown>): Promise<TimeoutError> {
    try {
      await p;
    } catch (e) {
      expect(e).to.be.instanceOf(TimeoutError);
      return e as TimeoutError;
    }
    throw new Error('expected a TimeoutError');
  }

  it('a TLS handshake that never completes times out on the ManualClock', async () => {
    const clock = new ManualClock();
    let settled = false;
    const connecting = StreamPacketSocket.connect({ remote: { address: '127.0.0.1', port }, tls: {}, timeoutMs: 60_000, clock });
    void connecting.catch(() => {}).finally(() => { settled = true; });
    await waitUntil(() => received.length > 0); // the ClientHello arrived: TCP is up, TLS is waiting
    clock.advance(59_999);
    await new Promise<void>((r) => setTimeout(r, 20));
    expect(settled).to.equal(false);
    clock.advance(1);
    const e = await expectTimeout(connecting);
    expect(e.message).to.match(new RegExp(`^TLS 127\\.0\\.0\\.1:${port}: not connected within 60000 ms$`));
  });

  it('an HTTP proxy that never answers CONNECT times out on the ManualClock', async () => {
    const clock = new ManualClock();
    const connecting = StreamPacketSocket.connect({ remote: { address: '192.0.2.1', port: 3478 }, proxy: { host: '127.0.0.1', port }, timeoutMs: 60_000, clock });
    void connecting.catch(() => {});
    await waitUntil(() => Buffer.concat(received).includes('\r\n\r\n'));
    expect(Buffer.concat(received).toString()).to.match(/^CONNECT 192\.0\.2\.1:3478 HTTP\/1\.1\r\n/);
    clock.advance(60_000);
    const e = await expectTimeout(connecting);
    expect(e.message).to.match(/HTTP proxy 127\.0\.0\.1:\d+ \(CONNECT 192\.0\.2\.1:3478\): no answer within 60000 ms/);
  });
});
