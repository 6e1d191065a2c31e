/**
 * An SRTP/SRTCP reference computed from node:crypto primitives only (AES-128-ECB blocks, HMAC-SHA1)
 * and bigint arithmetic, written straight from RFC 3711 §4.1.1, §4.2, §4.3 and §3.4 without using
 * lib/srtp, so the tests that compare against it can catch a wrong IV, label, ROC or tag layout.
 */
import { createCipheriv, createHmac } from 'node:crypto';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function aesBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function toBlock(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(32, '0'), 'hex');
}

/** AES-CM keystream from counter block `iv` (a 128-bit integer), `length` octets. */
function keystream(key: Buffer, iv: bigint, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let j = 0n; BigInt(blocks.length * 16) < BigInt(length); j++) blocks.push(aesBlock(key, toBlock(iv + j)));
  return Buffer.concat(blocks).subarray(0, length);
}

/** PRF_n(k_master, (label || 0^48) XOR master_salt), RFC 3711 §4.3.1 and §4.3.3 with rate 0. */
export function referenceKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const x = BigInt(`0x${masterSalt.toString('hex')}`) ^ (BigInt(label) << 48n);
  return keystream(masterKey, x << 16n, length);
}

function xor(data: Buffer, ks: Buffer): Buffer {
  return Buffer.from(data.map((b, i) => b ^ ks[i]!));
}

function iv(salt: Buffer, ssrc: number, index: number): bigint {
  return (BigInt(`0x${salt.toString('hex')}`) << 16n) ^ (BigInt(ssrc) << 64n) ^ (BigInt(index) << 16n);
}

/** SRTP packet for `rtp` (header length `headerLength`) at packet index `index`. */
export function referenceSrtp(masterKey: Buffer, masterSalt: Buffer, rtp: Buffer, headerLength: number, index: number, tagLength: number): Buffer {
  const ke = referenceKey(masterKey, masterSalt, 0, 16);
  const ka = referenceKey(masterKey, masterSalt, 1, 20);
  const ks = referenceKey(masterKey, masterSalt, 2, 14);
  const ssrc = rtp.readUInt32BE(8);
  const payload = rtp.subarray(headerLength);
  const encrypted = Buffer.concat([rtp.subarray(0, headerLength), xor(payload, keystream(ke, iv(ks, ssrc, index), payload.length))]);
  const roc = Buffer.alloc(4);
  roc.writeUInt32BE(Math.floor(index / 65536));
  const tag = createHmac('sha1', ka).update(encrypted).update(roc).digest().subarray(0, tagLength);
  return Buffer.concat([encrypted, tag]);
}

/** SRTCP packet for `rtcp` with SRTCP index `index`, encrypted (E=1) or not (E=0), 80-bit tag. */
export function referenceSrtcp(masterKey: Buffer, masterSalt: Buffer, rtcp: Buffer, index: number, encrypt: boolean): Buffer {
  const ke = referenceKey(masterKey, masterSalt, 3, 16);
  const ka = referenceKey(masterKey, masterSalt, 4, 20);
  const ks = referenceKey(masterKey, masterSalt, 5, 14);
  const ssrc = rtcp.readUInt32BE(4);
  const body = rtcp.subarray(8);
  const sealed = encrypt ? xor(body, keystream(ke, iv(ks, ssrc, index), body.length)) : Buffer.from(body);
  const word = Buffer.alloc(4);
  word.writeUInt32BE(((encrypt ? 0x80000000 : 0) | index) >>> 0);
  const authenticated = Buffer.concat([rtcp.subarray(0, 8), sealed, word]);
  return Buffer.concat([authenticated, createHmac('sha1', ka).update(authenticated).digest().subarray(0, 10)]);
}

/** A version-2 RTP packet: 12-octet header, optional CSRCs and header extension, then payload. */
export function rtpPacket(options: {
  sequence: number; ssrc?: number; timestamp?: number; payloadType?: number; payload?: Buffer;
  csrcs?: number[]; extension?: { profile: number; data: Buffer };
}): Buffer {
  const csrcs = options.csrcs ?? [];
  const ext = options.extension;
  const header = Buffer.alloc(12 + csrcs.length * 4 + (ext ? 4 + ext.data.length : 0));
  header[0] = 0x80 | (ext ? 0x10 : 0) | csrcs.length;
  header[1] = options.payloadType ?? 0;
  header.writeUInt16BE(options.sequence & 0xffff, 2);
  header.writeUInt32BE((options.timestamp ?? options.sequence * 160) >>> 0, 4);
  header.writeUInt32BE((options.ssrc ?? 0x11223344) >>> 0, 8);
  csrcs.forEach((c, i) => header.writeUInt32BE(c >>> 0, 12 + i * 4));
  if (ext) {
    const at = 12 + csrcs.length * 4;
    header.writeUInt16BE(ext.profile, at);
    header.writeUInt16BE(ext.data.length / 4, at + 2);
    ext.data.copy(header, at + 4);
  }
  const payload = options.payload ?? Buffer.from(Array.from({ length: 160 }, (_, i) => (i * 13 + options.sequence) & 0xff));
  return Buffer.concat([header, payload]);
}

/** An RTCP sender report with no report blocks (RFC 3550 §6.4.1): 28 octets. */
export function rtcpSenderReport(ssrc: number, packetCount = 1): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b.writeUInt32BE(0xe1234567, 8);
  b.writeUInt32BE(0x89abcdef, 12);
  b.writeUInt32BE(160 * packetCount, 16);
  b.writeUInt32BE(packetCount, 20);
  b.writeUInt32BE(packetCount * 160, 24);
  return b;
}
