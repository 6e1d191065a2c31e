import * as zlib from 'node:zlib';
import { createHmac, randomBytes } from 'node:crypto';
import { ByteReader, ByteWriter } from '../base/bytes.js';
import { hmacSha1Key } from '../base/hmac-sha1.js';
import { ParseError } from '../base/errors.js';
import type { TransportAddress } from '../net/socket.js';
import {
  checkAddressValue,
  decodeAddress,
  decodeErrorCode,
  decodeXorAddress,
  encodeAddress,
  encodeErrorCode,
  encodeXorAddress,
} from './attributes.js';

/**
 * STUN messages: RFC 8489 §5 (header), §6 (class/method), §14 (attributes), and the
 * RFC 3489 form (no magic cookie, 128-bit transaction ID) still sent by draft-era ICE peers
 * (draft-rosenberg-sipping-ice-01 uses RFC 3489 STUN). Codec only: no I/O, no timers.
 */

/** RFC 8489 §5: "The Magic Cookie field MUST contain the fixed value 0x2112A442". */
export const MAGIC_COOKIE = 0x2112a442;

/** RFC 8489 §14.7: the FINGERPRINT CRC-32 is XOR-ed with 0x5354554e. */
export const FINGERPRINT_XOR = 0x5354554e;

export type StunClass = 'request' | 'indication' | 'success' | 'error';

/** RFC 8489 §18.2 and RFC 8656 §17 method registry entries used here. */
export const StunMethod = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;

/**
 * Attribute types: RFC 8489 §18.3, RFC 3489 §11.2 (legacy), RFC 8656 §18 (TURN),
 * RFC 8445 §16.1 (ICE), RFC 5780 §7 (OTHER-ADDRESS, RESPONSE-ORIGIN), RFC 6062 §6.2.1.
 */
