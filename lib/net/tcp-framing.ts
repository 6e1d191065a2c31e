import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { isUnspecifiedIp, normalizeAddress, transportAddressKey } from '../base/address.js';
import { familyOf, type TransportAddress } from './socket.js';
import { checkSipServerIdentity, TlsIdentityError } from './sip-tls-identity.js';
import { SIP_MAX_HEADER_BYTES, SIP_MAX_STREAM_BODY_BYTES } from './sip-size-limits.js';

/**
 * SIP over TCP and TLS: messages framed by Content-Length (RFC 3261 §18.3), plus a small endpoint
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

/** OpenSSL's verify codes most seen, in words (a wrong or missing --tls-ca, mostly). */
const CHAIN_ERRORS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'not issued by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'issuer not among the trusted CAs',
  UNABLE_TO_GET_ISSUER_CERT: 'issuer not among the trusted CAs',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'chain ends in an untrusted self-signed CA',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not valid yet',
  CERT_SIGNATURE_FAILURE: 'bad signature',
};

/**
 * SIP over TLS (RFC 3261 §26.2, RFC 5630): the same Content-Length framing on a TLS stream.
 * All PEM buffers.
 */
export interface SipTlsOptions {
  /** Our certificate (chain) and key: presented when accepting connections, and to servers that ask. */
  cert?: Buffer;
  key?: Buffer;
  /** Trust anchors for the server's certificate; default Node's bundled/system CAs. */
  ca?: Buffer;
  /**
   * Check the server's chain and identity (RFC 5922 §7: the target host against its URI/DNS/IP
   * subjectAltNames, `sip-tls-identity.ts`). Default true; false is `--tls-insecure`.
   */
  verify?: boolean;
  /** Gives up a TLS connect (TCP and handshake) after this long, ms. Default 10000. */
  connectTimeoutMs?: number;
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
  /** TLS only: handshakes that failed (either direction) and server certificates refused. */
  tlsFailures = 0;

  private constructor(
    private readonly server: net.Server,
    readonly local: TransportAddress,
    private readonly log: Logger,
    private readonly tlsOptions?: SipTlsOptions,
  ) {
    if (tlsOptions) {
      server.on('secureConnection', (socket: tls.TLSSocket) => this.adopt(socket, Promise.resolve()));
      server.on('tlsClientError', (e, socket) => {
        this.tlsFailures++;
        this.log.debug(`TLS handshake from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} failed: ${e.message}`);
      });
    } else {
      server.on('connection', (socket) => this.adopt(socket, Promise.resolve()));
    }
    server.on('error', (e) => this.log.warn(`${tlsOptions ? 'TLS' : 'TCP'} listener error: ${e.message}`));
  }

  /** True for a TLS endpoint. */
  get secure(): boolean { return this.tlsOptions !== undefined; }

  /**
   * Listens on `address:port` (0 = ephemeral); with `tlsOptions`, for TLS (RFC 3261 §26.2): our
   * certificate is presented, a client certificate is asked for but not required.
   * Without `tlsOptions.cert`/`key` the endpoint can only connect out (incoming handshakes fail).
   * @throws Error when the address cannot be bound or the certificate/key are unusable.
   */
  static async listen(address: string, port = 0, log: Logger = silentLogger, tlsOptions?: SipTlsOptions): Promise<TcpStreamEndpoint> {
    const server = tlsOptions
      ? tls.createServer({ cert: tlsOptions.cert, key: tlsOptions.key, ca: tlsOptions.ca, requestCert: true, rejectUnauthorized: false })
      : net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const info = server.address() as net.AddressInfo;
    return new TcpStreamEndpoint(server, canonical(info.address, info.port), log, tlsOptions);
  }

  get closed(): boolean { return this.isClosed; }
  /** Open (or opening) connections, each counted once however many aliases it has. */
  get connectionCount(): number { return new Set(this.connections.values()).size; }

  onMessage(handler: StreamMessageHandler): void { this.messageHandler = handler; }
  /** Called when a stream is dropped because its framing broke. */
  onFramingError(handler: StreamErrorHandler): void { this.errorHandler = handler; }

  /** True when a connection to `to` is open (or being opened). */
  hasConnection(to: { address: string; port: number }): boolean {
    return this.connections.has(key(to));
  }

