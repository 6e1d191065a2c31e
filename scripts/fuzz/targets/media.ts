/**
 * Fuzz targets for the binary codecs on the media socket (RFC 7983 demultiplexing): STUN
 * (RFC 8489 / RFC 3489), TURN ChannelData (RFC 8656 §12.4), RTP (RFC 3550 §5.1), RTCP
 * (RFC 3550 §6), and the STUN/ChannelData framing of TURN over TCP (RFC 8656 §12.5, RFC 6062).
 * Seeds are the RFC 5769 vectors and messages built with the project's own encoders, the way the
 * tests build them.
 */
import fc from 'fast-check';
import { StunStreamFramer } from '../../../lib/net/tcp-stream.js';
import { classifyPacket } from '../../../lib/net/demux.js';
import { isRtcpPacket, parseRtp, serializeRtp } from '../../../lib/rtp/packet.js';
import {
  buildBye, buildCnameSdes, buildReceiverReport, buildRtcpCompound, buildSenderReport, findCname, parseRtcpCompound, RTCP_APP,
} from '../../../lib/rtp/rtcp.js';
import { shortTermKey, verifyFingerprint, verifyMessageIntegrity, verifyMessageIntegritySha256 } from '../../../lib/stun/integrity.js';
import { buildLegacyBindingRequest, encodeLegacyErrorResponse, encodeLegacySuccessResponse, judgeLegacyRequest, judgeLegacyResponse, legacyKey } from '../../../lib/stun/legacy.js';
import { describeStun, MAGIC_COOKIE, StunAttr, StunMessage, StunMethod } from '../../../lib/stun/message.js';
import { decodeChannelData, encodeChannelData, isChannelData } from '../../../lib/turn/channel-data.js';
import { ALL_VECTORS, SHORT_TERM_PASSWORD } from '../../../test/stun/vectors.js';
import { attempt, InvariantError, Rng, normalizeStream, streamReads, streamSeeds, type FuzzTarget, type Verdict } from '../engine.js';

const KEY = shortTermKey(SHORT_TERM_PASSWORD);
const TID = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
const LEGACY_TID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const PEER = { address: '192.0.2.1', port: 32853 };
const PEER6 = { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 };

// ------------------------------------------------------------------------------------- STUN

