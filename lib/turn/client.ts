import type { Clock, TimerHandle } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { errorMessage, StateError, TimeoutError } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { redact, silentLogger, type Logger } from '../base/log.js';
import type { HttpProxy } from '../net/http-connect.js';
import { familyOf, formatAddress, sameAddress, type AddressFamily, type PacketSocket, type TransportAddress } from '../net/socket.js';
import { longTermKey, verifyFingerprint, verifyMessageIntegrity } from '../stun/integrity.js';
import { FAMILY_IPV6 } from '../stun/attributes.js';
import { isStunPacket, StunAttr, StunMessage, StunMethod } from '../stun/message.js';
import { StunTransactionManager, TransactionCancelledError } from '../stun/transaction.js';
import { decodeChannelData, isChannelData } from './channel-data.js';
import { openTurnSocket, type TurnSocket, type TurnSocketFactory, type TurnTransport } from './client-socket.js';
import type { CredentialProvider } from './credentials.js';
import { PeerBindings, type PeerBindingStats } from './peer-bindings.js';
import { TurnError, turnErrorFor } from './turn-error.js';

/**
 * TURN client (RFC 8656): one allocation on one server.
 *
 * Usage (what the ICE agent does for a relayed candidate, RFC 8445 §5.1.1.2):
 *
 *     const turn = await TurnClient.allocate({ server: { address: '192.0.2.1', port: 3478 },
 *       transport: 'udp', username, password });
 *     turn.relayedAddress;                 // the relayed candidate's address
 *     turn.on('data', (data, peer) => …);  // data from peers, through the relay
 *     turn.send(buf, peer);                // installs a permission and binds a channel on first use
 *     await turn.close();                  // deallocates (Refresh with LIFETIME 0)
 *
 * Sharing the ICE host socket (UDP): construct with `new TurnClient({ …, socket })`, route every
 * packet from the server's address to `handlePacket(buf, from)` (it returns true when it was the
 * client's), then `await client.start()`. Without `socket` the client binds (UDP) or connects
 * (TCP/TLS, optionally via an HTTP CONNECT proxy) its own socket through `openSocket` (default:
 * real sockets; tests pass in-memory ones) and closes it on close().
 *
 * Authentication is the long-term credential mechanism (RFC 8489 §9.2): the first Allocate goes
 * without credentials, the 401 gives REALM and NONCE, every later request carries USERNAME, REALM,
 * NONCE and MESSAGE-INTEGRITY, and a 438 (Stale Nonce) is retried with the new nonce. Responses
 * whose MESSAGE-INTEGRITY or FINGERPRINT does not verify are dropped as if never received.
 *
 * Allocate errors (RFC 8656 §7.4): a 300 (Try Alternate) is followed once to its ALTERNATE-SERVER,
 * a 437 (Allocation Mismatch) retried from up to three new client transport addresses. The relayed
 * address is IPv4 unless `family: 'IPv6'` asks for IPv6 (REQUESTED-ADDRESS-FAMILY, RFC 6156).
 *
 * Timers: the allocation is refreshed at lifetime - 60 s (half the lifetime when it is 2 minutes
 * or less); permissions and channel bindings are kept by peer-bindings.ts (every 4 and 9 minutes,
 * failed refreshes retried with the back-off of upkeep.ts). All run on the injected Clock.
 * Errors: turn-error.ts. Sockets the client opens: client-socket.ts.
 */

export type { TurnTransport } from './client-socket.js';
export { TurnError, type TurnErrorKind, type AlternateServer } from './turn-error.js';

