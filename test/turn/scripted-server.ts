import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import type { PacketHandler, PacketSocket, TransportAddress } from '../../lib/net/socket.js';
import { longTermKey } from '../../lib/stun/integrity.js';
import { isStunPacket, StunAttr, StunMessage, type StunClass } from '../../lib/stun/message.js';
import { TurnClient, TurnError, type TurnAllocateOptions } from '../../lib/turn/client.js';

/**
 * The scripted server of the TurnClient unit tests: the test plays the server by reading what the
 * client sent on a fake shared socket and feeding answers to handlePacket(), under a ManualClock.
 */

export const SERVER: TransportAddress = { address: '203.0.113.5', port: 3478, family: 'IPv4' };
export const RELAYED = { address: '203.0.113.5', port: 50000 };
export const MAPPED = { address: '198.51.100.7', port: 40000 };
export const PEER = { address: '198.51.100.20', port: 6000 };
export const USER = 'alice';
export const PASSWORD = 'pa55-word-xyz';
export const REALM = 'example.org';
export const KEY = longTermKey(USER, REALM, PASSWORD);

export class FakeSocket implements PacketSocket {
  readonly local: TransportAddress = { address: '192.0.2.10', port: 40000, family: 'IPv4' };
  readonly protocol = 'udp' as const;
  closed = false;
  sent: Buffer[] = [];
  send(data: Buffer, to: { address: string; port: number }): void {
    expect(to).to.deep.include({ address: SERVER.address, port: SERVER.port });
    this.sent.push(data);
  }
  onPacket(_handler: PacketHandler): void {}
  async close(): Promise<void> { this.closed = true; }
  /** Requests sent so far (retransmissions included). */
  requests(): StunMessage[] {
    return this.sent.filter(isStunPacket).map((b) => StunMessage.decode(b)).filter((m) => m.messageClass === 'request');
  }
  last(): StunMessage {
    const r = this.requests();
    return r[r.length - 1]!;
  }
}

export const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

export function reply(client: TurnClient, req: StunMessage, cls: StunClass, add: (m: StunMessage) => void = () => {}, opts: { key?: Buffer; corruptFingerprint?: boolean } = {}): boolean {
  const res = new StunMessage({ method: req.method, messageClass: cls, transactionId: req.transactionId });
  add(res);
  const bytes = res.encode({ integrityKey: opts.key, fingerprint: true });
  if (opts.corruptFingerprint) bytes[bytes.length - 1]! ^= 0xff;
  return client.handlePacket(bytes, SERVER);
}

export const challenge = (nonce = 'nonce-1') => (m: StunMessage) => {
  m.addErrorCode(401);
  m.add(StunAttr.REALM, Buffer.from(REALM));
  m.add(StunAttr.NONCE, Buffer.from(nonce));
};

export const allocated = (lifetime = 600) => (m: StunMessage) => {
  m.addXorAddress(StunAttr.XOR_RELAYED_ADDRESS, RELAYED);
  m.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, MAPPED);
  m.add(StunAttr.LIFETIME, u32(lifetime));
};

export function setup(extra: Partial<TurnAllocateOptions> = {}) {
  const clock = new ManualClock();
  const socket = new FakeSocket();
  const client = new TurnClient({ server: SERVER, transport: 'udp', username: USER, password: PASSWORD, socket, clock, ...extra });
  return { clock, socket, client };
}

/** Runs the 401 dance and a successful Allocate; returns the started client. */
export async function allocate(extra: Partial<TurnAllocateOptions> = {}, lifetime = 600) {
  const s = setup(extra);
  const started = s.client.start();
  await flush();
  reply(s.client, s.socket.last(), 'error', challenge());
  await flush();
  reply(s.client, s.socket.last(), 'success', allocated(lifetime), { key: KEY });
  await started;
  return s;
}

export async function rejection(p: Promise<unknown>): Promise<TurnError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(TurnError);
    return e as TurnError;
  }
  throw new Error('expected a rejection');
}