function stunSeeds(): Buffer[] {
  const out: Buffer[] = ALL_VECTORS.map(([, v]) => Buffer.from(v));
  const check = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: TID })
    .addUsername('evtj:h6vY').addPriority(0x6e0001ff).addIceControlling(0x932ff9b151263b36n).addUseCandidate();
  out.push(check.encode({ integrityKey: KEY, fingerprint: true }));
  out.push(check.encode({ integrityKey: KEY, integritySha256Key: KEY, fingerprint: true }));
  const controlled = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: TID }).addUsername('a:b').addIceControlled(1n).addPriority(1);
  out.push(controlled.encode({ integrityKey: KEY, fingerprint: true }));
  const success = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: TID }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, PEER);
  out.push(success.encode({ integrityKey: KEY, fingerprint: true }));
  const success6 = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: TID })
    .addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, PEER6).addMappedAddress(StunAttr.MAPPED_ADDRESS, PEER6).addMappedAddress(StunAttr.OTHER_ADDRESS, PEER);
  out.push(success6.encode({ fingerprint: true }));
  const error = new StunMessage({ method: StunMethod.Binding, messageClass: 'error', transactionId: TID }).addErrorCode(420).addUnknownAttributes([0x0031, 0x7f00]);
  out.push(error.encode({ integrityKey: KEY }));
  out.push(new StunMessage({ method: StunMethod.Binding, messageClass: 'error', transactionId: TID }).addErrorCode(487, 'Role Conflict').encode({ fingerprint: true }));
  // TURN (RFC 8656): Allocate request and its 401, success with XOR-RELAYED-ADDRESS, Data indication, ChannelBind.
  const allocate = new StunMessage({ method: StunMethod.Allocate, messageClass: 'request', transactionId: TID });
  allocate.add(StunAttr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])).add(StunAttr.LIFETIME, Buffer.from([0, 0, 2, 0x58])).add(StunAttr.DONT_FRAGMENT, Buffer.alloc(0));
  out.push(allocate.encode({ fingerprint: true }));
  const unauthorized = new StunMessage({ method: StunMethod.Allocate, messageClass: 'error', transactionId: TID }).addErrorCode(401);
  unauthorized.add(StunAttr.REALM, Buffer.from('example.org')).add(StunAttr.NONCE, Buffer.from('f//499k954d6OL34oL9FSTvy64sA'));
  unauthorized.add(StunAttr.PASSWORD_ALGORITHMS, Buffer.from([0, 2, 0, 0, 0, 1, 0, 0]));
  out.push(unauthorized.encode({ fingerprint: true }));
  const allocated = new StunMessage({ method: StunMethod.Allocate, messageClass: 'success', transactionId: TID })
    .addXorAddress(StunAttr.XOR_RELAYED_ADDRESS, { address: '198.51.100.7', port: 49152 }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, PEER);
  allocated.add(StunAttr.LIFETIME, Buffer.from([0, 0, 2, 0x58])).add(StunAttr.SOFTWARE, Buffer.from('coturn'));
  out.push(allocated.encode({ integrityKey: KEY }));
  const data = new StunMessage({ method: StunMethod.Data, messageClass: 'indication', transactionId: TID }).addXorAddress(StunAttr.XOR_PEER_ADDRESS, PEER6);
  data.add(StunAttr.DATA, Buffer.from('hello, peer'));
  out.push(data.encode());
  const bind = new StunMessage({ method: StunMethod.ChannelBind, messageClass: 'request', transactionId: TID }).addXorAddress(StunAttr.XOR_PEER_ADDRESS, PEER);
  bind.add(StunAttr.CHANNEL_NUMBER, Buffer.from([0x40, 0x00, 0, 0]));
  out.push(bind.encode({ integrityKey: KEY }));
  // RFC 3489 forms (draft-rosenberg-sipping-ice-01 peers).
  const legacy = buildLegacyBindingRequest({ username: 'user1', password: '9kksk==' }, LEGACY_TID);
  out.push(legacy.encode({ integrityKey: legacyKey('9kksk==') }));
  const legacyRequest = StunMessage.decode(out[out.length - 1]!);
  out.push(encodeLegacySuccessResponse(legacyRequest, PEER, { address: '192.0.2.10', port: 8076 }, '9kksk=='));
  out.push(encodeLegacyErrorResponse(legacyRequest, 420, 'Unknown Attribute', { password: '9kksk==', unknownAttributes: [0x0031] }));
  const oldXor = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: LEGACY_TID, legacy: true });
  oldXor.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS_OLD, PEER).add(StunAttr.CHANGE_REQUEST, Buffer.from([0, 0, 0, 6]));
  out.push(oldXor.encode());
  return out;
}

/** Sets the STUN length field to what follows the header, padded to a multiple of 4 (so decode reads attributes). */
function fixStunLength(b: Buffer, rng: Rng): Buffer {
  if (b.length < 20) return b;
  let out = b;
  if (out.length % 4 !== 0) out = Buffer.concat([out, Buffer.alloc(4 - (out.length % 4))]);
  else out = Buffer.from(out);
  out[0] = out[0]! & 0x3f;
  out.writeUInt16BE(Math.min(0xffff, out.length - 20), 2);
  if (rng.chance(0.3)) out.writeUInt32BE(MAGIC_COOKIE, 4);
  return out;
}

const KNOWN_ATTRIBUTE_TYPES = Object.values(StunAttr);
const FIXED: Record<number, number> = {
  [StunAttr.CHANGE_REQUEST]: 4, [StunAttr.MESSAGE_INTEGRITY]: 20, [StunAttr.CHANNEL_NUMBER]: 4, [StunAttr.LIFETIME]: 4,
  [StunAttr.REQUESTED_ADDRESS_FAMILY]: 4, [StunAttr.EVEN_PORT]: 1, [StunAttr.REQUESTED_TRANSPORT]: 4, [StunAttr.DONT_FRAGMENT]: 0,
  [StunAttr.USERHASH]: 32, [StunAttr.RESERVATION_TOKEN]: 8, [StunAttr.PRIORITY]: 4, [StunAttr.USE_CANDIDATE]: 0,
  [StunAttr.CONNECTION_ID]: 4, [StunAttr.FINGERPRINT]: 4, [StunAttr.ICE_CONTROLLED]: 8, [StunAttr.ICE_CONTROLLING]: 8,
};

