import { ByteReader, ByteWriter } from '../base/bytes.js';
import { canonicalIp, formatIpBytes, parseIp } from '../base/address.js';
import { ParseError, errorMessage } from '../base/errors.js';
import type { AddressFamily, TransportAddress } from '../net/socket.js';

/**
 * Value codecs for the structured STUN attributes: the address family
 * (MAPPED-ADDRESS, RFC 8489 §14.1; XOR-MAPPED-ADDRESS, RFC 8489 §14.2) and ERROR-CODE
 * (RFC 8489 §14.8), plus IP text <-> bytes helpers. Pure functions, no message context:
 * the XOR forms take the 16-byte "XOR pad", which is bytes 4..19 of the message header
 * (magic cookie followed by the 96-bit transaction ID for RFC 8489 messages, the whole
 * 128-bit transaction ID for RFC 3489 messages).
 */

/** RFC 8489 §14.1 address family octet. */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;

/**
 * Parses IPv4 dotted-quad or IPv6 text (RFC 4291 §2.2, including the `::` shorthand,
 * an embedded dotted IPv4 tail and a `%zone` suffix, which is dropped) to 4 or 16 bytes
 * (base/address.ts parseIp).
 * @throws RangeError when `text` is not an IP address (the message says why).
 */
export function ipToBytes(text: string): Buffer {
  try {
    return parseIp(text).bytes;
  } catch (e) {
    throw new RangeError(errorMessage(e));
  }
}

/**
 * The 4 or 16 bytes of an IP literal, as ipToBytes gives them, remembered per text: a responder
 * answers the same few peers again and again (every Binding request of a call comes from the
 * same remote candidates), and parsing the text was a tenth of a response's cost. Bounded: at
 * most IP_BYTES_CACHE_SIZE texts, the oldest-added dropped first; only texts that parse are
 * kept. The returned Buffer is shared: read it, never modify it.
 * @throws RangeError when `text` is not an IP address (as ipToBytes).
 */
export function ipBytesCached(text: string): Buffer {
  let bytes = IP_BYTES.get(text);
  if (bytes === undefined) {
    bytes = ipToBytes(text);
    if (IP_BYTES.size >= IP_BYTES_CACHE_SIZE) IP_BYTES.delete(IP_BYTES.keys().next().value!);
    IP_BYTES.set(text, bytes);
  }
  return bytes;
}

/** Most IP texts ipBytesCached keeps (a few per call in progress, with room to spare). */
export const IP_BYTES_CACHE_SIZE = 1024;
const IP_BYTES = new Map<string, Buffer>();

/** How many IP texts ipBytesCached holds (for tests and leak checks). */
export function ipBytesCacheSize(): number {
  return IP_BYTES.size;
}

/**
 * Formats 4 or 16 address bytes as text: dotted quad, or RFC 5952 canonical IPv6
 * (lower case, no leading zeros, longest run of two or more zero groups as `::`, the
 * first on a tie; IPv4-mapped addresses as `::ffff:a.b.c.d`, RFC 5952 §5). Byte-level:
 * decoded attributes go further, to the canonical address (decodeAddress).
 * @throws RangeError for any other length.
 */
export function bytesToIp(bytes: Uint8Array): string {
  return formatIpBytes(bytes);
}

/**
 * Checks the shape of an address attribute value (RFC 8489 §14.1): 8 bytes with family
 * 0x01 or 20 bytes with family 0x02.
 * @throws ParseError naming `what`.
 */
export function checkAddressValue(value: Buffer, what = 'address attribute'): void {
  if (value.length < 4) throw new ParseError(`${what} value is ${value.length} bytes, need at least 4`, what);
  const family = value[1];
  if (family === FAMILY_IPV4) {
    if (value.length !== 8) throw new ParseError(`${what} IPv4 value is ${value.length} bytes, expected 8`, what);
  } else if (family === FAMILY_IPV6) {
    if (value.length !== 20) throw new ParseError(`${what} IPv6 value is ${value.length} bytes, expected 20`, what);
  } else {
    throw new ParseError(`${what} has unknown address family 0x${(family ?? 0).toString(16)}`, what);
  }
}

/** RFC 8489 §14.1 MAPPED-ADDRESS value (also RFC 3489 §11.2.1 address attributes). */
export function encodeAddress(addr: { address: string; port: number }): Buffer {
  checkPort(addr.port);
  const ip = ipToBytes(addr.address);
  return new ByteWriter(20).u8(0).u8(ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6).u16(addr.port).bytes(ip).toBuffer();
}