  /**
   * Sends one framed message, reusing the connection to `to` or opening one. Over TLS a new
   * connection checks the server's certificate for `serverName` (the target URI's host; default
   * the address), RFC 5922 §7, and sends it as SNI when it is a name. An open connection to the
   * same transport address is reused without a new check (RFC 3261 §18.1.1 reuse; an in-dialog
   * request to a Contact IP then rides the connection checked for the domain name).
   * Rejects when the connection cannot be established or the write fails; over TLS with a
   * TlsIdentityError when the certificate is not trusted or does not match (counted in `tlsFailures`).
   */
  async send(data: Buffer, to: { address: string; port: number }, serverName?: string): Promise<void> {
    if (this.isClosed) throw new Error(`${this.tlsOptions ? 'TLS' : 'TCP'} endpoint closed`);
    let conn = this.connections.get(key(to));
    if (!conn) {
      const localAddress = isUnspecifiedIp(this.local.address) ? undefined : this.local.address;
      if (this.tlsOptions) {
        const name = serverName ?? to.address;
        const socket = tls.connect({
          host: to.address,
          port: to.port,
          localAddress,
          servername: net.isIP(name) ? undefined : name,
          ca: this.tlsOptions.ca,
          cert: this.tlsOptions.cert,
          key: this.tlsOptions.key,
          // Chain and identity are checked below, so that a failure gets a SIP-specific reason.
          rejectUnauthorized: false,
          // Node's own name check (RFC 2818 rules, wildcards) is replaced by RFC 5922's in verifiedHandshake.
          checkServerIdentity: () => undefined,
        } as tls.ConnectionOptions); // localAddress goes to net.Socket#connect, which tls.connect calls

        conn = this.adopt(socket, this.verifiedHandshake(socket, name, to), canonical(to.address, to.port));
      } else {
        const socket = net.connect({ host: to.address, port: to.port, localAddress });
        const ready = new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        conn = this.adopt(socket, ready, canonical(to.address, to.port));
      }
    }
    await conn.ready;
    await new Promise<void>((resolve, reject) => {
      conn!.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves once the handshake is done and the server's certificate is acceptable for `name`. */
  private verifiedHandshake(socket: tls.TLSSocket, name: string, to: { address: string; port: number }): Promise<void> {
    const where = `TLS to ${name === to.address ? '' : `${name} at `}${net.isIPv6(to.address) ? `[${to.address}]` : to.address}:${to.port}`;
    const timeoutMs = this.tlsOptions?.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: TlsIdentityError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.tlsFailures++;
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new TlsIdentityError(`${where}: no TLS handshake within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
      socket.once('error', (e: NodeJS.ErrnoException) => fail(new TlsIdentityError(`${where}: ${e.message}`, e.code)));
      socket.once('secureConnect', () => {
        if (settled) return;
        clearTimeout(timer);
        if (this.tlsOptions?.verify === false) { settled = true; resolve(); return; }
        if (!socket.authorized) {
          const err = socket.authorizationError as unknown as Error | string | null;
          const code = typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
          const text = err instanceof Error ? err.message : String(err);
          const why = CHAIN_ERRORS[code ?? text];
          fail(new TlsIdentityError(`${where}: server certificate not trusted: ${why ? `${why} (${code ?? text})` : text}`, code ?? text));
          return;
        }
        const mismatch = checkSipServerIdentity(name, socket.getPeerCertificate());
        if (mismatch) { fail(new TlsIdentityError(`${where}: ${mismatch.message}`, mismatch.code)); return; }
        settled = true;
        resolve();
      });
    });
  }

  /**
   * Lets sends to `alias` use the connection to `existing` (RFC 5923 connection reuse), unless a
   * connection to `alias` exists already. The alias goes when the connection does.
   */
  alias(alias: { address: string; port: number }, existing: { address: string; port: number }): void {
    const conn = this.connections.get(key(existing));
    const k = key(alias);
    if (!conn || this.connections.has(k)) return;
    this.connections.set(k, conn);
  }

  private adopt(socket: net.Socket, ready: Promise<void>, remote?: TransportAddress): Connection {
    const addr: TransportAddress = remote ?? canonical(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0);
    const k = key(addr);
    const conn: Connection = { socket, ready, framer: new SipStreamFramer(), remote: addr };
    // A connection that never came up leaves the table at once, so the next send tries afresh.
    ready.catch(() => {
      for (const [other, c] of this.connections) if (c === conn) this.connections.delete(other);
    });
    socket.setNoDelay(true);
    this.connections.get(k)?.socket.destroy();
    this.connections.set(k, conn);
    socket.on('data', (chunk: Buffer) => {
      for (const r of conn.framer.push(chunk)) {
        if (r.kind === 'message') {
          try {
            this.messageHandler(r.data, addr);
          } catch (e) {
            this.log.warn(`message handler threw on a stream message from ${k}: ${e instanceof Error ? e.message : String(e)}`);
          }
        } else {
          this.errorHandler(r.reason, addr);
          socket.destroy();
        }
      }
    });
    const drop = () => {
      for (const [other, c] of this.connections) if (c === conn) this.connections.delete(other);
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