/** An address value (RFC 8489 §14.1): reserved, family (mostly 1 or 2), port, 4 or 16 address bytes (sometimes the wrong count). */
const addressValue = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 0, max: 255 })), fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map(([reserved, family, port, right, ip]) => {
    const ipLength = (family === 1) === right ? 4 : 16;
    const v = Buffer.alloc(4 + ipLength);
    v[0] = reserved;
    v[1] = family;
    v.writeUInt16BE(port, 2);
    Buffer.from(ip).copy(v, 4, 0, ipLength);
    return v;
  });

/** ERROR-CODE (RFC 8489 §14.8): class 0..7, number 0..255, reason text. */
const errorCodeValue = fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 }), fc.string({ maxLength: 20 }))
  .map(([cls, num, reason]) => Buffer.concat([Buffer.from([0, 0, cls, num]), Buffer.from(reason, 'utf8')]));

/** A value for `type`: its fixed length (right or off by a little), an address, an error code, or anything. */
function attributeValue(type: number): fc.Arbitrary<Buffer> {
  const any = fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a));
  const fixed = FIXED[type];
  const choices: fc.Arbitrary<Buffer>[] = [any];
  if (fixed !== undefined) choices.push(fc.tuple(fc.uint8Array({ minLength: 33, maxLength: 33 }), fc.integer({ min: -1, max: 1 })).map(([a, d]) => Buffer.from(a).subarray(0, Math.max(0, fixed + (d === 1 ? 0 : d)))));
  choices.push(addressValue, errorCodeValue);
  return fc.oneof(...choices);
}

const stunAttribute = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_ATTRIBUTE_TYPES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
).chain((type) => fc.tuple(fc.constant(type), attributeValue(type), fc.oneof(fc.constant('zero' as const), fc.constant('none' as const), fc.constant('junk' as const))));

/**
 * A whole STUN message, written by hand so that the framing can be wrong too: type (known
 * method/class or any 16 bits), cookie (magic or not), attributes with values of the right shape
 * or not, padding zero, missing or junk, and a length field that is right (mostly) or arbitrary.
 */
function stunMessage(): fc.Arbitrary<Buffer> {
  const types = [0x0001, 0x0101, 0x0111, 0x0011, 0x0003, 0x0103, 0x0113, 0x0004, 0x0016, 0x0017, 0x0008, 0x0009, 0x0109];
  return fc.record({
    type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...types) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    magic: fc.oneof({ weight: 4, arbitrary: fc.constant(MAGIC_COOKIE) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) }),
    tid: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    attributes: fc.array(stunAttribute, { maxLength: 10 }),
    length: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  }).map(({ type, magic, tid, attributes, length }) => {
    const parts: Buffer[] = [];
    for (const [t, value, padding] of attributes) {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(t, 0);
      h.writeUInt16BE(value.length, 2);
      const pad = (4 - (value.length % 4)) % 4;
      parts.push(h, value, padding === 'none' ? Buffer.alloc(0) : padding === 'zero' ? Buffer.alloc(pad) : Buffer.alloc(pad, 0x20));
    }
    const body = Buffer.concat(parts);
    const header = Buffer.alloc(20);
    header.writeUInt16BE(type, 0);
    header.writeUInt16BE(length >= 0 ? length : Math.min(body.length, 0xffff), 2);
    header.writeUInt32BE(magic >>> 0, 4);
    Buffer.from(tid).copy(header, 8);
    return Buffer.concat([header, body]);
  });
}

