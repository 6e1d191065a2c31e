import type { ManualClock } from '../../lib/base/clock.js';
import { DtmfSender, type DtmfPacket, type DtmfSendResult, type DtmfSenderOptions } from '../../lib/rtp/dtmf-sender.js';

/** A packet the sender handed over, with the clock time it did. */
export interface SentPacket {
  at: number;
  packet: DtmfPacket;
}

/** A sender on `clock` that records every packet with its send time. */
export function recordingSender(clock: ManualClock, extra: Partial<DtmfSenderOptions> = {}): { sender: DtmfSender; sent: SentPacket[]; done: DtmfSendResult[] } {
  const sent: SentPacket[] = [];
  const done: DtmfSendResult[] = [];
  const sender = new DtmfSender({ clock, payloadType: 101, send: (packet) => sent.push({ at: clock.now(), packet }), ...extra });
  sender.on('done', (r) => done.push(r));
  return { sender, sent, done };
}