export interface TurnAllocateOptions {
  server: { address: string; port: number };
  /** How the client reaches the server; the relay is always UDP (REQUESTED-TRANSPORT 17). */
  transport: TurnTransport;
  username?: string;
  password?: string;
  /** Alternative to username/password (e.g. an EphemeralCredentialProvider); read once per allocation. */
  credentials?: CredentialProvider;
  /** Socket to share (the ICE host socket, UDP). The owner must feed packets to handlePacket(). */
  socket?: PacketSocket;
  /** Local address for a socket the client binds itself (default: any address of the server's family). */
  localAddress?: string;
  /** Opens the client's own socket when `socket` is not given (default openTurnSocket: UdpSocket / StreamPacketSocket). */
  openSocket?: TurnSocketFactory;
  clock?: Clock;
  log?: Logger;
  /** TLS: SNI and certificate name (default: the server's address when it is a name). */
  servername?: string;
  /** TLS: verify the server certificate (default true). */
  tlsVerify?: boolean;
  /** TLS: trusted CA certificate(s), PEM. */
  ca?: Buffer;
  /** Reach the server through an HTTP CONNECT proxy (tcp/tls only). */
  proxy?: HttpProxy;
  /** LIFETIME asked for in Allocate and Refresh, seconds (default 600, RFC 8656 §3.2). The server may cap it. */
  lifetimeSec?: number;
  /** How the server is named in errors and logs (default "ADDRESS:PORT/TRANSPORT"). */
  label?: string;
  /** TCP/TLS connect timeout and, on reliable transports, the per-request timeout Ti (default 10 s / 39.5 s). */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** UDP initial retransmission timeout (RFC 8489 §6.2.1, default 500 ms). */
  rtoMs?: number;
  /** Bind a channel on the first send() to a peer (default true); until bound, Send indications are used. */
  autoChannel?: boolean;
  /** Aborts start(): pending requests are cancelled and start() rejects with kind 'aborted'. */
  signal?: AbortSignal;
  /**
   * Address family of the relayed transport address (RFC 8656 §7.1, RFC 6156): 'IPv4' (default,
   * no attribute sent: "the server MUST allocate an IPv4 relayed transport address" without one)
   * or 'IPv6' (REQUESTED-ADDRESS-FAMILY 0x02, §18.6). Independent of how the server is reached.
   * A server without relays of that family answers 440: start() fails with kind 'family'.
   */
  family?: AddressFamily;
}

/** Counters; `droppedSends` also counts packets given to send() while the client is not allocated. */
export interface TurnClientStats extends PeerBindingStats {
  requests: number;
  /** Responses dropped because MESSAGE-INTEGRITY or FINGERPRINT did not verify, or they did not decode. */
  droppedResponses: number;
  refreshes: number;
  dataIndications: number;
  channelDataReceived: number;
  bytesReceived: number;
}

export interface TurnClientEvents {
  data: [data: Buffer, peer: TransportAddress];
  /** The allocation was refreshed; the server granted `lifetimeSec`. */
  refresh: [lifetimeSec: number];
  permission: [peerAddress: string];
  channel: [channel: number, peer: TransportAddress];
  /** A background operation (refresh, permission, channel) failed; the allocation may still work. */
  warning: [error: TurnError];
  /** The allocation is gone: closed, expired, or its connection lost. */
  closed: [reason: string];
}

type State = 'new' | 'allocating' | 'allocated' | 'expired' | 'closing' | 'closed';
const ALLOWED: Record<State, State[]> = {
  new: [],
  allocating: ['new'],
  allocated: ['allocating'],
  expired: ['allocated'],
  closing: ['new', 'allocating', 'allocated', 'expired'],
  closed: ['closing'],
};

const MAX_STALE_NONCE_RETRIES = 3;
/** RFC 8656 §7.4 on 437: "The client SHOULD try three different client transport addresses before giving up on this server." */
const MAX_MISMATCH_RETRIES = 3;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

export class TurnClient extends TypedEmitter<TurnClientEvents> {
  readonly transport: TurnTransport;
  readonly stats: TurnClientStats = {
    requests: 0, droppedResponses: 0, refreshes: 0, permissions: 0, channels: 0, sendIndications: 0,
    channelDataSent: 0, dataIndications: 0, channelDataReceived: 0, bytesSent: 0, bytesReceived: 0, droppedSends: 0,
  };