export const StunAttr = {
  MAPPED_ADDRESS: 0x0001,
  RESPONSE_ADDRESS: 0x0002,
  CHANGE_REQUEST: 0x0003,
  SOURCE_ADDRESS: 0x0004,
  CHANGED_ADDRESS: 0x0005,
  USERNAME: 0x0006,
  PASSWORD: 0x0007,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REFLECTED_FROM: 0x000b,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  CONNECTION_ID: 0x002a,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ICMP: 0x8004,
  /** XOR-MAPPED-ADDRESS as numbered by draft-ietf-behave-rfc3489bis before 0x0020 was assigned; some draft-era peers send it. */
  XOR_MAPPED_ADDRESS_OLD: 0x8020,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;

export interface StunAttribute {
  type: number;
  value: Buffer;
}

const ATTRIBUTE_NAMES = new Map<number, string>(Object.entries(StunAttr).map(([name, type]) => [type, name.replace(/_/g, '-')]));
const METHOD_NAMES = new Map<number, string>(Object.entries(StunMethod).map(([name, m]) => [m, name]));

/** "XOR-MAPPED-ADDRESS", or "0x7f01" for a type this codec does not know. */
export function attributeName(type: number): string {
  return ATTRIBUTE_NAMES.get(type) ?? `0x${type.toString(16).padStart(4, '0')}`;
}

/** "Binding", or "method 0x0ab" for a method this codec does not know. */
export function methodName(method: number): string {
  return METHOD_NAMES.get(method) ?? `method 0x${method.toString(16).padStart(3, '0')}`;
}

const ADDRESS_ATTRIBUTES = new Set<number>([
  StunAttr.MAPPED_ADDRESS, StunAttr.RESPONSE_ADDRESS, StunAttr.SOURCE_ADDRESS, StunAttr.CHANGED_ADDRESS,
  StunAttr.REFLECTED_FROM, StunAttr.XOR_PEER_ADDRESS, StunAttr.XOR_RELAYED_ADDRESS, StunAttr.XOR_MAPPED_ADDRESS,
  StunAttr.XOR_MAPPED_ADDRESS_OLD, StunAttr.ALTERNATE_SERVER, StunAttr.RESPONSE_ORIGIN, StunAttr.OTHER_ADDRESS,
]);

/** Value lengths fixed by the defining RFC; checked by decode so typed getters cannot fail later. */
const FIXED_LENGTHS = new Map<number, number>([
  [StunAttr.CHANGE_REQUEST, 4], // RFC 5780 §7.2
  [StunAttr.MESSAGE_INTEGRITY, 20], // RFC 8489 §14.5
  [StunAttr.CHANNEL_NUMBER, 4], // RFC 8656 §18.1
  [StunAttr.LIFETIME, 4], // RFC 8656 §18.2
  [StunAttr.REQUESTED_ADDRESS_FAMILY, 4], // RFC 8656 §18.6
  [StunAttr.EVEN_PORT, 1], // RFC 8656 §18.7
  [StunAttr.REQUESTED_TRANSPORT, 4], // RFC 8656 §18.8
  [StunAttr.DONT_FRAGMENT, 0], // RFC 8656 §18.9
  [StunAttr.USERHASH, 32], // RFC 8489 §14.4
  [StunAttr.RESERVATION_TOKEN, 8], // RFC 8656 §18.10
  [StunAttr.PRIORITY, 4], // RFC 8445 §16.1
  [StunAttr.USE_CANDIDATE, 0], // RFC 8445 §16.1
  [StunAttr.CONNECTION_ID, 4], // RFC 6062 §6.2.1
  [StunAttr.FINGERPRINT, 4], // RFC 8489 §14.7
  [StunAttr.ICE_CONTROLLED, 8], // RFC 8445 §16.1
  [StunAttr.ICE_CONTROLLING, 8], // RFC 8445 §16.1
]);

/** Types without a fixed length whose value checkKnownValue checks (keep in step with it). */
const SHAPE_CHECKED = new Set<number>([...ADDRESS_ATTRIBUTES, StunAttr.ERROR_CODE, StunAttr.MESSAGE_INTEGRITY_SHA256, StunAttr.UNKNOWN_ATTRIBUTES]);

/** Comprehension-required types (RFC 8489 §14: 0x0000-0x7FFF) that this codec knows. */
const KNOWN_TYPES = new Set<number>(Object.values(StunAttr));

/**
 * RFC 8489 §5 message type: M11..M7 C1 M6..M4 C0 M3..M0 (class bits at 0x0100 and 0x0010).
 */
const CLASS_BITS: Record<StunClass, number> = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 };

export function encodeMessageType(method: number, messageClass: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) throw new RangeError(`STUN method ${method} not in 0..0xfff`);
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | CLASS_BITS[messageClass];
}

export function decodeMessageType(type: number): { method: number; messageClass: StunClass } {
  const method = ((type >> 2) & 0xf80) | ((type >> 1) & 0x070) | (type & 0x00f);
  const bits = type & 0x0110;
  const messageClass: StunClass = bits === 0 ? 'request' : bits === 0x0010 ? 'indication' : bits === 0x0100 ? 'success' : 'error';
  return { method, messageClass };
}

/**
 * A fresh transaction ID: RFC 8489 §5 "uniformly and randomly chosen from the interval
 * 0 .. 2**96-1" (12 bytes), or 16 bytes for the RFC 3489 form (§10.1 there). A legacy ID
 * never starts with the magic cookie, so a receiver cannot mistake it for RFC 8489.
 */
export function newTransactionId(legacy = false): Buffer {
  if (!legacy) return randomBytes(12);
  for (;;) {
    const id = randomBytes(16);
    if (id.readUInt32BE(0) !== MAGIC_COOKIE) return id;
  }
}

/**
 * RFC 7983 §7 demultiplexing plus RFC 8489 §5 header checks: first byte 0..3 (top two bits
 * zero), at least the 20-byte header, length field a multiple of 4 and equal to the bytes
 * after the header. True for RFC 8489 messages and for RFC 3489 messages (no magic cookie).
 */
export function isStunPacket(buf: Buffer): boolean {
  if (buf.length < 20) return false;
  if (buf[0]! > 3) return false;
  const length = buf.readUInt16BE(2);
  return length % 4 === 0 && length + 20 === buf.length;
}

