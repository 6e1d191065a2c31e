/**
 * The only I/O boundary of the protocol code: a datagram-style socket. UDP sockets
 * implement it directly; TCP (RFC 4571/RFC 8656 framing) implements it per connection.
 */
export type AddressFamily = 'IPv4' | 'IPv6';

/** An IP address and port: RFC 8445's "transport address" (the protocol is the socket's). */
export interface TransportAddress {
  address: string;
  port: number;
  family: AddressFamily;
}

export function formatAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function sameAddress(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  return a.port === b.port && a.address === b.address;
}

export function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

export type PacketHandler = (data: Buffer, from: TransportAddress) => void;

export interface PacketSocket {
  /** Local transport address the socket is bound to. */
  readonly local: TransportAddress;
  readonly protocol: 'udp' | 'tcp';
  /** Sends one datagram (or one framed message on TCP). Errors are reported, never thrown. */
  send(data: Buffer, to: { address: string; port: number }): void;
  /** Registers the receive handler (one per socket; a later call replaces it). */
  onPacket(handler: PacketHandler): void;
  close(): Promise<void>;
  readonly closed: boolean;
}
