import { ParseError } from './errors.js';

/**
 * Bounds-checked big-endian reader over a Buffer. Every read past the end throws
 * ParseError naming the field and offset, so codecs never read garbage.
 */
export class ByteReader {
  private pos: number;

  constructor(private readonly buf: Buffer, start = 0, private readonly end = buf.length) {
    this.pos = start;
  }

  get offset(): number { return this.pos; }
  get remaining(): number { return this.end - this.pos; }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new ParseError(`truncated ${what}: need ${n} bytes, have ${this.end - this.pos}`, this.pos);
    }
  }

  u8(what = 'u8'): number { this.need(1, what); return this.buf.readUInt8(this.pos++); }
  u16(what = 'u16'): number { this.need(2, what); const v = this.buf.readUInt16BE(this.pos); this.pos += 2; return v; }
  u32(what = 'u32'): number { this.need(4, what); const v = this.buf.readUInt32BE(this.pos); this.pos += 4; return v; }
  u64(what = 'u64'): bigint { this.need(8, what); const v = this.buf.readBigUInt64BE(this.pos); this.pos += 8; return v; }
  bytes(n: number, what = 'bytes'): Buffer { this.need(n, what); const v = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  skip(n: number, what = 'padding'): void { this.need(n, what); this.pos += n; }
}

/** Growable big-endian writer. */
export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) { this.buf = Buffer.alloc(initial); }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  get length(): number { return this.pos; }
  u8(v: number): this { this.ensure(1); this.buf.writeUInt8(v, this.pos); this.pos += 1; return this; }
  u16(v: number): this { this.ensure(2); this.buf.writeUInt16BE(v, this.pos); this.pos += 2; return this; }
  u32(v: number): this { this.ensure(4); this.buf.writeUInt32BE(v >>> 0, this.pos); this.pos += 4; return this; }
  u64(v: bigint): this { this.ensure(8); this.buf.writeBigUInt64BE(v, this.pos); this.pos += 8; return this; }
  bytes(b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; return this; }
  zeros(n: number): this { this.ensure(n); this.buf.fill(0, this.pos, this.pos + n); this.pos += n; return this; }
  /** Overwrites a u16 at an earlier offset (length fields). */
  patchU16(offset: number, v: number): void { this.buf.writeUInt16BE(v, offset); }
  /** A copy of what has been written. */
  toBuffer(): Buffer { return Buffer.from(this.buf.subarray(0, this.pos)); }
  /**
   * What has been written, without a copy: a view of the writer's buffer. Later writes may
   * change it (patchU16) or leave it behind (when the buffer grows); use it for a hash over the
   * bytes so far, or as the result once the writer is done.
   */
  view(): Buffer { return this.buf.subarray(0, this.pos); }
}
