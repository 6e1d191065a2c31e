/**
 * Benchmark 5: packets per second through icephone's packet paths vs a raw `dgram` echo in the
 * same process, each driven by the same closed-loop generator (udp-load-worker.mjs, own thread):
 *  - STUN: UdpSocket → PacketDemux → StunMessage.decode → judgeIncomingCheck (FINGERPRINT,
 *    USERNAME, MESSAGE-INTEGRITY checked, as the ICE agent does) → encodeSuccessResponse
 *    (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT written) → UdpSocket.send;
 *  - RTP: UdpSocket → PacketDemux → RtpSession.receive (parse, sequence/jitter stats, G.711 decode)
 *    → serializeRtp of a reply packet → UdpSocket.send.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { UdpSocket } from '../../lib/net/udp.js';
import { PacketDemux } from '../../lib/net/demux.js';
import { StunMessage } from '../../lib/stun/message.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { buildCheckRequest, encodeSuccessResponse, judgeIncomingCheck } from '../../lib/ice/connectivity-check.js';
import { RtpSession } from '../../lib/rtp/session.js';
import { serializeRtp } from '../../lib/rtp/packet.js';
import { TINY, ratio, round, type BenchRow } from './common.js';

const WINDOW = 64;

async function drive(port: number, packets: Buffer[], durationMs: number): Promise<number> {
  const worker = new Worker(join(import.meta.dirname, 'udp-load-worker.mjs'), {
    workerData: { port, packets: packets.map((p) => new Uint8Array(p)), durationMs, window: WINDOW },
  });
  const result = await new Promise<{ rate: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  return result.rate;
}

async function rawEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const sock: Socket = createSocket('udp4');
  sock.on('message', (m, r) => sock.send(m, r.port, r.address));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, close: () => new Promise((r) => sock.close(() => r())) };
}

export async function benchMediaPaths(): Promise<BenchRow[]> {
  const durationMs = TINY ? 600 : 5000;
  const localUfrag = 'benchL';
  const localPwd = 'benchPasswordLocal0123456';
  const requests = Array.from({ length: 16 }, (_, i) =>
    buildCheckRequest({ localUfrag: 'benchR', remoteUfrag: localUfrag, priority: 1853824767 + i, role: 'controlling', tieBreaker: 0x1234n })
      .encode({ integrityKey: shortTermKey(localPwd), fingerprint: true }));
  const rtpPackets = Array.from({ length: 16 }, (_, i) =>
    serializeRtp({ payloadType: 0, marker: false, sequenceNumber: i, timestamp: i * 160, ssrc: 0x11223344, payload: Buffer.alloc(160, 0xff) }));

  // Raw echo baseline.
  const echo = await rawEcho();
  const rawStun = await drive(echo.port, requests, durationMs);
  const rawRtp = await drive(echo.port, rtpPackets, durationMs);
  await echo.close();

  // STUN through the ICE responder path.
  const stunSock = await UdpSocket.bind('127.0.0.1', 0);
  let rejected = 0;
  const stunDemux = new PacketDemux({
    stun: (data, from) => {
      const msg = StunMessage.decode(data);
      const verdict = judgeIncomingCheck(msg, { localUfrag, localPwd, remoteUfrag: 'benchR' });
      if (verdict.kind !== 'accept') { rejected++; return; }
      stunSock.send(encodeSuccessResponse(msg, from, localPwd), from);
    },
  });
  stunSock.onPacket((d, f) => stunDemux.handle(d, f));
  const stun = await drive(stunSock.local.port, requests, durationMs);
  await stunSock.close();

  // RTP through the media path.
  const rtpSock = await UdpSocket.bind('127.0.0.1', 0);
  let seq = 0;
  let peer: { address: string; port: number } | undefined;
  const session = new RtpSession({ codec: 'PCMU', payloadType: 0, sendRtp: () => undefined, sendRtcp: () => undefined, rtcpIntervalMs: 3_600_000 });
  const payload = Buffer.alloc(160, 0xd5);
  const rtpDemux = new PacketDemux({
    rtp: (data, from) => {
      peer = from;
      session.receive(data);
      rtpSock.send(serializeRtp({ payloadType: 0, marker: false, sequenceNumber: seq = (seq + 1) & 0xffff, timestamp: seq * 160, ssrc: 0x55667788, payload }), peer);
    },
  });
  rtpSock.onPacket((d, f) => rtpDemux.handle(d, f));
  const rtp = await drive(rtpSock.local.port, rtpPackets, durationMs);
  await rtpSock.close();

  const stunRatio = ratio(stun, rawStun);
  const rtpRatio = ratio(rtp, rawRtp);
  return [
    {
      benchmark: 'stun-responder', metric: 'Binding requests answered/s (MI+FINGERPRINT checked and written)', value: round(stun, 0), unit: 'req/s',
      baseline: { name: 'raw dgram echo', value: round(rawStun, 0), ratio: stunRatio },
      target: '>= 0.5x raw echo', met: stunRatio !== null && stunRatio >= 0.5, note: rejected ? `${rejected} requests rejected` : undefined,
    },
    {
      benchmark: 'rtp-path', metric: 'RTP packets through UdpSocket+demux+RtpSession+reply', value: round(rtp, 0), unit: 'pkt/s',
      baseline: { name: 'raw dgram echo', value: round(rawRtp, 0), ratio: rtpRatio },
      target: '>= 0.7x raw echo', met: rtpRatio !== null && rtpRatio >= 0.7,
    },
  ];
}
