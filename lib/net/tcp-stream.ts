import * as net from 'node:net';
import * as tls from 'node:tls';
import { systemClock, type Clock } from '../base/clock.js';
import { TimeoutError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { httpConnect, type HttpProxy } from './http-connect.js';
import { normalizeAddress } from '../base/address.js';
import { familyOf, formatAddress, sameAddress, type PacketHandler, type PacketSocket, type TransportAddress } from './socket.js';

/**
 * A client-side TCP or TLS connection to one STUN/TURN server, presented as a PacketSocket.
 *
 * Framing (RFC 8489 §6.2.2, RFC 8656 §12.5): on a stream, STUN messages are self-delimiting by
 * their 20-byte header and length field, and TURN ChannelData messages by their 4-byte header,
 * "padded to a multiple of four bytes in order to ensure the alignment of subsequent messages".
 * The first two bits tell the two apart (00 STUN, 01 ChannelData); anything else means the
 * stream lost sync and is closed. Optionally reached through an HTTP CONNECT proxy.
 */

export type StreamFrame = { kind: 'message'; data: Buffer } | { kind: 'error'; reason: string };

/** Largest frame: a STUN header plus a 65535-byte body (the length field is 16 bits). */
const MAX_FRAME = 20 + 0xffff;

/**
 * Splits a byte stream into STUN messages and ChannelData messages. ChannelData frames are
 * returned without their padding (the length field says how much is data). An error is fatal
 * for the stream: after it nothing more is returned.
 */
export class StunStreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private failed = false;

  push(chunk: Buffer): StreamFrame[] {
    if (this.failed) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: StreamFrame[] = [];
    while (this.buffer.length >= 4) {
      const top = this.buffer[0]! >> 6;
      const length = this.buffer.readUInt16BE(2);
      let total: number;
      let keep: number;
      if (top === 0) {
        // RFC 8489 §5: a STUN body length is always a multiple of 4.
        if (length % 4 !== 0) return this.fail(out, `STUN length ${length} is not a multiple of 4`);
        total = 20 + length;
        keep = total;
      } else if (top === 1) {
        keep = 4 + length;
        total = keep + ((4 - (length % 4)) % 4);
      } else {
        return this.fail(out, `first byte 0x${this.buffer[0]!.toString(16)} is neither STUN nor ChannelData`);
      }
      if (total > MAX_FRAME) return this.fail(out, `frame of ${total} bytes exceeds ${MAX_FRAME}`);
      if (this.buffer.length < total) break;
      out.push({ kind: 'message', data: Buffer.from(this.buffer.subarray(0, keep)) });
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buffer.length;
  }

  private fail(out: StreamFrame[], reason: string): StreamFrame[] {
    this.failed = true;
    this.buffer = Buffer.alloc(0);
    out.push({ kind: 'error', reason });
    return out;
  }
}

/** Pads a ChannelData message (first two bits 01) to a multiple of 4 bytes (RFC 8656 §12.5); other data is returned as is. */
export function padForStream(data: Buffer): Buffer {
  if (data.length === 0 || data[0]! >> 6 !== 1 || data.length % 4 === 0) return data;
  return Buffer.concat([data, Buffer.alloc(4 - (data.length % 4))]);
}

export interface StreamConnectOptions {
  /** The server to connect to (an IP address, or the proxy's CONNECT target). */
  remote: { address: string; port: number };
  /** Use TLS over the connection (RFC 8656 §3.1 `turns:`/`stuns:`). */
  tls?: {
    /** SNI and the name checked in the certificate; default: none for an IP address. */
    servername?: string;
    /**
     * The name (or IP address) the certificate must be valid for, when it is not `servername`
     * (default `servername`, else the remote address): after an RFC 8489 §10 redirection "the
     * same domain that was used for the original request MUST be used to validate the certificate".
     */
    identity?: string;
    /** Check the certificate chain and name (default true). */
    verify?: boolean;
    /** Trusted CA certificate(s) in PEM, used instead of the system's root store. */
    ca?: Buffer;
  };
  /** Reach `remote` through an HTTP CONNECT proxy. */
  proxy?: HttpProxy;
  /** Gives up connecting (TCP, proxy and TLS handshake together) after this long. Default 10 s. */
  timeoutMs?: number;
  /** Times the connect timeout and close()'s linger (default the system clock). */
  clock?: Clock;
  log?: Logger;
}

/** Connection failure: refused, reset, TLS handshake or certificate error, proxy refusal. */
export class StreamConnectError extends Error {
  override readonly name = 'StreamConnectError';
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/**
 * One TCP/TLS connection as a PacketSocket. `send` writes one frame (ChannelData padded);
 * the `to` address is only checked against the connection's remote end. Errors after the
 * connection is up are logged and reported through `onClose`, never thrown.
 */
export class StreamPacketSocket implements PacketSocket {
  readonly protocol = 'tcp' as const;
  private handler: PacketHandler = () => {};
  private closeHandlers: Array<(reason: string) => void> = [];
  private isClosed = false;
  private readonly framer = new StunStreamFramer();
  /** Why the connection ended, once it has. */
  closeReason: string | undefined;

  private constructor(
    private readonly stream: net.Socket,
    readonly local: TransportAddress,
    readonly remote: TransportAddress,
    readonly secure: boolean,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    stream.setNoDelay(true);
    stream.on('data', (chunk: Buffer) => {
      for (const frame of this.framer.push(chunk)) {
        if (frame.kind === 'error') {
          this.log.warn(`stream from ${formatAddress(remote)} lost framing: ${frame.reason}`);
          this.end(`framing error: ${frame.reason}`);
          return;
        }
        try {
          this.handler(frame.data, this.remote);
        } catch (e) {
          this.log.warn(`packet handler threw on a frame from ${formatAddress(remote)}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    });
    stream.on('error', (e) => {
      this.log.debug(`stream to ${formatAddress(remote)}: ${e.message}`);
      this.end(e.message);
    });
    stream.on('close', () => this.end('connection closed by the server'));
    stream.resume();
  }

  /**
   * Connects (through the proxy, then TLS, when asked).
   * @throws StreamConnectError, ProxyError (from http-connect.ts) or TimeoutError, each naming the server.
   */
  static async connect(opts: StreamConnectOptions): Promise<StreamPacketSocket> {
    const log = opts.log ?? silentLogger;
    const clock = opts.clock ?? systemClock;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const kind = opts.tls ? 'TLS' : 'TCP';
    const where = `${kind} ${formatAddress(opts.remote)}${opts.proxy ? ` via proxy ${formatAddress({ address: opts.proxy.host, port: opts.proxy.port })}` : ''}`;
    const started = clock.now();
    const remaining = (): number => Math.max(1, timeoutMs - (clock.now() - started));

    let raw: net.Socket;
    if (opts.proxy) {
      raw = await httpConnect(opts.proxy, opts.remote, timeoutMs, clock);
    } else {
      raw = await waitConnected(net.connect({ host: opts.remote.address, port: opts.remote.port }), 'connect', where, remaining(), clock);
    }
    let stream: net.Socket = raw;
    if (opts.tls) {
      const servername = opts.tls.servername ?? (net.isIP(opts.remote.address) ? undefined : opts.remote.address);
      const secure = tls.connect({
        socket: raw,
        servername,
        rejectUnauthorized: opts.tls.verify ?? true,
        ca: opts.tls.ca,
        // Without SNI, check the certificate against the IP address we connected to.
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(opts.tls?.identity ?? servername ?? opts.remote.address, cert),
      });
      stream = await waitConnected(secure, 'secureConnect', where, remaining(), clock);
    }
    const localAddress = normalizeAddress(raw.localAddress ?? '0.0.0.0');
    const remoteAddress = normalizeAddress(opts.remote.address);
    const local: TransportAddress = { address: localAddress, port: raw.localPort ?? 0, family: familyOf(localAddress) };
    const remote: TransportAddress = { address: remoteAddress, port: opts.remote.port, family: familyOf(remoteAddress) };
    log.debug(`${where}: connected from ${formatAddress(local)}`);
    return new StreamPacketSocket(stream, local, remote, opts.tls !== undefined, log, clock);
  }

  get closed(): boolean { return this.isClosed; }

  onPacket(handler: PacketHandler): void { this.handler = handler; }

  /** Called once when the connection ends for any reason other than close(). */
  onClose(handler: (reason: string) => void): void { this.closeHandlers.push(handler); }

  send(data: Buffer, to: { address: string; port: number }): void {
    if (this.isClosed) return;
    if (!sameAddress(to, this.remote)) {
      this.log.debug(`dropping a frame for ${formatAddress(to)}: this stream goes to ${formatAddress(this.remote)}`);
      return;
    }
    this.stream.write(padForStream(data));
  }

  private end(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    this.stream.destroy();
    for (const h of this.closeHandlers) {
      try { h(reason); } catch { /* a close handler must not break teardown */ }
    }
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = 'closed locally';
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimer(1000, () => { this.stream.destroy(); resolve(); });
      this.stream.end(() => { this.clock.clearTimer(timer); this.stream.destroy(); resolve(); });
    });
  }
}

function waitConnected<S extends net.Socket>(socket: S, event: 'connect' | 'secureConnect', where: string, timeoutMs: number, clock: Clock): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const timer = clock.setTimer(timeoutMs, () => {
      socket.destroy();
      reject(new TimeoutError(`${where}: not connected within ${timeoutMs} ms`, timeoutMs));
    });
    const onError = (e: NodeJS.ErrnoException): void => {
      clock.clearTimer(timer);
      socket.destroy();
      reject(new StreamConnectError(`${where}: ${e.message}`, e.code));
    };
    socket.once('error', onError);
    socket.once(event, () => {
      clock.clearTimer(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
