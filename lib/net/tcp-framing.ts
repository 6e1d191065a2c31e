import * as net from 'node:net';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { isUnspecifiedIp, normalizeAddress, transportAddressKey } from '../base/address.js';
import { familyOf, type TransportAddress } from './socket.js';
import { SIP_MAX_HEADER_BYTES, SIP_MAX_STREAM_BODY_BYTES } from './sip-size-limits.js';

/**
 * SIP over TCP: messages framed by Content-Length (RFC 3261 §18.3), plus a small endpoint
 * that listens, connects and keeps one connection per remote transport address so that
 * requests and responses reuse connections in both directions (RFC 3261 §18.2.2: a
 * response goes back over the connection its request arrived on).
 */

/** One outcome of feeding bytes to the framer. */
export type FrameResult =
  | { kind: 'message'; data: Buffer }
  /** The stream cannot be resynchronised (missing or bad Content-Length, oversize): close it. */
  | { kind: 'error'; reason: string };

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Splits a byte stream into SIP messages by Content-Length. Leading CRLFs between messages
 * (RFC 5626 §3.5.1 keep-alives) are skipped. An error is fatal for the stream because the
 * message boundary is lost.
 */
export class SipStreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private failed = false;
  /** Number of CRLF keep-alive pings ("\r\n\r\n") seen, to answer with a pong if wanted. */
  keepAlives = 0;

  /** Defaults: lib/net/sip-size-limits.ts (16 KiB of headers, 64 KiB of body). */
  constructor(
    private readonly maxHeaderBytes = SIP_MAX_HEADER_BYTES,
    private readonly maxBodyBytes = SIP_MAX_STREAM_BODY_BYTES,
  ) {}

  push(chunk: Buffer): FrameResult[] {
    if (this.failed) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: FrameResult[] = [];
    for (;;) {
      // Skip CRLF keep-alives before a message.
      let skip = 0;
      while (skip + 1 < this.buffer.length && this.buffer[skip] === 0x0d && this.buffer[skip + 1] === 0x0a) skip += 2;
      if (skip >= 4) this.keepAlives++;
      if (skip > 0) this.buffer = this.buffer.subarray(skip);
      if (this.buffer.length === 0) break;
      const headerEnd = this.buffer.indexOf(CRLF2);
      if (headerEnd < 0) {
        if (this.buffer.length > this.maxHeaderBytes) return this.fail(out, `no end of headers within ${this.maxHeaderBytes} bytes`);
        break;
      }
      if (headerEnd > this.maxHeaderBytes) return this.fail(out, `header section of ${headerEnd} bytes exceeds ${this.maxHeaderBytes}`);
      const head = this.buffer.subarray(0, headerEnd).toString('latin1');
      const m = /(?:^|\r\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(head);
      if (!m) return this.fail(out, 'Content-Length missing on a stream transport (RFC 3261 §18.3)');
      const value = m[1]!.trim();
      if (!/^\d{1,9}$/.test(value)) return this.fail(out, `bad Content-Length '${value.slice(0, 20)}'`);
      const length = Number(value);
      if (length > this.maxBodyBytes) return this.fail(out, `Content-Length ${length} exceeds ${this.maxBodyBytes}`);
      const total = headerEnd + 4 + length;
      if (this.buffer.length < total) break;
      out.push({ kind: 'message', data: Buffer.from(this.buffer.subarray(0, total)) });
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }

  /** Bytes held waiting for the rest of a message. */
  get pending(): number {
    return this.buffer.length;
  }

  private fail(out: FrameResult[], reason: string): FrameResult[] {
    this.failed = true;
    this.buffer = Buffer.alloc(0);
    out.push({ kind: 'error', reason });
    return out;
  }
}

export type StreamMessageHandler = (data: Buffer, from: TransportAddress) => void;
export type StreamErrorHandler = (reason: string, from: TransportAddress) => void;

interface Connection {
  socket: net.Socket;
  ready: Promise<void>;
  framer: SipStreamFramer;
  remote: TransportAddress;
}

/** Connections are found by address, not by its spelling (base/address.ts). */
function key(a: { address: string; port: number }): string {
  return transportAddressKey(a);
}

/** A transport address with canonical text (a dual-stack listener's `::ffff:a.b.c.d` peer is `a.b.c.d`). */
function canonical(address: string, port: number): TransportAddress {
  const a = normalizeAddress(address);
  return { address: a, port, family: familyOf(a) };
}

/**
 * A listening TCP endpoint carrying SIP. One connection per remote transport address;
 * accepted and initiated connections share the table, so a peer that connected to us
 * gets our responses and later requests over the same connection.
 */
export class TcpStreamEndpoint {
  private readonly connections = new Map<string, Connection>();
  private messageHandler: StreamMessageHandler = () => {};
  private errorHandler: StreamErrorHandler = () => {};
  private isClosed = false;

  private constructor(
    private readonly server: net.Server,
    readonly local: TransportAddress,
    private readonly log: Logger,
  ) {
    server.on('connection', (socket) => this.adopt(socket, Promise.resolve()));
    server.on('error', (e) => this.log.warn(`TCP listener error: ${e.message}`));
  }

  /** Listens on `address:port` (0 = ephemeral). @throws Error when the address cannot be bound. */
  static async listen(address: string, port = 0, log: Logger = silentLogger): Promise<TcpStreamEndpoint> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const info = server.address() as net.AddressInfo;
    return new TcpStreamEndpoint(server, canonical(info.address, info.port), log);
  }

  get closed(): boolean { return this.isClosed; }
  get connectionCount(): number { return this.connections.size; }

  onMessage(handler: StreamMessageHandler): void { this.messageHandler = handler; }
  /** Called when a stream is dropped because its framing broke. */
  onFramingError(handler: StreamErrorHandler): void { this.errorHandler = handler; }

  /** True when a connection to `to` is open (or being opened). */
  hasConnection(to: { address: string; port: number }): boolean {
    return this.connections.has(key(to));
  }

  /**
   * Sends one framed message, reusing the connection to `to` or opening one.
   * Rejects when the connection cannot be established or the write fails.
   */
  async send(data: Buffer, to: { address: string; port: number }): Promise<void> {
    if (this.isClosed) throw new Error('TCP endpoint closed');
    let conn = this.connections.get(key(to));
    if (!conn) {
      const socket = net.connect({ host: to.address, port: to.port, localAddress: isUnspecifiedIp(this.local.address) ? undefined : this.local.address });
      const ready = new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      conn = this.adopt(socket, ready, canonical(to.address, to.port));
    }
    await conn.ready;
    await new Promise<void>((resolve, reject) => {
      conn!.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  private adopt(socket: net.Socket, ready: Promise<void>, remote?: TransportAddress): Connection {
    const addr: TransportAddress = remote ?? canonical(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0);
    const k = key(addr);
    const conn: Connection = { socket, ready, framer: new SipStreamFramer(), remote: addr };
    ready.catch(() => {});
    socket.setNoDelay(true);
    this.connections.get(k)?.socket.destroy();
    this.connections.set(k, conn);
    socket.on('data', (chunk: Buffer) => {
      for (const r of conn.framer.push(chunk)) {
        if (r.kind === 'message') {
          try {
            this.messageHandler(r.data, addr);
          } catch (e) {
            this.log.warn(`message handler threw on TCP message from ${k}: ${e instanceof Error ? e.message : String(e)}`);
          }
        } else {
          this.errorHandler(r.reason, addr);
          socket.destroy();
        }
      }
    });
    const drop = () => {
      if (this.connections.get(k) === conn) this.connections.delete(k);
    };
    socket.on('error', (e) => {
      this.log.debug(`TCP connection ${k}: ${e.message}`);
      drop();
    });
    socket.on('close', drop);
    return conn;
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const c of this.connections.values()) c.socket.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
