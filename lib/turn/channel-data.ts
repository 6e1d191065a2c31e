import { ParseError } from '../base/errors.js';

/**
 * TURN ChannelData messages, RFC 8656 §12.4:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Channel Number        |            Length             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    /                       Application Data                        /
 *
 * Codec only; the channel table lives in client.ts.
 */

/** RFC 8656 §12: channel numbers 0x4000 through 0x4FFF can be bound to a peer. */
export const MIN_CHANNEL_NUMBER = 0x4000;
export const MAX_CHANNEL_NUMBER = 0x4fff;

/** True for a number a client may bind (RFC 8656 §12, 0x4000..0x4FFF). */
export function isValidChannelNumber(channel: number): boolean {
  return Number.isInteger(channel) && channel >= MIN_CHANNEL_NUMBER && channel <= MAX_CHANNEL_NUMBER;
}

/**
 * RFC 7983 §7 / RFC 8656 §12.4: a ChannelData message starts with the bits 01 (first byte
 * 64..127), has a 4-byte header and a length field that fits the buffer. Over UDP the buffer
 * may carry up to 3 bytes of padding after the data ("the padding is not required but MAY be
 * included"), so only `length <= buf.length - 4` is checked.
 */
export function isChannelData(buf: Uint8Array): boolean {
  if (buf.length < 4) return false;
  const first = buf[0]!;
  if (first < 0x40 || first > 0x7f) return false;
  const length = (buf[2]! << 8) | buf[3]!;
  return length + 4 <= buf.length;
}

/** A decoded ChannelData message: the channel number and a view of the application data. */
export interface ChannelData {
  channel: number;
  data: Buffer;
}

/**
 * Encodes a ChannelData message. `padToFour`: RFC 8656 §12.5, "over TCP and TLS-over-TCP, the
 * ChannelData message MUST be padded to a multiple of four bytes"; over UDP no padding is sent.
 * @throws RangeError for a channel outside 0x4000..0x4FFF or data longer than 65535 bytes.
 */
export function encodeChannelData(channel: number, data: Uint8Array, padToFour = false): Buffer {
  if (!isValidChannelNumber(channel)) throw new RangeError(`channel number 0x${channel.toString(16)} not in 0x4000..0x4FFF`);
  if (data.length > 0xffff) throw new RangeError(`ChannelData of ${data.length} bytes exceeds 65535`);
  const padding = padToFour ? (4 - (data.length % 4)) % 4 : 0;
  const out = Buffer.alloc(4 + data.length + padding);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  out.set(data, 4);
  return out;
}

/**
 * Decodes a ChannelData message (padding after the data is ignored).
 * @throws ParseError when shorter than the header, the first two bits are not 01, or the
 *   length field runs past the buffer. A channel number in 0x5000..0x7FFF (reserved, RFC 8656
 *   §12) is decoded as is; the caller drops it because no channel is bound to it.
 */
export function decodeChannelData(buf: Buffer): ChannelData {
  if (buf.length < 4) throw new ParseError(`ChannelData of ${buf.length} bytes is shorter than its 4-byte header`, 'header');
  const channel = buf.readUInt16BE(0);
  if ((channel & 0xc000) !== 0x4000) throw new ParseError(`first two bits of ChannelData must be 01 (channel 0x${channel.toString(16)})`, 0);
  const length = buf.readUInt16BE(2);
  if (length + 4 > buf.length) throw new ParseError(`ChannelData length ${length} overruns the ${buf.length - 4} bytes after the header`, 2);
  return { channel, data: buf.subarray(4, 4 + length) };
}
