import DgramAsPromised from 'dgram-as-promised';
import type { SocketAsPromised } from 'dgram-as-promised';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { familyOf, type PacketHandler, type PacketSocket, type TransportAddress } from './socket.js';

/**
 * A bound UDP socket as a PacketSocket. Binding, closing and the socket itself come from
 * dgram-as-promised; sends are fire-and-forget (a send error is logged and counted,
 * never thrown into protocol code, as a lost datagram would be).
 */
export class UdpSocket implements PacketSocket {
  readonly protocol = 'udp' as const;
  private handler: PacketHandler = () => {};
  private isClosed = false;
  /** Datagrams whose send failed (EPERM from a firewall, unreachable network). */
  sendErrors = 0;
  private inFlight = 0;
  private drained?: () => void;

  private constructor(
    private readonly sock: SocketAsPromised,
    readonly local: TransportAddress,
    private readonly log: Logger,
  ) {
    sock.socket.on('message', (msg: Buffer, rinfo: { address: string; port: number; family: string }) => {
      if (this.isClosed) return;
      try {
        this.handler(msg, { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' });
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
    const type = familyOf(address) === 'IPv6' ? 'udp6' : 'udp4';
    const sock = DgramAsPromised.createSocket({ type, reuseAddr: false });
    const info = await sock.bind(port, address);
    return new UdpSocket(sock, { address: info.address, port: info.port, family: familyOf(info.address) }, log);
  }

  get closed(): boolean { return this.isClosed; }

  onPacket(handler: PacketHandler): void { this.handler = handler; }

  send(data: Buffer, to: { address: string; port: number }): void {
    if (this.isClosed) return;
    this.inFlight++;
    this.sock.socket.send(data, to.port, to.address, (err) => {
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