/** True when the message has the RFC 8489 magic cookie at bytes 4..7. */
export function hasMagicCookie(buf: Buffer): boolean {
  return buf.length >= 8 && buf.readUInt32BE(4) === MAGIC_COOKIE;
}

/**
 * Offset within `raw` (a well-formed encoded message) of the first attribute of `type`,
 * or undefined. Used by the integrity checks, which hash the bytes before it.
 */
export function attributeOffset(raw: Buffer, type: number): number | undefined {
  let at = 20;
  while (at + 4 <= raw.length) {
    const t = raw.readUInt16BE(at);
    const length = raw.readUInt16BE(at + 2);
    if (t === type) return at;
    at += 4 + length + ((4 - (length % 4)) % 4);
  }
  return undefined;
}

export interface StunEncodeOptions {
  /** Appends MESSAGE-INTEGRITY (RFC 8489 §14.5), HMAC-SHA1 with this key (see integrity.ts for keys). */
  integrityKey?: Buffer;
  /** Appends MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6), full 32-byte HMAC-SHA256. */
  integritySha256Key?: Buffer;
  /** Appends FINGERPRINT (RFC 8489 §14.7). */
  fingerprint?: boolean;
  /**
   * Byte used to pad attribute values to 4 bytes. RFC 8489 §14: padding "MUST be set to zero on
   * sending"; a non-zero value only exists to reproduce RFC 5769 vectors, which pad with 0x20.
   */
  paddingByte?: number;
  /**
   * RFC 3489 §11.2.8: for legacy messages the MESSAGE-INTEGRITY input is zero-padded to a
   * multiple of 64 bytes. Default true for legacy messages; ignored otherwise.
   */
  legacyIntegrityPadding?: boolean;
}

/**
 * Most attributes `StunMessage.decode` reads in one message. RFC 8489 sets no maximum; the
 * messages of ICE, TURN and the draft's checks carry at most about 15 (a TURN Allocate
 * response with both families and every optional attribute), so 64 is generous for peers and
 * short for a flood of empty attributes (16,000 fit in a 64 KB datagram).
 */
export const STUN_MAX_ATTRIBUTES = 64;

/** A STUN message (RFC 8489 §5), decoded or to be encoded. */
export class StunMessage {
  method: number;
  messageClass: StunClass;
  /** 12 bytes (RFC 8489) or 16 bytes (RFC 3489, `legacy`). */
  transactionId: Buffer;
  /** In wire order. After decode, attributes that RFC 8489 §14.5/§14.7 say to ignore are already dropped. */
  attributes: StunAttribute[];
  /** RFC 3489 form: no magic cookie, 128-bit transaction ID. */
  legacy: boolean;
  /** The bytes this message was decoded from (set by decode only). */
  raw?: Buffer;

  /** @throws RangeError for a method outside 0..0xfff or a transaction ID of the wrong length. */
  constructor(init: { method: number; messageClass: StunClass; transactionId?: Buffer; attributes?: StunAttribute[]; legacy?: boolean }) {
    encodeMessageType(init.method, init.messageClass); // validates the method
    this.method = init.method;
    this.messageClass = init.messageClass;
    this.legacy = init.legacy ?? false;
    this.transactionId = init.transactionId ?? newTransactionId(this.legacy);
    const expected = this.legacy ? 16 : 12;
    if (this.transactionId.length !== expected) {
      throw new RangeError(`transaction ID must be ${expected} bytes${this.legacy ? ' (RFC 3489)' : ''}, got ${this.transactionId.length}`);
    }
    this.attributes = init.attributes ? [...init.attributes] : [];
  }