/**
 * STUN as the ICE agent, TURN client and draft-era server read it: decode (ParseError), then every
 * typed getter (ParseError when malformed), the integrity and fingerprint checks (booleans), the
 * RFC 3489 request/response judges, and the log line.
 */
function runStun(input: Buffer): Verdict {
  const m = StunMessage.decode(input);
  attempt(() => m.getXorMappedAddress());
  attempt(() => m.reflexiveAddress());
  for (const type of [StunAttr.XOR_PEER_ADDRESS, StunAttr.XOR_RELAYED_ADDRESS]) attempt(() => m.getXorAddress(type));
  for (const type of [StunAttr.MAPPED_ADDRESS, StunAttr.OTHER_ADDRESS, StunAttr.ALTERNATE_SERVER, StunAttr.RESPONSE_ORIGIN, StunAttr.SOURCE_ADDRESS]) attempt(() => m.getMappedAddress(type));
  attempt(() => m.getErrorCode());
  attempt(() => m.getPriority());
  attempt(() => m.getIceControlling());
  attempt(() => m.getIceControlled());
  attempt(() => m.getUnknownAttributes());
  m.getUsername();
  m.unknownComprehensionRequired();
  verifyMessageIntegrity(m, KEY);
  verifyMessageIntegritySha256(m, KEY);
  verifyFingerprint(m);
  judgeLegacyRequest(m, (username) => (username.length < 64 ? { password: '9kksk==' } : undefined));
  judgeLegacyResponse(m, PEER, PEER, '9kksk==');
  describeStun(m);
  return 'accepted';
}

export const stunTarget: FuzzTarget = {
  name: 'stun',
  about: 'lib/stun/message.ts StunMessage.decode and its getters, lib/stun/integrity.ts, lib/stun/legacy.ts judges: ParseError',
  kind: 'bytes',
  seeds: stunSeeds,
  structured: stunMessage,
  fixup: fixStunLength,
  maxLength: 20 + 0xffff,
  run: runStun,
};

// ------------------------------------------------------------------------------------- TURN ChannelData

function channelDataSeeds(): Buffer[] {
  const rtp = serializeRtp({ marker: true, payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 0x1234, payload: Buffer.alloc(160, 0xff) });
  return [
    encodeChannelData(0x4000, rtp),
    encodeChannelData(0x4001, Buffer.from('abc'), true),
    encodeChannelData(0x4fff, Buffer.alloc(0)),
    encodeChannelData(0x4abc, Buffer.from('hello'), false),
    Buffer.concat([encodeChannelData(0x4002, Buffer.from([1, 2, 3, 4, 5])), Buffer.alloc(3)]),
  ];
}

const channelData = fc.record({
  channel: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0x4000, max: 0x4fff }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  data: fc.uint8Array({ maxLength: 64 }),
  length: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  padding: fc.integer({ min: 0, max: 4 }),
}).map(({ channel, data, length, padding }) => {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(length >= 0 ? length : data.length, 2);
  return Buffer.concat([h, Buffer.from(data), Buffer.alloc(padding)]);
});

export const channelDataTarget: FuzzTarget = {
  name: 'turn-channel-data',
  about: 'lib/turn/channel-data.ts decodeChannelData (ParseError), isChannelData (boolean, must agree with decode)',
  kind: 'bytes',
  seeds: channelDataSeeds,
  structured: () => channelData,
  fixup: (b) => {
    if (b.length < 4) return b;
    const c = Buffer.from(b);
    c.writeUInt16BE(Math.min(0xffff, c.length - 4), 2);
    return c;
  },
  run(input) {
    const looks = isChannelData(input);
    const decoded = attempt(() => decodeChannelData(input));
    // The TURN client tests isChannelData before it decodes: a "yes" that decode refuses would be dropped silently.
    if (looks && !decoded) throw new InvariantError('isChannelData says ChannelData but decodeChannelData refuses it');
    return decoded ? 'accepted' : 'rejected';
  },
};

// ------------------------------------------------------------------------------------- RTP

