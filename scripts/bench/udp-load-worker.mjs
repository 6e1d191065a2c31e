/**
 * Closed-loop UDP load generator (a worker thread, so it runs on its own core beside the server
 * under test): keeps `window` datagrams in flight to `port`, sends one more per reply, and after
 * `durationMs` posts how many replies came back and the rate. Packets are sent in turn from
 * `packets`; `stamp` writes a counter into bytes 8..11 (STUN transaction ID) or 2..3 (RTP sequence).
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from "node:worker_threads";

const { port, packets, durationMs, window } = workerData;
const sock = createSocket('udp4');
const bufs = packets.map((p) => Buffer.from(p));
let sent = 0;
let replies = 0;
let counting = false;
let countStart = 0;
const send = () => {
  const b = bufs[sent % bufs.length];
  sent++;
  sock.send(b, port, '127.0.0.1');
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