  /**
   * Decodes one STUN message occupying all of `buf` (one datagram, or one frame cut out of
   * a stream by its length field).
   * @throws ParseError when the first two bits are not zero, the buffer is shorter than the
   *   header, the length field is not a multiple of 4 or does not match the buffer, an
   *   attribute (or its padding) runs past the end, or a known attribute has a malformed
   *   value (wrong fixed length, bad address family, bad ERROR-CODE class), or the message has
   *   more than `maxAttributes` attributes (default STUN_MAX_ATTRIBUTES = 64; decoding stops at
   *   the first one over, before any authentication is tried).
   */
  static decode(buf: Buffer, opts: { maxAttributes?: number } = {}): StunMessage {
    const maxAttributes = opts.maxAttributes ?? STUN_MAX_ATTRIBUTES;
    if (buf.length < 20) throw new ParseError(`STUN message of ${buf.length} bytes is shorter than the 20-byte header`, 'header');
    const raw = Buffer.from(buf);
    // Reads without ByteReader: every bound is checked here, and a field name is only turned into
    // text when a ParseError is thrown (building "USERNAME value" per attribute cost more than the reads).
    const type = raw.readUInt16BE(0);
    // RFC 8489 §5: "The most significant 2 bits of every STUN message MUST be zeroes."
    if (type & 0xc000) throw new ParseError(`first two bits of a STUN message must be zero (type 0x${type.toString(16)})`, 0);
    const length = raw.readUInt16BE(2);
    // RFC 8489 §5: the length "MUST contain the size of the message in bytes, not including the 20-byte STUN header", always a multiple of 4.
    if (length % 4 !== 0) throw new ParseError(`STUN message length ${length} is not a multiple of 4`, 2);
    if (length + 20 !== raw.length) {
      throw new ParseError(`STUN message length ${length} does not match the ${raw.length - 20} bytes after the header`, 2);
    }
    const legacy = raw.readUInt32BE(4) !== MAGIC_COOKIE;
    // `raw` is this message's own copy, so the transaction ID (like every attribute value) is a view of it.
    const transactionId = raw.subarray(legacy ? 4 : 8, 20);
    const { method, messageClass } = decodeMessageType(type);
    const message = new StunMessage({ method, messageClass, transactionId, legacy });
    const attributes = message.attributes;
    let afterIntegrity = false;
    let afterIntegritySha256 = false;
    let afterFingerprint = false;
    let count = 0;
    const end = raw.length;
    let at = 20;
    // The body is a multiple of 4 bytes, so at least 4 remain whenever the loop runs: the type and length reads cannot overrun.
    while (at < end) {
      // Issue 13: a 64 KB datagram holds 16,000 empty attributes; walking them all costs tens of
      // ms per packet before we know whether it authenticates.
      if (++count > maxAttributes) throw new ParseError(`STUN message has more than ${maxAttributes} attributes`, at);
      const attrType = raw.readUInt16BE(at);
      const attrLength = raw.readUInt16BE(at + 2);
      const valueAt = at + 4;
      if (attrLength > end - valueAt) {
        throw new ParseError(`attribute ${attributeName(attrType)} length ${attrLength} overruns the message (${end - valueAt} bytes left)`, at);
      }
      const padding = (4 - (attrLength % 4)) % 4;
      const next = valueAt + attrLength + padding;
      if (next > end) throw new ParseError(`attribute ${attributeName(attrType)} padding truncated`, valueAt + attrLength);
      const value = raw.subarray(valueAt, valueAt + attrLength);
      // A fixed-length attribute of the right length, or one with nothing to check (USERNAME), needs no call.
      const fixed = FIXED_LENGTHS.get(attrType);
      if (fixed === undefined ? SHAPE_CHECKED.has(attrType) : fixed !== attrLength) checkKnownValue(attrType, value, at);
      at = next;
      // RFC 8489 §14.7: FINGERPRINT is last; §14.5: "agents MUST ignore all other attributes that
      // follow MESSAGE-INTEGRITY" except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; §14.6 likewise
      // for MESSAGE-INTEGRITY-SHA256 (only FINGERPRINT may follow).
      if (afterFingerprint) continue;
      if (afterIntegritySha256 && attrType !== StunAttr.FINGERPRINT) continue;
      if (afterIntegrity && attrType !== StunAttr.FINGERPRINT && attrType !== StunAttr.MESSAGE_INTEGRITY_SHA256) continue;
      attributes.push({ type: attrType, value });
      if (attrType === StunAttr.MESSAGE_INTEGRITY) afterIntegrity = true;
      else if (attrType === StunAttr.MESSAGE_INTEGRITY_SHA256) afterIntegritySha256 = true;
      else if (attrType === StunAttr.FINGERPRINT) afterFingerprint = true;
    }
    message.raw = raw;
    return message;
  }

