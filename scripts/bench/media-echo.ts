/**
 * Benchmark 5: packets per second through icephone's packet paths vs a raw `dgram` echo in the
 * same process, each driven by the same closed-loop generator (udp-load-worker.mjs, own thread),
 * in rounds that alternate with the echo so that the machine drifting during the run weighs on both:
 *  - STUN: UdpSocket → PacketDemux → StunMessage.decode → judgeIncomingCheck (FINGERPRINT,
 *    USERNAME, MESSAGE-INTEGRITY checked, as the ICE agent does) → encodeSuccessResponse
 *    (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT written) → UdpSocket.send;
 *  - RTP: UdpSocket → PacketDemux → RtpSession.receive (parse, sequence/jitter stats, G.711 decode)
 *    → serializeRtp of a reply packet → UdpSocket.send;
 *  - SRTP: the same RTP path with SRTP on it, as an SRTP call runs it (RFC 3711,
 *    AES_CM_128_HMAC_SHA1_80): the generator protects each packet (its own thread, as the peer
 *    would), the server unprotects (index, replay window, tag, decrypt), runs RtpSession.receive,
 *    and protects its reply. The ratio to the RTP path of the same run is what SRTP costs there;
 *    the row's note turns the two rates into microseconds per packet.
 */
import { randomBytes } from 'node:crypto';
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
import { SrtpSession } from '../../lib/srtp/srtp-session.js';
import type { SrtpSuiteName } from '../../lib/srtp/suites.js';
import { TINY, ratio, round, type BenchRow } from './common.js';

const WINDOW = 64;
/** Alternating rounds per path (see benchMediaPaths). */
const ROUNDS = 3;

/** SRTP keys the load generator protects with (it plays the peer of an SRTP call). */
interface GeneratorSrtp { suite: SrtpSuiteName; masterKey: Uint8Array; masterSalt: Uint8Array }

async function drive(port: number, packets: Buffer[], durationMs: number, srtp?: GeneratorSrtp): Promise<number> {
  const worker = new Worker(join(import.meta.dirname, 'udp-load-worker.mjs'), {
    workerData: { port, packets: packets.map((p) => new Uint8Array(p)), durationMs, window: WINDOW, srtp },
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

  // The raw echo baseline and our two paths, alternating in ROUNDS rounds of equal length (echo,
  // STUN, echo, RTP...): a drift of the machine during the run (other guests' CPU steal) then weighs
  // on both sides of each ratio alike, instead of on whichever ran second.
  const rounds = TINY ? 1 : ROUNDS;
  const slice = durationMs / rounds;
  const echo = await rawEcho();

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

  const perRound = { rawStun: [] as number[], stun: [] as number[], rawRtp: [] as number[], rtp: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    perRound.rawStun.push(await drive(echo.port, requests, slice));
    perRound.stun.push(await drive(stunSock.local.port, requests, slice));
    perRound.rawRtp.push(await drive(echo.port, rtpPackets, slice));
    perRound.rtp.push(await drive(rtpSock.local.port, rtpPackets, slice));
  }
  await echo.close();
  await stunSock.close();
  await rtpSock.close();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rawStun = mean(perRound.rawStun);
  const stun = mean(perRound.stun);
  const rawRtp = mean(perRound.rawRtp);
  const rtp = mean(perRound.rtp);
  const roundsNote = (ours: number[], raw: number[]) => rounds > 1
    ? `mean of ${rounds} rounds alternating with the echo, ratios ${ours.map((v, i) => ratio(v, raw[i]!)).join(' / ')}`
    : 'one round';

  // The same RTP path with SRTP: unprotect before RtpSession, protect the reply.
  const keys = { masterKey: randomBytes(16), masterSalt: randomBytes(14) };
  const suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80';
  const srtpSession = new SrtpSession({ suite, outbound: keys });
  const srtpSock = await UdpSocket.bind('127.0.0.1', 0);
  const srtpRtp = new RtpSession({ codec: 'PCMU', payloadType: 0, sendRtp: () => undefined, sendRtcp: () => undefined, rtcpIntervalMs: 3_600_000 });
  let srtpSeq = 0;
  let srtpRefused = 0;
  const srtpDemux = new PacketDemux({
    rtp: (data, from) => {
      const inbound = srtpSession.unprotectRtp(data);
      if (!inbound.ok) { srtpRefused++; return; }
      srtpRtp.receive(inbound.packet);
      const reply = srtpSession.protectRtp(serializeRtp({ payloadType: 0, marker: false, sequenceNumber: srtpSeq = (srtpSeq + 1) & 0xffff, timestamp: srtpSeq * 160, ssrc: 0x55667799, payload }));
      if (reply.ok) srtpSock.send(reply.packet, from);
    },
  });
  srtpSock.onPacket((d, f) => srtpDemux.handle(d, f));
  const srtp = await drive(srtpSock.local.port, rtpPackets, durationMs, { suite, masterKey: new Uint8Array(keys.masterKey), masterSalt: new Uint8Array(keys.masterSalt) });
  await srtpSock.close();
  const srtpAccepted = srtpSession.inbound.stats.rtp;

  const stunRatio = ratio(stun, rawStun);
  const rtpRatio = ratio(rtp, rawRtp);
  return [
    {
      benchmark: 'stun-responder', metric: 'Binding requests answered/s (MI+FINGERPRINT checked and written)', value: round(stun, 0), unit: 'req/s',
      baseline: { name: 'raw dgram echo', value: round(rawStun, 0), ratio: stunRatio },
      target: '>= 0.5x raw echo', met: stunRatio !== null && stunRatio >= 0.5,
      note: `${roundsNote(perRound.stun, perRound.rawStun)}${rejected ? `; ${rejected} requests rejected` : ''}`,
    },
    {
      benchmark: 'rtp-path', metric: 'RTP packets through UdpSocket+demux+RtpSession+reply', value: round(rtp, 0), unit: 'pkt/s',
      baseline: { name: 'raw dgram echo', value: round(rawRtp, 0), ratio: rtpRatio },
      target: '>= 0.7x raw echo', met: rtpRatio !== null && rtpRatio >= 0.7,
      note: roundsNote(perRound.rtp, perRound.rawRtp),
    },
    {
      benchmark: 'srtp-path', metric: 'the rtp-path with SRTP: unprotect + RtpSession + protected reply (AES_CM_128_HMAC_SHA1_80, 172-octet packets)',
      value: round(srtp, 0), unit: 'pkt/s',
      baseline: { name: 'rtp-path (same run)', value: round(rtp, 0), ratio: ratio(srtp, rtp) },
      note: `${srtp > 0 && rtp > 0 ? `SRTP adds ${round(1e6 / srtp - 1e6 / rtp, 1)} µs per packet (${round(1e6 / rtp, 1)} -> ${round(1e6 / srtp, 1)})` : 'no packets'}; ` +
        `${srtpAccepted} unprotected, ${srtpRefused} refused`,
    },
  ];
}
