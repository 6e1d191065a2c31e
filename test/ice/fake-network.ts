import { canonicalIp, transportAddressKey } from '../../lib/base/address.js';
import type { Clock } from '../../lib/base/clock.js';
import { familyOf, type PacketHandler, type PacketSocket, type TransportAddress } from '../../lib/net/socket.js';

export interface Datagram { at: number; from: TransportAddress; to: { address: string; port: number }; data: Buffer }

/**
 * An in-memory datagram network driven by a Clock: each datagram is delivered `latencyMs`
 * later through a clock timer, so tests run under a ManualClock without real sockets.
 * Like a real network (and UdpSocket), it routes by address, not by its spelling: sockets
 * bind to the canonical text and a datagram to `2001:DB8::2` reaches the one on `2001:db8::2`.
 */
export class FakeNetwork {
  private readonly sockets = new Map<string, FakeSocket>();
  private nextPort = 40000;
  readonly log: Datagram[] = [];
  /** Drops a datagram when it returns false (loss, NAT filtering); it is still logged, with `dropped`. */
  filter?: (d: Datagram) => boolean;
  readonly dropped: Datagram[] = [];

  constructor(readonly clock: Clock, readonly latencyMs = 1) {}

  bind = async (address: string, port = 0): Promise<FakeSocket> => this.bindSync(address, port);

  bindSync(address: string, port = 0): FakeSocket {
    const p = port || this.nextPort++;
    const local = canonicalIp(address);
    const key = transportAddressKey({ address: local, port: p });
    if (this.sockets.has(key)) throw new Error(`EADDRINUSE ${address}:${p}`);
    const s = new FakeSocket(this, { address: local, port: p, family: familyOf(local) });
    this.sockets.set(key, s);
    return s;
  }

  /** Called by sockets. */
  transmit(from: TransportAddress, to: { address: string; port: number }, data: Buffer): void {
    const d: Datagram = { at: this.clock.now(), from, to, data: Buffer.from(data) };
    this.log.push(d);
    if (this.filter && !this.filter(d)) {
      this.dropped.push(d);
      return;
    }
    const copy = Buffer.from(data);
    this.clock.setTimer(this.latencyMs, () => {
      const dest = this.sockets.get(transportAddressKey(to));
      if (dest && !dest.closed) dest.deliver(copy, from);
    });
  }

  /** Hands `data` to the socket bound to `to` at once, without a clock timer (input read after a stall, ManualClock.stall). */
  deliverNow(from: TransportAddress, to: { address: string; port: number }, data: Buffer): void {
    this.log.push({ at: this.clock.now(), from, to, data: Buffer.from(data) });
    const dest = this.sockets.get(transportAddressKey(to));
    if (dest && !dest.closed) dest.deliver(Buffer.from(data), from);
  }

  unbind(s: FakeSocket): void {
    this.sockets.delete(transportAddressKey(s.local));
  }
}

export class FakeSocket implements PacketSocket {
  readonly protocol = 'udp' as const;
  private handler: PacketHandler = () => {};
  private isClosed = false;

  constructor(private readonly net: FakeNetwork, readonly local: TransportAddress) {}

  get closed(): boolean { return this.isClosed; }
  onPacket(handler: PacketHandler): void { this.handler = handler; }
  send(data: Buffer, to: { address: string; port: number }): void {
    if (!this.isClosed) this.net.transmit(this.local, to, data);
  }
  deliver(data: Buffer, from: TransportAddress): void {
    try {
      this.handler(data, from);
    } catch {
      /* like UdpSocket: a throwing handler never unwinds into the network */
    }
  }
  async close(): Promise<void> {
    this.isClosed = true;
    this.net.unbind(this);
  }
}