/**
 * Decodes an RFC 8489 §14.1 address value to a canonical transport address (base/address.ts):
 * an IPv4-mapped IPv6 value (`::ffff:a.b.c.d`, what a dual-stack server reports for an IPv4
 * client) is the IPv4 address, family IPv4, so it compares equal to the socket's view of it.
 * @throws ParseError when malformed.
 */
export function decodeAddress(value: Buffer, what = 'address attribute'): TransportAddress {
  checkAddressValue(value, what);
  const r = new ByteReader(value);
  r.u8('reserved');
  const family = r.u8('family');
  const port = r.u16('port');
  const ip = r.bytes(family === FAMILY_IPV4 ? 4 : 16, 'address');
  const address = canonicalIp(bytesToIp(ip));
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

/**
 * RFC 8489 §14.2 XOR-MAPPED-ADDRESS value: X-Port is the port XOR the top 16 bits of the
 * magic cookie; X-Address is the IPv4 address XOR the magic cookie, or the IPv6 address XOR
 * the magic cookie concatenated with the transaction ID. `xorPad` is the 16 bytes that
 * follow the message type and length (see the file comment), so the same code serves RFC
 * 3489-era messages, whose XOR-MAPPED-ADDRESS used the leading bits of the 128-bit
 * transaction ID in the same way.
 */
export function encodeXorAddress(addr: { address: string; port: number }, xorPad: Buffer): Buffer {
  checkPad(xorPad);
  const plain = encodeAddress(addr);
  xorInPlace(plain, xorPad);
  return plain;
}

/** Inverse of encodeXorAddress. @throws ParseError when malformed. */
export function decodeXorAddress(value: Buffer, xorPad: Buffer, what = 'XOR address attribute'): TransportAddress {
  checkPad(xorPad);
  checkAddressValue(value, what);
  const plain = Buffer.from(value);
  xorInPlace(plain, xorPad);
  return decodeAddress(plain, what);
}

function xorInPlace(value: Buffer, pad: Buffer): void {
  value[2] ^= pad[0]!;
  value[3] ^= pad[1]!;
  for (let i = 4; i < value.length; i++) value[i] ^= pad[i - 4]!;
}

function checkPad(pad: Buffer): void {
  if (pad.length !== 16) throw new RangeError(`XOR pad must be 16 bytes (cookie + transaction ID), got ${pad.length}`);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port ${port} not in 0..65535`);
}

/** Reason phrases of RFC 8489 §14.8 and RFC 8656 §18 / RFC 8445 §7.3.1.1 error codes. */
export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  405: 'Mobility Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  487: 'Role Conflict',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/**
 * RFC 8489 §14.8 ERROR-CODE value: 21 reserved zero bits, Class (3 bits, hundreds digit),
 * Number (8 bits, code modulo 100), then the UTF-8 reason phrase.
 * @throws RangeError unless 300 <= code <= 699 ("The Class represents the hundreds digit
 * of the error code. The value MUST be between 3 and 6").
 */
export function encodeErrorCode(code: number, reason: string = ERROR_REASONS[code] ?? ''): Buffer {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new RangeError(`STUN error code ${code} not in 300..699`);
  return new ByteWriter(8 + reason.length * 3)
    .u16(0)
    .u8(Math.floor(code / 100))
    .u8(code % 100)
    .bytes(Buffer.from(reason, 'utf8'))
    .toBuffer();
}

/** Inverse of encodeErrorCode. @throws ParseError when the value is short or the class/number out of range. */
export function decodeErrorCode(value: Buffer): { code: number; reason: string } {
  const r = new ByteReader(value);
  r.u16('ERROR-CODE reserved');
  const errorClass = r.u8('ERROR-CODE class') & 0x07;
  const number = r.u8('ERROR-CODE number');
  if (errorClass < 3 || errorClass > 6) throw new ParseError(`ERROR-CODE class ${errorClass} not in 3..6`, 'ERROR-CODE');
  if (number > 99) throw new ParseError(`ERROR-CODE number ${number} not in 0..99`, 'ERROR-CODE');
  return { code: errorClass * 100 + number, reason: r.bytes(r.remaining, 'ERROR-CODE reason').toString('utf8') };
}