  private state: State = 'new';
  private socket: TurnSocket | undefined;
  /** True when the client opened its socket (and closes it); becomes true when it leaves a shared socket (437, redirection). */
  private ownsSocket: boolean;
  private current: TransportAddress;
  private readonly baseLabel: string;
  /** Set after a 300 (Try Alternate): where the client was sent. */
  private redirectedTo: TransportAddress | undefined;
  /** TLS: SNI, and the name the certificate must match (RFC 8489 §10 after a redirection). */
  private servername: string | undefined;
  private identity: string | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly transactions: StunTransactionManager;
  private readonly username: string;
  private readonly password: string;
  /** Releases the password's log redaction when the client closes (per-call state). */
  private releaseRedaction: () => void = () => {};
  private realm: string | undefined;
  private nonce: Buffer | undefined;
  private key: Buffer | undefined;
  private readonly ours = new Set<string>();
  private relayed: TransportAddress | undefined;
  private mapped: TransportAddress | undefined;
  private lifetime = 0;
  private expiresAt = 0;
  private refreshTimer: TimerHandle | undefined;
  private readonly bindings: PeerBindings;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: TurnAllocateOptions) {
    super();
    const creds = opts.credentials?.get() ?? { username: opts.username, password: opts.password };
    this.transport = opts.transport;
    this.current = { address: opts.server.address, port: opts.server.port, family: familyOf(opts.server.address) };
    this.baseLabel = opts.label ?? `${formatAddress(this.current)}/${opts.transport}`;
    this.servername = opts.servername;
    if (!creds.username || creds.password === undefined) throw new TurnError('auth', this.label, 'no username/password given');
    this.username = creds.username;
    this.password = creds.password;
    this.releaseRedaction = redact(this.password);
    if (opts.proxy && opts.transport === 'udp') throw new TurnError('connect', this.label, 'an HTTP proxy needs transport tcp or tls');
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.log ?? silentLogger).child(`turn ${this.label}`);
    this.transactions = new StunTransactionManager(this.clock);
    this.socket = opts.socket;
    this.ownsSocket = opts.socket === undefined;
    this.bindings = new PeerBindings({
      clock: this.clock,
      log: this.log,
      label: () => this.label,
      family: () => this.family,
      relayed: () => this.relayed,
      allocated: () => this.state === 'allocated',
      reliable: () => this.reliable,
      request: (method, what, build) => this.request(method, what, build),
      transmit: (bytes) => this.socket?.send(bytes, this.current),
      warn: (e) => this.warn(e),
      allocationLost: (e) => this.allocationLost(e),
      onPermission: (address) => this.safeEmit('permission', address),
      onChannel: (channel, peer) => this.safeEmit('channel', channel, peer),
    }, this.stats, opts.autoChannel ?? true);
  }

  /** Allocates on the server (connecting or binding a socket first when none was given). */
  static async allocate(opts: TurnAllocateOptions): Promise<TurnClient> {
    return new TurnClient(opts).start();
  }

  /** The server's transport address: the one configured, or the ALTERNATE-SERVER it redirected the client to. */
  get server(): TransportAddress {
    return this.current;
  }

  /** How the server is named in errors and logs; after a redirection also where to. */
  get label(): string {
    return this.redirectedTo ? `${this.baseLabel} (redirected to ${formatAddress(this.redirectedTo)})` : this.baseLabel;
  }

  /** Relayed transport address (XOR-RELAYED-ADDRESS). @throws StateError before the allocation exists. */
  get relayedAddress(): TransportAddress {
    if (!this.relayed) throw new StateError(`TURN ${this.label}: no allocation yet`);
    return this.relayed;
  }

  /** Server-reflexive address the server saw (XOR-MAPPED-ADDRESS), when it sent one. */
  get mappedAddress(): TransportAddress | undefined {
    return this.mapped;
  }

  /** Lifetime the server last granted, seconds. */
  get lifetimeSec(): number {
    return this.lifetime;
  }

  get allocated(): boolean {
    return this.state === 'allocated';
  }

  private get reliable(): boolean {
    return this.socket?.protocol === 'tcp';
  }

  private transition(to: State): void {
    if (!ALLOWED[to].includes(this.state)) throw new StateError(`TURN ${this.label}: cannot go from ${this.state} to ${to}`);
    this.state = to;
  }

  /**
   * Performs the Allocate transaction (RFC 8656 §7.1-§7.4), following at most one 300 (Try
   * Alternate) redirection and retrying a 437 (Allocation Mismatch) from up to three new client
   * transport addresses. @throws TurnError.
   */
  async start(): Promise<this> {
    this.transition('allocating');
    const signal = this.opts.signal;
    const onAbort = (): void => this.transactions.cancelAll();
    signal?.addEventListener('abort', onAbort);
    const checkAborted = (): void => {
      if (signal?.aborted) throw new TurnError('aborted', this.label, 'allocation aborted');
    };
    try {
      const tried = new Set<string>([formatAddress(this.current)]);
      let mismatches = 0;
      let response: StunMessage;
      for (;;) {
        checkAborted();
        if (!this.socket) this.socket = await this.openSocket();
        checkAborted();
        try {
          response = await this.allocateRequest();
          break;
        } catch (e) {
          if (!(e instanceof TurnError) || signal?.aborted) throw e;
          if (e.code === 300 && e.alternate) {
            await this.redirect(e, tried);
            mismatches = 0;
            continue;
          }
          if (e.code === 437 && mismatches < MAX_MISMATCH_RETRIES) {
            // RFC 8656 §7.4: "the client has picked a 5-tuple that the server sees as already in
            // use ... The client SHOULD pick another client transport address and retry".
            mismatches++;
            this.log.info(`437 Allocation Mismatch from ${formatAddress(this.socket.local)}: retrying from a new local port (${mismatches}/${MAX_MISMATCH_RETRIES})`);
            await this.replaceSocket(this.socket.protocol === 'udp' ? this.socket.local.address : undefined);
            continue;
          }
          if (e.code === 437 && mismatches > 0) {
            throw new TurnError('mismatch', this.label, `${e.detail} from ${mismatches + 1} client transport addresses`, 437);
          }
          throw e;
        }
      }
      try {
        this.relayed = response.getXorAddress(StunAttr.XOR_RELAYED_ADDRESS);
        this.mapped = response.getXorAddress(StunAttr.XOR_MAPPED_ADDRESS);
      } catch (e) {
        throw new TurnError('protocol', this.label, `Allocate response malformed: ${errorMessage(e)}`);
      }
      if (!this.relayed) throw new TurnError('protocol', this.label, 'Allocate success response has no XOR-RELAYED-ADDRESS');
      if (this.relayed.family !== this.family) {
        throw new TurnError('family', this.label, `Allocate gave the ${this.relayed.family} relayed address ${formatAddress(this.relayed)}, ${this.family} was requested`);
      }
      this.transition('allocated');
      this.setLifetime(response);
      this.log.info(`allocated ${formatAddress(this.relayed)} for ${this.lifetime} s`);
      return this;
    } catch (e) {
      const error = signal?.aborted ? new TurnError('aborted', this.label, 'allocation aborted') : e;
      await this.teardown('allocation failed');
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private allocateRequest(): Promise<StunMessage> {
    const lifetime = this.opts.lifetimeSec ?? 600;
    return this.request(StunMethod.Allocate, 'Allocate', (m) => {
      // RFC 8656 §18.8: REQUESTED-TRANSPORT, protocol 17 (UDP) then three RFFU bytes.
      m.add(StunAttr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0]));
      m.add(StunAttr.LIFETIME, u32(lifetime));
      // RFC 8656 §18.6: REQUESTED-ADDRESS-FAMILY, family 0x01 IPv4 / 0x02 IPv6 then 24 reserved
      // bits. Sent only for IPv6: IPv4 is what a server allocates without it (§7.2), and an
      // RFC 5766-only server would reject the comprehension-required attribute with 420.
      if (this.family === 'IPv6') m.add(StunAttr.REQUESTED_ADDRESS_FAMILY, Buffer.from([FAMILY_IPV6, 0, 0, 0]));
    });
  }

  /** The requested relayed address family. */
  get family(): AddressFamily {
    return this.opts.family ?? 'IPv4';
  }

  /**
   * RFC 8656 §7.4 on 300: the client "SHOULD try the Allocate request with the alternate server
   * before trying any other servers", following RFC 8489 §10: the same transport protocol and
   * credentials; for TLS the certificate is checked against ALTERNATE-DOMAIN, else "the same domain
   * that was used for the original request"; "If the client has been redirected to a server to
   * which it has already sent this request within the last five minutes, it MUST ignore the
   * redirection and consider the transaction to have failed." One redirection per allocation.
   * @throws TurnError (kind 'rejected', code 300) when the redirection is not followed.
   */
  private async redirect(e: TurnError, tried: Set<string>): Promise<void> {
    const alternate = e.alternate!;
    const target: TransportAddress = { address: alternate.address, port: alternate.port, family: familyOf(alternate.address) };
    const where = formatAddress(target);
    const cause = e.detail;
    if (this.redirectedTo) throw new TurnError('rejected', this.label, `${cause}: not following a second redirection (to ${where})`, 300);
    if (tried.has(where)) throw new TurnError('rejected', this.label, `${cause}: redirection loop (${where} was already tried)`, 300);
    tried.add(where);
    this.log.info(`300 Try Alternate: redirected to ${where}`);
    const familyChanged = target.family !== this.current.family;
    if (this.transport === 'tls') {
      this.identity = alternate.domain ?? this.opts.servername ?? this.current.address;
      this.servername = alternate.domain ?? this.opts.servername;
    }
    this.current = target;
    this.redirectedTo = target;
    // A new server: its own REALM and NONCE, from its own 401 (same username and password).
    this.realm = undefined;
    this.nonce = undefined;
    this.key = undefined;
    // UDP keeps its socket when it can reach the alternate; TCP/TLS connect anew.
    if (this.transport !== 'udp' || familyChanged) await this.replaceSocket(undefined);
  }

  /**
   * Moves to a new socket of the client's own (a new client transport address): opened before the
   * old one is closed, so the new local port differs. A shared socket is left to its owner.
   */
  private async replaceSocket(localAddress: string | undefined): Promise<void> {
    const old = this.socket;
    const wasOwn = this.ownsSocket;
    this.socket = undefined;
    this.socket = await this.openSocket(localAddress);
    this.ownsSocket = true;
    if (wasOwn && old) await old.close();
  }

  /** Opens the client's own socket (RFC 8656 §3.1) through the factory and routes its packets here. @throws TurnError. */
  private async openSocket(localAddress?: string): Promise<TurnSocket> {
    const open = this.opts.openSocket ?? openTurnSocket;
    let socket: TurnSocket;
    try {
      socket = await open({
        transport: this.transport,
        server: this.current,
        localAddress: localAddress ?? this.opts.localAddress ?? (this.current.family === 'IPv6' ? '::' : '0.0.0.0'),
        tls: this.transport === 'tls' ? { servername: this.servername, identity: this.identity, verify: this.opts.tlsVerify, ca: this.opts.ca } : undefined,
        proxy: this.opts.proxy,
        timeoutMs: this.opts.connectTimeoutMs,
        clock: this.clock,
        log: this.log,
      });
    } catch (e) {
      if (this.transport === 'udp') throw new TurnError('connect', this.label, `cannot bind a UDP socket: ${errorMessage(e)}`);
      throw new TurnError(e instanceof TimeoutError ? 'timeout' : 'connect', this.label, `cannot connect: ${errorMessage(e)}`);
    }
    socket.onPacket((buf, from) => { this.handlePacket(buf, from); });
    socket.onClose?.((reason) => {
      if (this.socket === socket) this.lost(`connection lost: ${reason}`);
    });
    return socket;
  }

  /** The stream to the server ended: the allocation goes with it (RFC 8656 §3.1: it is bound to the 5-tuple). */
  private lost(reason: string): void {
    this.transactions.cancelAll();
    if (this.state === 'allocated') {
      this.state = 'expired';
      this.clearTimers();
      this.log.warn(reason);
      this.safeEmit('closed', reason);
    }
  }

  /**
   * Sends a request with long-term credentials once known, handling the 401 challenge and 438
   * (Stale Nonce) retries. Resolves with the success response. @throws TurnError.
   */
  private async request(method: number, what: string, build: (m: StunMessage) => void, quick = false): Promise<StunMessage> {
    let staleRetries = 0;
    let challenged = false;
    for (;;) {
      const m = new StunMessage({ method, messageClass: 'request' });
      build(m);
      const sentCredentials = this.nonce !== undefined;
      if (this.nonce !== undefined && this.realm !== undefined) {
        // RFC 8489 §9.2.4: USERNAME, REALM, NONCE and MESSAGE-INTEGRITY on every request after the challenge.
        m.addUsername(this.username);
        m.add(StunAttr.REALM, Buffer.from(this.realm, 'utf8'));
        m.add(StunAttr.NONCE, this.nonce);
      }
      const tid = m.transactionId.toString('hex');
      this.ours.add(tid);
      this.stats.requests++;
      let response: StunMessage;
      try {
        const socket = this.socket;
        if (!socket || socket.closed) throw new TurnError('closed', this.label, `${what} failed: socket closed`);
        const r = await this.transactions.request(m, (bytes) => socket.send(bytes, this.server), {
          integrityKey: sentCredentials ? this.key : undefined,
          fingerprint: true,
          verifyResponses: true,
          reliable: this.reliable,
          reliableTimeoutMs: quick ? 3000 : this.opts.requestTimeoutMs,
          rtoMs: this.opts.rtoMs,
          maxRequests: quick ? 3 : undefined,
          lastWaitFactor: quick ? 4 : undefined,
        });
        response = r.message;
      } catch (e) {
        if (e instanceof TurnError) throw e;
        if (e instanceof TimeoutError) {
          throw new TurnError('timeout', this.label, `unreachable: no response to ${what} within ${e.afterMs ?? '?'} ms`);
        }
        if (e instanceof TransactionCancelledError) {
          const closed = this.socket?.protocol === 'tcp' && this.socket.closeReason;
          throw new TurnError(closed ? 'connect' : 'closed', this.label, `${what} failed: ${closed ? `connection lost (${closed})` : 'cancelled'}`);
        }
        throw new TurnError('rejected', this.label, `${what} failed: ${errorMessage(e)}`);
      } finally {
        this.ours.delete(tid);
      }
      if (response.messageClass === 'success') return response;
      let error: { code: number; reason: string } | undefined;
      try {
        error = response.getErrorCode();
      } catch (e) {
        throw new TurnError('protocol', this.label, `${what} failed: malformed ERROR-CODE (${errorMessage(e)})`);
      }
      if (!error) throw new TurnError('protocol', this.label, `${what} failed: error response without ERROR-CODE`);
      const realm = response.get(StunAttr.REALM)?.toString('utf8');
      const nonce = response.get(StunAttr.NONCE);
      if (error.code === 401 && !sentCredentials && !challenged && realm !== undefined && nonce) {
        // RFC 8489 §9.2.3: the challenge; retry with the credentials.
        challenged = true;
        this.setRealmNonce(realm, nonce);
        continue;
      }
      if (error.code === 438 && nonce && staleRetries < MAX_STALE_NONCE_RETRIES) {
        // RFC 8489 §9.2.5: "the client SHOULD retry the request, using the new NONCE".
        staleRetries++;
        this.setRealmNonce(realm ?? this.realm ?? '', nonce);
        continue;
      }
      throw turnErrorFor(this.label, what, error, response, { sentCredentials, username: this.username, family: this.family });
    }
  }

  private setRealmNonce(realm: string, nonce: Buffer): void {
    if (realm !== this.realm || !this.key) this.key = longTermKey(this.username, realm, this.password);
    this.realm = realm;
    this.nonce = Buffer.from(nonce);
  }

  private setLifetime(response: StunMessage): void {
    const value = response.get(StunAttr.LIFETIME);
    this.lifetime = value && value.length === 4 ? value.readUInt32BE(0) : this.opts.lifetimeSec ?? 600;
    this.expiresAt = this.clock.now() + this.lifetime * 1000;
    const delaySec = this.lifetime > 120 ? this.lifetime - 60 : this.lifetime / 2;
    this.scheduleRefresh(delaySec * 1000);
  }

  private scheduleRefresh(delayMs: number): void {
    this.clock.clearTimer(this.refreshTimer);
    this.refreshTimer = this.clock.setTimer(delayMs, () => void this.refresh());
  }

  /** RFC 8656 §8: Refresh with the requested LIFETIME. Retries while time remains; expires the allocation otherwise. */
  private async refresh(): Promise<void> {
    if (this.state !== 'allocated') return;
    try {
      const response = await this.request(StunMethod.Refresh, 'Refresh', (m) => m.add(StunAttr.LIFETIME, u32(this.opts.lifetimeSec ?? 600)));
      if (this.state !== 'allocated') return;
      this.stats.refreshes++;
      this.setLifetime(response);
      this.log.debug(`refreshed: lifetime ${this.lifetime} s`);
      this.safeEmit('refresh', this.lifetime);
    } catch (e) {
      if (this.state !== 'allocated') return;
      const error = e instanceof TurnError ? e : new TurnError('rejected', this.label, `Refresh failed: ${errorMessage(e)}`);
      const remaining = this.expiresAt - this.clock.now();
      if (error.kind === 'mismatch' || error.kind === 'connect' || remaining < 2000) {
        this.allocationLost(error);
        return;
      }
      this.safeEmit('warning', error);
      this.scheduleRefresh(remaining / 2);
    }
  }

  /** The allocation is gone (437 to a refresh, RFC 8656 §7: it is bound to the 5-tuple, or it ran out). */
  private allocationLost(error: TurnError): void {
    if (this.state !== 'allocated') return;
    this.state = 'expired';
    this.clearTimers();
    this.log.warn(`allocation lost: ${error.message}`);
    this.safeEmit('closed', `allocation expired: ${error.message}`);
  }

  /**
   * Installs (or refreshes) a permission for the peer's IP address (RFC 8656 §9; the port is
   * ignored), kept alive until close() (peer-bindings.ts). @throws StateError before the
   * allocation exists; the promise rejects with TurnError (kind 'family' for a peer of the other family).
   */
  createPermission(peer: { address: string; port: number }): Promise<void> {
    this.requireAllocated('CreatePermission');
    return this.bindings.createPermission(peer);
  }

  /**
   * Binds a channel to the peer (RFC 8656 §12.1), which also installs its permission, kept alive
   * until close() (peer-bindings.ts). Resolves with the channel number (0x4000..0x4FFF).
   * @throws StateError before the allocation exists; the promise rejects with TurnError.
   */
  bindChannel(peer: { address: string; port: number }): Promise<number> {
    this.requireAllocated('ChannelBind');
    return this.bindings.bindChannel(peer);
  }

  /**
   * Sends `data` to `peer` through the relay: ChannelData on a bound channel, else a Send
   * indication once the permission exists, else queued while it is created (peer-bindings.ts).
   * Never throws: failures are counted in stats and reported as 'warning'.
   */
  send(data: Buffer, peer: { address: string; port: number }): void {
    if (this.state !== 'allocated' || !this.socket) {
      this.stats.droppedSends++;
      return;
    }
    this.bindings.send(data, peer);
  }

  private warn(e: unknown): void {
    if (this.state !== 'allocated') return;
    const error = e instanceof TurnError ? e : new TurnError('rejected', this.label, errorMessage(e));
    this.log.warn(error.message);
    this.safeEmit('warning', error);
  }

  private requireAllocated(what: string): void {
    if (this.state !== 'allocated') throw new StateError(`TURN ${this.label}: ${what} needs an allocation (state ${this.state})`);
  }

  /**
   * Offers a packet received on the socket. Consumes (returns true for) STUN responses to this
   * client's requests, Data indications and ChannelData from the server's transport address;
   * returns false for anything else (e.g. another module's STUN, or peers' packets).
   */
  handlePacket(buf: Buffer, from: { address: string; port: number }): boolean {
    if (!sameAddress(from, this.server)) return false;
    if (isChannelData(buf)) {
      let decoded;
      try {
        decoded = decodeChannelData(buf);
      } catch {
        return true;
      }
      const peer = this.bindings.peerOfChannel(decoded.channel);
      if (peer) {
        this.stats.channelDataReceived++;
        this.stats.bytesReceived += decoded.data.length;
        this.safeEmit('data', Buffer.from(decoded.data), peer);
      }
      return true;
    }
    if (!isStunPacket(buf)) return false;
    let message: StunMessage;
    try {
      message = StunMessage.decode(buf);
    } catch {
      return false;
    }
    if (message.messageClass === 'success' || message.messageClass === 'error') {
      if (!this.ours.has(message.transactionId.toString('hex'))) return false;
      // RFC 8489 §9.2.5 / §14.7: a response failing MESSAGE-INTEGRITY or FINGERPRINT is discarded.
      const badFingerprint = message.has(StunAttr.FINGERPRINT) && !verifyFingerprint(message);
      const badIntegrity = message.has(StunAttr.MESSAGE_INTEGRITY) && this.key !== undefined && !verifyMessageIntegrity(message, this.key);
      if (badFingerprint || badIntegrity) {
        this.stats.droppedResponses++;
        this.log.debug(`dropped a response with a bad ${badFingerprint ? 'FINGERPRINT' : 'MESSAGE-INTEGRITY'}`);
        return true;
      }
      this.transactions.handleResponse(message, { address: from.address, port: from.port, family: familyOf(from.address) });
      return true;
    }
    if (message.messageClass === 'indication' && message.method === StunMethod.Data) {
      // RFC 8656 §11.6: XOR-PEER-ADDRESS and DATA; anything else is discarded.
      try {
        const peer = message.getXorAddress(StunAttr.XOR_PEER_ADDRESS);
        const data = message.get(StunAttr.DATA);
        if (peer && data) {
          this.stats.dataIndications++;
          this.stats.bytesReceived += data.length;
          this.safeEmit('data', Buffer.from(data), peer);
        }
      } catch {
        /* malformed: discard */
      }
      return true;
    }
    return false;
  }

  private clearTimers(): void {
    this.clock.clearTimer(this.refreshTimer);
    this.refreshTimer = undefined;
    this.bindings.clear();
  }

  /**
   * Deallocates (RFC 8656 §8: Refresh with LIFETIME 0, waiting at most ~3.5 s for the answer),
   * then closes the socket if the client opened it. Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.teardown('closed');
    return this.closing;
  }

  private async teardown(reason: string): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    const wasAllocated = this.state === 'allocated';
    this.state = 'closing';
    this.clearTimers();
    if (wasAllocated) {
      try {
        await this.request(StunMethod.Refresh, 'Refresh (deallocate)', (m) => m.add(StunAttr.LIFETIME, u32(0)), true);
        this.log.info('deallocated');
      } catch (e) {
        // RFC 8656 §8: a 437 here means the allocation was already gone.
        this.log.debug(`deallocation: ${errorMessage(e)}`);
      }
    }
    this.transactions.cancelAll();
    if (this.ownsSocket && this.socket) await this.socket.close();
    this.releaseRedaction();
    this.transition('closed');
    if (wasAllocated) this.safeEmit('closed', reason);
  }
}
