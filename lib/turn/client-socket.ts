/**
 * The sockets a TurnClient opens for itself (RFC 8656 §3.1: the client reaches the server over
 * UDP, TCP, or TLS over TCP), behind a factory so that tests run the client on in-memory sockets
 * under a ManualClock and the ICE agent can hand in its own socket binder.
 */
import type { Clock } from '../base/clock.js';
import type { Logger } from '../base/log.js';
import type { HttpProxy } from '../net/http-connect.js';
import type { PacketSocket, TransportAddress } from '../net/socket.js';
import { StreamPacketSocket } from '../net/tcp-stream.js';
import { UdpSocket } from '../net/udp.js';

export type TurnTransport = 'udp' | 'tcp' | 'tls';

/** What the client asks of a factory: one socket to one server. */
export interface TurnSocketRequest {
  transport: TurnTransport;
  /** TCP/TLS: connect to it. UDP: the socket will send to it (bind an address of its family). */
  server: TransportAddress;
  /** UDP: the local address to bind, port 0 (any free port): '0.0.0.0', '::' or a given one. */
  localAddress: string;
  /** TLS: SNI, the name the certificate must be valid for (default servername, else the address), verification, trusted CAs. */
  tls?: { servername?: string; identity?: string; verify?: boolean; ca?: Buffer };
  /** TCP/TLS through an HTTP CONNECT proxy. */
  proxy?: HttpProxy;
  /** TCP/TLS connect timeout. */
  timeoutMs?: number;
  clock: Clock;
  log: Logger;
}

/** A socket the client owns. Stream sockets report their end (the allocation ends with them, RFC 8656 §3.1). */
export interface TurnSocket extends PacketSocket {
  onClose?(handler: (reason: string) => void): void;
  /** Why the stream ended, once it has. */
  readonly closeReason?: string;
}

/**
 * Opens a socket for a client. Rejects with TimeoutError when a connect ran out of time, any
 * other Error when binding or connecting failed (the client turns both into a TurnError).
 */
export type TurnSocketFactory = (request: TurnSocketRequest) => Promise<TurnSocket>;

/** Real sockets: UdpSocket.bind for UDP, StreamPacketSocket.connect (proxy, TLS) for TCP/TLS. */
export const openTurnSocket: TurnSocketFactory = async (request) => {
  if (request.transport === 'udp') return UdpSocket.bind(request.localAddress, 0, request.log);
  return StreamPacketSocket.connect({
    remote: request.server,
    tls: request.transport === 'tls' ? request.tls ?? {} : undefined,
    proxy: request.proxy,
    timeoutMs: request.timeoutMs,
    clock: request.clock,
    log: request.log,
  });
};

/**
 * A factory that binds UDP sockets with `bind` (the ICE agent's `bindSocket`, e.g. an in-memory
 * network in tests) and opens TCP/TLS connections with openTurnSocket.
 */
export function udpSocketsFrom(bind: (address: string) => Promise<PacketSocket>): TurnSocketFactory {
  return (request) => (request.transport === 'udp' ? bind(request.localAddress) : openTurnSocket(request));
}