  /**
   * Encodes the message. Any MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT in
   * `attributes` are dropped (they would be stale) and regenerated from `opts`, last and in
   * this order (RFC 8489 §14.5-§14.7). Each is computed with the header length field set to
   * cover the message up to the end of that attribute ("adjusted length"); the final length
   * field covers everything.
   * @throws RangeError for an attribute value over 65535 bytes or a message over 65535+20 bytes.
   */
  encode(opts: StunEncodeOptions = {}): Buffer {
    const padByte = opts.paddingByte ?? 0;
    const w = new ByteWriter(256);
    w.u16(encodeMessageType(this.method, this.messageClass)).u16(0);
    if (!this.legacy) w.u32(MAGIC_COOKIE);
    w.bytes(this.transactionId);
    const writeAttribute = (type: number, value: Buffer): void => {
      if (value.length > 0xffff) throw new RangeError(`attribute ${attributeName(type)} value of ${value.length} bytes exceeds 65535`);
      w.u16(type).u16(value.length).bytes(value);
      const padding = (4 - (value.length % 4)) % 4;
      for (let i = 0; i < padding; i++) w.u8(padByte);
    };
    for (const a of this.attributes) {
      if (a.type === StunAttr.MESSAGE_INTEGRITY || a.type === StunAttr.MESSAGE_INTEGRITY_SHA256 || a.type === StunAttr.FINGERPRINT) continue;
      writeAttribute(a.type, a.value);
    }
    if (opts.integrityKey) {
      // RFC 8489 §14.5: length "adjusted to point to the end of the MESSAGE-INTEGRITY attribute".
      w.patchU16(2, w.length + 24 - 20);
      // The HMAC reads a view of the bytes so far (computed before the next write), not a copy.
      let input = w.view();
      if (this.legacy && (opts.legacyIntegrityPadding ?? true)) input = padTo64(Buffer.from(input));
      writeAttribute(StunAttr.MESSAGE_INTEGRITY, hmacSha1Key(opts.integrityKey).mac([input]));
    }
    if (opts.integritySha256Key) {
      // RFC 8489 §14.6: same procedure, HMAC-SHA256, covering MESSAGE-INTEGRITY if present.
      w.patchU16(2, w.length + 36 - 20);
      writeAttribute(StunAttr.MESSAGE_INTEGRITY_SHA256, createHmac('sha256', opts.integritySha256Key).update(w.view()).digest());
    }
    if (opts.fingerprint) {
      // RFC 8489 §14.7: CRC-32 of the message up to (excluding) FINGERPRINT, length including it, XOR 0x5354554e.
      w.patchU16(2, w.length + 8 - 20);
      const crc = (crc32(w.view()) ^ FINGERPRINT_XOR) >>> 0;
      w.u16(StunAttr.FINGERPRINT).u16(4).u32(crc);
    }
    const length = w.length - 20;
    if (length > 0xffff) throw new RangeError(`STUN message body of ${length} bytes exceeds 65535`);
    w.patchU16(2, length);
    // The writer is dropped here: its bytes are the result, no copy.
    return w.view();
  }

  /** The 16 bytes after type and length: what XOR-*-ADDRESS values are XOR-ed with (RFC 8489 §14.2). */
  xorPad(): Buffer {
    if (this.legacy) return this.transactionId;
    const pad = Buffer.allocUnsafe(16); // all 16 bytes are written below
    pad.writeUInt32BE(MAGIC_COOKIE, 0);
    this.transactionId.copy(pad, 4);
    return pad;
  }

