/**
 * The only I/O boundary of the protocol code: a datagram-style socket. UDP sockets
 * implement it directly; TCP (RFC 4571/RFC 8656 framing) implements it per connection.
 */
import { addressFamily, formatTransportAddress, sameTransportAddress, type AddressFamily } from '../base/address.js';

export type { AddressFamily };

/**
 * An IP address and port: RFC 8445's "transport address" (the protocol is the socket's).
 * `address` is canonical text (base/address.ts) wherever icephone creates one.
 */
export interface TransportAddress {
  address: string;
  port: number;
  family: AddressFamily;
}

/** `host:port`, `[v6]:port` (for logs; for map keys use transportAddressKey of base/address.ts). */
export function formatAddress(a: { address: string; port: number }): string {
  return formatTransportAddress(a);
}

/**
 * Same transport address: same port and the same IP in any spelling (case, zero padding,
 * `::` placement, IPv4-mapped, zone id), see base/address.ts. Never a text comparison (issue 10).
 */
export function sameAddress(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  return sameTransportAddress(a, b);
}

/** Family of an address (IPv4-mapped IPv6 counts as IPv4); never throws (see base/address.ts addressFamily). */
export function familyOf(address: string): AddressFamily {
  return addressFamily(address);
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
