import { lookup as dnsLookup, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import DgramAsPromised from 'dgram-as-promised';
import type { SocketAsPromised } from 'dgram-as-promised';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { canonicalIp, normalizeAddress, socketAddressFor } from '../base/address.js';
import { familyOf, type PacketHandler, type PacketSocket, type TransportAddress } from './socket.js';

/**
 * The socket's name lookup: an IP literal (every ICE, RTP and SIP-over-UDP destination icephone
 * sends to is one) is its own answer, given at once; anything else goes to dns.lookup. Node's
 * default lookup answers even a literal on the next tick, so each datagram cost a deferred
 * callback before its send (issue 14, about a tenth of the per-packet cost under load).
 */
function lookupLiteral(hostname: string, options: number | LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback as never);
}

/**
 * A bound UDP socket as a PacketSocket. Binding, closing and the socket itself come from
 * dgram-as-promised; sends are fire-and-forget (a send error is logged and counted,
 * never thrown into protocol code, as a lost datagram would be).
 *
 * Addresses are canonical (base/address.ts) both ways: the `from` of every datagram is the
 * canonical text of what the OS reported (a dual-stack socket's `::ffff:192.0.2.1` is
 * `192.0.2.1`, family IPv4), and a send to an IPv4 address from an IPv6 socket goes to the
 * mapped form the socket needs.
 */
export class UdpSocket implements PacketSocket {
  readonly protocol = 'udp' as const;
  private handler: PacketHandler = () => {};
  private isClosed = false;
  /** Datagrams whose send failed (EPERM from a firewall, unreachable network). */
  sendErrors = 0;
  private inFlight = 0;
  private drained?: () => void;
  /** The last source text the OS reported and its canonical form (a one-entry memo: media comes from one peer). */
  private lastRaw = '';
  private lastCanonical = '';

  private constructor(
    private readonly sock: SocketAsPromised,
    readonly local: TransportAddress,
    private readonly log: Logger,
  ) {
    sock.socket.on('message', (msg: Buffer, rinfo: { address: string; port: number; family: string }) => {
      if (this.isClosed) return;
      try {
        const address = this.canonicalSource(rinfo.address);
        this.handler(msg, { address, port: rinfo.port, family: address.includes(':') ? 'IPv6' : 'IPv4' });
      } catch (e) {
        this.log.warn(`packet handler threw on datagram from ${rinfo.address}:${rinfo.port}: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /**
   * Binds a UDP socket. `port` 0 picks an ephemeral port.
   * @throws Error (EADDRINUSE, EADDRNOTAVAIL) when the address cannot be bound.
   */
  static async bind(address: string, port = 0, log: Logger = silentLogger): Promise<UdpSocket> {
    // Canonical first: `::ffff:127.0.0.1` binds an IPv4 socket to 127.0.0.1, `0:0::1` is `::1`.
    const bindTo = normalizeAddress(address);
    const type = familyOf(bindTo) === 'IPv6' ? 'udp6' : 'udp4';
    const sock = DgramAsPromised.createSocket({ type, reuseAddr: false, lookup: lookupLiteral });
    const info = await sock.bind(port, bindTo);
    const local = canonicalIp(info.address);
    return new UdpSocket(sock, { address: local, port: info.port, family: type === 'udp6' ? 'IPv6' : 'IPv4' }, log);
  }

  private canonicalSource(raw: string): string {
    if (raw !== this.lastRaw) {
      this.lastCanonical = canonicalIp(raw);
      this.lastRaw = raw;
    }
    return this.lastCanonical;
  }

  get closed(): boolean { return this.isClosed; }

  onPacket(handler: PacketHandler): void { this.handler = handler; }

  send(data: Buffer, to: { address: string; port: number }): void {
    if (this.isClosed) return;
    this.inFlight++;
    this.sock.socket.send(data, to.port, socketAddressFor(to.address, this.local.family), (err) => {
      if (--this.inFlight === 0) this.drained?.();
      if (err) {
        this.sendErrors++;
        this.log.debug(`send to ${to.address}:${to.port} failed: ${err.message}`);
      }
    });
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    // Let datagrams already handed to the socket leave (a final response sent just before exit).
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        setTimeout(resolve, 200).unref();
      });
    }
    try {
      await this.sock.close();
    } catch {
      /* already closed */
    }
  }
}