  add(type: number, value: Buffer): this {
    if (!Number.isInteger(type) || type < 0 || type > 0xffff) throw new RangeError(`attribute type ${type} not in 0..0xffff`);
    this.attributes.push({ type, value });
    return this;
  }

  /** Value of the first attribute of `type` (RFC 8489 §14: only the first occurrence needs processing). */
  get(type: number): Buffer | undefined {
    const attributes = this.attributes;
    for (let i = 0; i < attributes.length; i++) if (attributes[i]!.type === type) return attributes[i]!.value;
    return undefined;
  }

  has(type: number): boolean {
    const attributes = this.attributes;
    for (let i = 0; i < attributes.length; i++) if (attributes[i]!.type === type) return true;
    return false;
  }

  /** Decodes an XOR-*-ADDRESS attribute (RFC 8489 §14.2, RFC 8656 §18.3/§18.5). @throws ParseError when malformed. */
  getXorAddress(type: number): TransportAddress | undefined {
    const value = this.get(type);
    return value ? decodeXorAddress(value, this.xorPad(), attributeName(type)) : undefined;
  }

  /** Adds an XOR-*-ADDRESS attribute for this message's transaction ID (set the ID first). */
  addXorAddress(type: number, addr: { address: string; port: number }): this {
    return this.add(type, encodeXorAddress(addr, this.xorPad()));
  }

  /**
   * XOR-MAPPED-ADDRESS (RFC 8489 §14.2), or the pre-RFC 0x8020 numbering some draft-era peers
   * send. Does not fall back to MAPPED-ADDRESS: see reflexiveAddress().
   */
  getXorMappedAddress(): TransportAddress | undefined {
    return this.getXorAddress(StunAttr.XOR_MAPPED_ADDRESS) ?? this.getXorAddress(StunAttr.XOR_MAPPED_ADDRESS_OLD);
  }

  /**
   * The reflexive transport address from a Binding response: XOR-MAPPED-ADDRESS, else the
   * 0x8020 form, else MAPPED-ADDRESS (RFC 8489 §14.1: kept for RFC 3489 servers).
   */
  reflexiveAddress(): TransportAddress | undefined {
    return this.getXorMappedAddress() ?? this.getMappedAddress();
  }

  /** Decodes a plain address attribute (MAPPED-ADDRESS by default; RFC 8489 §14.1, RFC 3489 §11.2). */
  getMappedAddress(type: number = StunAttr.MAPPED_ADDRESS): TransportAddress | undefined {
    const value = this.get(type);
    return value ? decodeAddress(value, attributeName(type)) : undefined;
  }

  addMappedAddress(type: number, addr: { address: string; port: number }): this {
    return this.add(type, encodeAddress(addr));
  }

  /** RFC 8489 §14.3 USERNAME as UTF-8. */
  getUsername(): string | undefined {
    return this.get(StunAttr.USERNAME)?.toString('utf8');
  }

  /** RFC 8489 §14.3: "MUST contain a UTF-8-encoded sequence of fewer than 509 bytes"; not enforced here (RFC 3489 peers). */
  addUsername(username: string): this {
    return this.add(StunAttr.USERNAME, Buffer.from(username, 'utf8'));
  }

  /** RFC 8489 §14.8. @throws ParseError when malformed. */
  getErrorCode(): { code: number; reason: string } | undefined {
    const value = this.get(StunAttr.ERROR_CODE);
    return value ? decodeErrorCode(value) : undefined;
  }

  /** RFC 8489 §14.8; `reason` defaults to the registered phrase. @throws RangeError unless 300..699. */
  addErrorCode(code: number, reason?: string): this {
    return this.add(StunAttr.ERROR_CODE, encodeErrorCode(code, reason));
  }

  /** RFC 8445 §7.1.1 PRIORITY (32-bit unsigned). */
  getPriority(): number | undefined {
    const value = this.get(StunAttr.PRIORITY);
    if (!value) return undefined;
    return value.length >= 4 ? value.readUInt32BE(0) : new ByteReader(value).u32('PRIORITY');
  }