export function rtpSeeds(): Buffer[] {
  const payload = Buffer.alloc(160, 0xd5);
  return [
    serializeRtp({ marker: true, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0xdeadbeef, payload }),
    serializeRtp({ marker: false, payloadType: 8, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 1, payload, csrcs: [1, 2, 3] }),
    serializeRtp({ marker: false, payloadType: 101, sequenceNumber: 7, timestamp: 800, ssrc: 2, payload: Buffer.from([1, 0x80, 0, 160]) }),
    serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 9, timestamp: 9, ssrc: 3, payload, extension: { profile: 0xbede, data: Buffer.from([0x10, 0xaa, 0, 0]) } }),
    serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 9, timestamp: 9, ssrc: 3, payload: payload.subarray(0, 13), padding: true }),
    serializeRtp({ marker: false, payloadType: 13, sequenceNumber: 1, timestamp: 1, ssrc: 4, payload: Buffer.alloc(0) }, 255),
  ];
}

export const rtpPacket = fc.record({
  b0: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0x80, max: 0xbf }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  b1: fc.integer({ min: 0, max: 255 }),
  fixed: fc.uint8Array({ minLength: 10, maxLength: 10 }),
  csrcs: fc.uint8Array({ maxLength: 64 }),
  extensionWords: fc.integer({ min: 0, max: 0xffff }),
  extension: fc.uint8Array({ maxLength: 32 }),
  payload: fc.uint8Array({ maxLength: 64 }),
  paddingCount: fc.option(fc.integer({ min: 0, max: 255 })),
}).map(({ b0, b1, fixed, csrcs, extensionWords, extension, payload, paddingCount }) => {
  const ext = (b0 & 0x10) !== 0 ? Buffer.concat([Buffer.from([0xbe, 0xde, extensionWords >> 8, extensionWords & 0xff]), Buffer.from(extension)]) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from([b0, b1]), Buffer.from(fixed), Buffer.from(csrcs), ext, Buffer.from(payload), paddingCount === null ? Buffer.alloc(0) : Buffer.from([paddingCount])]);
});

export const rtpTarget: FuzzTarget = {
  name: 'rtp',
  about: 'lib/rtp/packet.ts parseRtp: ParseError; round trip through serializeRtp',
  kind: 'bytes',
  seeds: rtpSeeds,
  structured: () => rtpPacket,
  maxLength: 1500,
  run(input) {
    classifyPacket(input);
    isRtcpPacket(input);
    const p = parseRtp(input);
    // What the RTP session keeps of a packet must be writable again (the gateway relays it).
    serializeRtp({ ...p, padding: false });
    return 'accepted';
  },
};

// ------------------------------------------------------------------------------------- RTCP

export function rtcpSeeds(): Buffer[] {
  const block = { ssrc: 0x11111111, fractionLost: 25, cumulativeLost: -5, highestSequence: 0x0001ffff, jitter: 80, lastSr: 0x12345678, delaySinceLastSr: 0x00010000 };
  const sr = buildSenderReport({ ssrc: 0xcafebabe, ntpTimestamp: 0xe8a1b2c3_80000000n, rtpTimestamp: 123456, packetCount: 50, octetCount: 8000, reports: [block, block] });
  return [
    buildRtcpCompound([sr, buildCnameSdes(0xcafebabe, 'alice@example.com'), buildBye([0xcafebabe, 0x01020304], 'call ended')]),
    buildRtcpCompound([buildReceiverReport(0x1234), buildCnameSdes(0x1234, 'x')]),
    buildRtcpCompound([buildReceiverReport(0x1234, [block]), { type: 'SDES', chunks: [{ ssrc: 1, items: [{ type: 1, value: 'abc' }, { type: 2, value: 'Name' }] }, { ssrc: 2, items: [] }] }, buildBye([1])]),
    buildRtcpCompound([buildReceiverReport(1), { type: 'other', packetType: RTCP_APP, count: 3, body: Buffer.from('nameDATA') }, { type: 'other', packetType: 206, count: 1, body: Buffer.alloc(8) }]),
    padded(buildRtcpCompound([buildReceiverReport(0x1234, [block])])),
  ];
}

