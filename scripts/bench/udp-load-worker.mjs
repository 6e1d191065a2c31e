/**
 * Closed-loop UDP load generator (a worker thread, so it runs on its own core beside the server
 * under test): keeps `window` datagrams in flight to `port`, sends one more per reply, and after
 * `durationMs` posts how many replies came back and the rate. Packets are sent in turn from
 * `packets` (with `srtp`: numbered and protected one by one, see below).
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from "node:worker_threads";

const { port, packets, durationMs, window, srtp } = workerData;
const sock = createSocket('udp4');
const bufs = packets.map((p) => Buffer.from(p));
let sent = 0;
let replies = 0;
let counting = false;
let countStart = 0;
// `srtp` ({ suite, masterKey, masterSalt }): act as an SRTP peer. Each packet gets the next sequence
// number and timestamp and is protected here (RFC 3711 §3.3), on this thread, so every datagram the
// server sees is new to its replay window. Worker threads do not inherit tsx's hooks: register them.
let protect;
if (srtp) {
  const { register } = await import('tsx/esm/api');
  register();
  const { SrtpContext } = await import(new URL('../../lib/srtp/srtp-context.ts', import.meta.url).href);
  const context = new SrtpContext({ direction: 'outbound', suite: srtp.suite, masterKey: Buffer.from(srtp.masterKey), masterSalt: Buffer.from(srtp.masterSalt) });
  protect = (plain, n) => {
    plain.writeUInt16BE(n & 0xffff, 2);
    plain.writeUInt32BE((n * 160) >>> 0, 4);
    const r = context.protectRtp(plain);
    if (!r.ok) throw new Error(`protect failed: ${r.reason}`);
    return r.packet;
  };
}
const send = () => {
  const b = bufs[sent % bufs.length];
  const out = protect ? protect(b, sent) : b;
  sent++;
  sock.send(out, port, '127.0.0.1');
};
sock.on('message', () => {
  if (counting) replies++;
  send();
});
sock.bind(0, '127.0.0.1', () => {
  for (let i = 0; i < window; i++) send();
  // Refill the window now and then: a datagram lost on loopback (full socket buffer) would shrink it.
  const refill = setInterval(() => { for (let i = 0; i < 8; i++) send(); }, 50);
  setTimeout(() => { counting = true; countStart = performance.now(); }, Math.min(500, durationMs / 4));
  setTimeout(() => {
    const seconds = (performance.now() - countStart) / 1000;
    clearInterval(refill);
    sock.close();
    parentPort.postMessage({ replies, rate: replies / seconds });
  }, durationMs);
});