  addPriority(priority: number): this {
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffffffff) throw new RangeError(`priority ${priority} not a 32-bit unsigned integer`);
    return this.add(StunAttr.PRIORITY, new ByteWriter(4).u32(priority).toBuffer());
  }

  /** RFC 8445 §7.1.3 ICE-CONTROLLING tie-breaker (64-bit unsigned). */
  getIceControlling(): bigint | undefined {
    const value = this.get(StunAttr.ICE_CONTROLLING);
    if (!value) return undefined;
    return value.length >= 8 ? value.readBigUInt64BE(0) : new ByteReader(value).u64('ICE-CONTROLLING');
  }

  /** RFC 8445 §7.1.3 ICE-CONTROLLED tie-breaker (64-bit unsigned). */
  getIceControlled(): bigint | undefined {
    const value = this.get(StunAttr.ICE_CONTROLLED);
    if (!value) return undefined;
    return value.length >= 8 ? value.readBigUInt64BE(0) : new ByteReader(value).u64('ICE-CONTROLLED');
  }

  addIceControlling(tieBreaker: bigint): this {
    return this.add(StunAttr.ICE_CONTROLLING, encodeU64(tieBreaker));
  }

  addIceControlled(tieBreaker: bigint): this {
    return this.add(StunAttr.ICE_CONTROLLED, encodeU64(tieBreaker));
  }

  /** RFC 8445 §7.1.2 USE-CANDIDATE (no value). */
  addUseCandidate(): this {
    return this.add(StunAttr.USE_CANDIDATE, Buffer.alloc(0));
  }

  /** RFC 8489 §14.9 UNKNOWN-ATTRIBUTES, duplicates removed (RFC 3489 repeats one to pad an odd count). */
  getUnknownAttributes(): number[] {
    const value = this.get(StunAttr.UNKNOWN_ATTRIBUTES);
    if (!value) return [];
    const r = new ByteReader(value);
    const types: number[] = [];
    while (r.remaining >= 2) {
      const t = r.u16('UNKNOWN-ATTRIBUTES entry');
      if (!types.includes(t)) types.push(t);
    }
    return types;
  }

  /**
   * RFC 8489 §14.9. For legacy messages an odd count is padded by repeating the last type,
   * as RFC 3489 §11.2.10 requires ("the attribute MUST contain an even number of entries").
   */
  addUnknownAttributes(types: number[]): this {
    const list = this.legacy && types.length % 2 === 1 ? [...types, types[types.length - 1]!] : types;
    const w = new ByteWriter(list.length * 2);
    for (const t of list) w.u16(t);
    return this.add(StunAttr.UNKNOWN_ATTRIBUTES, w.toBuffer());
  }

  /**
   * RFC 8489 §6.3.1: comprehension-required types (0x0000-0x7FFF) present that this codec does
   * not know, in order of first appearance; a server answers 420 with these in UNKNOWN-ATTRIBUTES.
   * `alsoKnown` lists further types the caller understands.
   */
  unknownComprehensionRequired(alsoKnown: Iterable<number> = []): number[] {
    const out: number[] = [];
    let extra: Set<number> | undefined; // built only when an attribute is not one of ours (rare)
    for (const a of this.attributes) {
      if (a.type >= 0x8000 || KNOWN_TYPES.has(a.type)) continue;
      extra ??= new Set(alsoKnown);
      if (!extra.has(a.type) && !out.includes(a.type)) out.push(a.type);
    }
    return out;
  }
}

/** RFC 1952 / ISO-HDLC CRC-32 (reflected polynomial 0xEDB88320) table, as FINGERPRINT uses (RFC 8489 §14.7). */
const CRC_TABLE = (() => {
  // Int32Array: the entries as int32 keep the table loop in V8's integer operations.
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c | 0;
  }
  return table;
})();