/** RFC 3550 §6.4.1: the P bit set and 4 padding octets (the last one the count) after the packet. */
function padded(packet: Buffer): Buffer {
  const out = Buffer.concat([packet, Buffer.from([0, 0, 0, 4])]);
  out[0] = out[0]! | 0x20;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  return out;
}

/** One RTCP packet written by hand: header fields right or arbitrary, body of a known shape or random. */
export const rtcpPacket = fc.record({
  version: fc.oneof({ weight: 6, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
  padding: fc.boolean(),
  count: fc.integer({ min: 0, max: 31 }),
  type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(200, 201, 202, 203, 204, 205, 206, 207) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    // SDES chunk: SSRC, items (type, length, text), null terminator and padding
    fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 4 }).map((items) => {
      const parts: Buffer[] = [Buffer.from([0, 0, 0, 1])];
      for (const [t, text] of items) parts.push(Buffer.from([t, text.length]), Buffer.from(text));
      parts.push(Buffer.from([0]));
      const b = Buffer.concat(parts);
      return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    }),
  ),
  lengthWords: fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
}).map(({ version, padding, count, type, body, lengthWords }) => {
  const aligned = Buffer.concat([Buffer.from(body), Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const h = Buffer.from([(version << 6) | (padding ? 0x20 : 0) | count, type, 0, 0]);
  h.writeUInt16BE(lengthWords >= 0 ? lengthWords : aligned.length / 4, 2);
  return Buffer.concat([h, aligned]);
});

export const rtcpTarget: FuzzTarget = {
  name: 'rtcp',
  about: 'lib/rtp/rtcp.ts parseRtcpCompound (with and without the RFC 3550 A.2 check), findCname: ParseError',
  kind: 'bytes',
  seeds: rtcpSeeds,
  structured: () => fc.array(rtcpPacket, { minLength: 1, maxLength: 4 }).map((ps) => Buffer.concat(ps)),
  fixup: (b) => {
    // First packet's length field covers the whole datagram.
    if (b.length < 4 || b.length % 4 !== 0) return b;
    const c = Buffer.from(b);
    c.writeUInt16BE(Math.min(0xffff, c.length / 4 - 1), 2);
    return c;
  },
  maxLength: 1500,
  run(input) {
    attempt(() => parseRtcpCompound(input, { requireReportFirst: true }));
    const packets = parseRtcpCompound(input);
    for (const p of packets) if (p.type === 'SR' || p.type === 'RR') findCname(packets, p.ssrc);
    return 'accepted';
  },
};

// ------------------------------------------------------------------------------------- TURN over TCP

/**
 * The framer never throws (errors are results); each frame is then decoded as the TURN client
 * does (STUN or ChannelData by the first two bits). Byte 0 of the input says how the stream is cut
 * into reads (engine.ts `streamReads`).
 */
export const stunStreamTarget: FuzzTarget = {
  name: 'stun-stream',
  about: 'lib/net/tcp-stream.ts StunStreamFramer (never throws), then StunMessage.decode / decodeChannelData per frame: ParseError',
  kind: 'bytes',
  seeds: () => {
    const stun = stunSeeds();
    const cd = channelDataSeeds().map((b) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]));
    return streamSeeds([Buffer.concat([stun[4]!, cd[0]!, stun[5]!]), Buffer.concat([cd[1]!, cd[3]!, stun[10]!]), Buffer.concat(stun.slice(0, 3))]);
  },
  maxLength: 1 + 0x10000,
  normalize: normalizeStream,
  run(input) {
    const framer = new StunStreamFramer();
    let rejected = false;
    for (const read of streamReads(input)) {
      for (const frame of framer.push(read)) {
        if (frame.kind === 'error') {
          rejected = true;
          continue;
        }
        const ok = frame.data[0]! >> 6 === 0 ? attempt(() => StunMessage.decode(frame.data)) : attempt(() => decodeChannelData(frame.data));
        if (!ok) rejected = true;
      }
    }
    return rejected ? 'rejected' : 'accepted';
  },
};

export const MEDIA_TARGETS: FuzzTarget[] = [stunTarget, channelDataTarget, rtpTarget, rtcpTarget, stunStreamTarget];