/**
 * CRC-32 of `data` as an unsigned 32-bit number; `previous` (the CRC-32 of the bytes before
 * `data`) continues a CRC over several pieces: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  if (nativeCrc32) return nativeCrc32(data, previous) >>> 0;
  return (crcUpdate((previous ^ 0xffffffff) >>> 0, data, 0, data.length) ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 (as crc32) of bytes 0..`end` of `data` read with the two bytes at `at` (at + 2 <= end) as
 * the big-endian 16-bit `value`: a STUN message with its length field adjusted for FINGERPRINT
 * (RFC 8489 §14.7), without a copy or a view of it. `data` is not modified. By table in JS: for
 * the ~100-byte messages of ICE this beats three calls into zlib.
 */
export function crc32Patched16(data: Uint8Array, end: number, at: number, value: number): number {
  let c = crcUpdate(0xffffffff, data, 0, at);
  c = CRC_TABLE[(c ^ (value >>> 8)) & 0xff]! ^ (c >>> 8);
  c = CRC_TABLE[(c ^ value) & 0xff]! ^ (c >>> 8);
  return (crcUpdate(c, data, at + 2, end) ^ 0xffffffff) >>> 0;
}

/** The CRC register `c` (pre-inverted) after bytes `from`..`to` of `data`. */
function crcUpdate(c: number, data: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** zlib's CRC-32 (the same ISO-HDLC polynomial), native in Node >= 20.15; the table loop otherwise. */
const nativeCrc32: ((data: Uint8Array, value?: number) => number) | undefined = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

function encodeU64(v: bigint): Buffer {
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`tie-breaker ${v} not a 64-bit unsigned integer`);
  return new ByteWriter(8).u64(v).toBuffer();
}

/** RFC 3489 §11.2.8: the HMAC input "is then padded with zeroes so as to be a multiple of 64 bytes". */
export function padTo64(input: Buffer): Buffer {
  const rem = input.length % 64;
  return rem === 0 ? input : Buffer.concat([input, Buffer.alloc(64 - rem)]);
}

function checkKnownValue(type: number, value: Buffer, at: number): void {
  try {
    const fixed = FIXED_LENGTHS.get(type);
    if (fixed !== undefined && value.length !== fixed) {
      throw new ParseError(`${attributeName(type)} value is ${value.length} bytes, expected ${fixed}`);
    }
    if (ADDRESS_ATTRIBUTES.has(type)) checkAddressValue(value, attributeName(type));
    else if (type === StunAttr.ERROR_CODE) decodeErrorCode(value);
    else if (type === StunAttr.MESSAGE_INTEGRITY_SHA256) {
      // RFC 8489 §14.6: truncated to no fewer than 16 bytes, a multiple of 4, at most 32.
      if (value.length < 16 || value.length > 32 || value.length % 4 !== 0) {
        throw new ParseError(`MESSAGE-INTEGRITY-SHA256 value is ${value.length} bytes, expected 16..32 in steps of 4`);
      }
    } else if (type === StunAttr.UNKNOWN_ATTRIBUTES && value.length % 2 !== 0) {
      throw new ParseError(`UNKNOWN-ATTRIBUTES value is ${value.length} bytes, not a list of 16-bit types`);
    }
  } catch (e) {
    if (e instanceof ParseError) throw new ParseError(`malformed ${attributeName(type)}: ${e.message}`, at);
    throw e;
  }
}

/** "Binding request tid=ab12cd34… [USERNAME, PRIORITY, …]" for logs (never secrets: values are not printed). */
export function describeStun(m: StunMessage): string {
  const tid = m.transactionId.toString('hex');
  const cls = m.messageClass === 'success' ? 'success response' : m.messageClass === 'error' ? 'error response' : m.messageClass;
  let text = `${methodName(m.method)} ${cls} tid=${tid.slice(0, 8)}…${m.legacy ? ' (RFC 3489)' : ''}`;
  if (m.messageClass === 'error') {
    try {
      const e = m.getErrorCode();
      if (e) text += ` ${e.code} ${e.reason}`;
    } catch {
      text += ' (malformed ERROR-CODE)';
    }
  }
  if (m.attributes.length > 0) text += ` [${m.attributes.map((a) => attributeName(a.type)).join(', ')}]`;
  return text;
}
