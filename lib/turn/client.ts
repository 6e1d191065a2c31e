import type { Clock, TimerHandle } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { errorMessage, StateError, TimeoutError } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { redact, scrub, silentLogger, type Logger } from '../base/log.js';
import type { HttpProxy } from '../net/http-connect.js';
import { familyOf, formatAddress, sameAddress, type AddressFamily, type PacketSocket, type TransportAddress } from '../net/socket.js';
import { longTermKey, verifyFingerprint, verifyMessageIntegrity } from '../stun/integrity.js';
import { FAMILY_IPV6 } from '../stun/attributes.js';
import { isStunPacket, StunAttr, StunMessage, StunMethod } from '../stun/message.js';
import { StunTransactionManager, TransactionCancelledError } from '../stun/transaction.js';
import { decodeChannelData, encodeChannelData, isChannelData, MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER } from './channel-data.js';
import { openTurnSocket, type TurnSocket, type TurnSocketFactory, type TurnTransport } from './client-socket.js';
import type { CredentialProvider } from './credentials.js';
import { CHANNEL_LIFETIME_MS, PERMISSION_LIFETIME_MS, refreshAt, retryDelay } from './upkeep.js';

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
 * Timers: the allocation is refreshed at lifetime - 60 s (half the lifetime when it is 2 minutes
 * or less), permissions every 4 minutes (they last 5, RFC 8656 §9), channel bindings every 9
 * minutes (they last 10, RFC 8656 §12); a failed permission or channel refresh is retried with a
 * back-off bounded by the binding's lifetime (upkeep.ts), and a channel that lapses anyway is no
 * longer used for ChannelData. All run on the injected Clock.
 */

export type { TurnTransport } from './client-socket.js';

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

export type TurnErrorKind =
  | 'auth' /* 401 after credentials, 441 */
  | 'quota' /* 486 */
  | 'mismatch' /* 437 */
  | 'timeout' /* no response: server unreachable */
  | 'connect' /* TCP/TLS/proxy connection failed or was lost */
  | 'rejected' /* any other error response */
  | 'protocol' /* malformed or missing attributes */
  | 'expired' /* a permission or channel binding lapsed after its refreshes failed (a warning) */
  | 'family' /* 440 Address Family not Supported, 443 Peer Address Family Mismatch */
  | 'aborted'
  | 'closed';

/** The server named in a 300 (Try Alternate) response: ALTERNATE-SERVER and, for TLS, ALTERNATE-DOMAIN (RFC 8489 §14.15, §14.16). */
export interface AlternateServer {
  address: string;
  port: number;
  domain?: string;
}

/** A TURN failure. The message is one line: "TURN server <label>: <operation> failed: <cause>". Never contains a password. */
export class TurnError extends Error {
  override readonly name = 'TurnError';
  /** The message without the "TURN server <label>: " prefix. */
  readonly detail: string;
  constructor(readonly kind: TurnErrorKind, readonly server: string, detail: string, readonly code?: number, readonly alternate?: AlternateServer) {
    super(scrub(`TURN server ${server}: ${detail}`).replace(/[\r\n]+/g, ' '));
    this.detail = scrub(detail).replace(/[\r\n]+/g, ' ');
  }
}

export interface TurnClientStats {
  requests: number;
  /** Responses dropped because MESSAGE-INTEGRITY or FINGERPRINT did not verify, or they did not decode. */
  droppedResponses: number;
  refreshes: number;
  permissions: number;
  channels: number;
  sendIndications: number;
  channelDataSent: number;
  dataIndications: number;
  channelDataReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Application packets dropped: queue overflow while a permission was pending, or the client not allocated. */
  droppedSends: number;
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

const MAX_QUEUED_PER_PEER = 32;
const MAX_STALE_NONCE_RETRIES = 3;
/** RFC 8656 §7.4 on 437: "The client SHOULD try three different client transport addresses before giving up on this server." */
const MAX_MISMATCH_RETRIES = 3;

/** Upkeep state of one binding (permission or channel), see upkeep.ts. */
interface Upkeep {
  /** When the server drops it unless refreshed (0: never installed). */
  expiresAt: number;
  /** Refresh, or retry of a failed refresh. */
  timer?: TimerHandle;
  /** Fires at expiresAt: the binding lapsed. */
  expiryTimer?: TimerHandle;
  /** Consecutive failed requests. */
  failures: number;
  /** No on-demand attempt (from send) before this time. */
  retryAt: number;
}

interface Permission extends Upkeep {
  installed: boolean;
  pending?: Promise<void>;
  queue: Array<{ data: Buffer; peer: TransportAddress }>;
}

interface Channel extends Upkeep {
  number: number;
  peer: TransportAddress;
  bound: boolean;
  pending?: Promise<number>;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** Reason phrase from a server, made safe for a one-line message. */
function phrase(text: string): string {
  return text.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 80);
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
  private realm: string | undefined;
  private nonce: Buffer | undefined;
  private key: Buffer | undefined;
  private readonly ours = new Set<string>();
  private relayed: TransportAddress | undefined;
  private mapped: TransportAddress | undefined;
  private lifetime = 0;
  private expiresAt = 0;
  private refreshTimer: TimerHandle | undefined;
  private readonly permissions = new Map<string, Permission>();
  private readonly channelsByPeer = new Map<string, Channel>();
  private readonly channelsByNumber = new Map<number, Channel>();
  private nextChannel = MIN_CHANNEL_NUMBER;
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
    redact(this.password);
    if (opts.proxy && opts.transport === 'udp') throw new TurnError('connect', this.label, 'an HTTP proxy needs transport tcp or tls');
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.log ?? silentLogger).child(`turn ${this.label}`);
    this.transactions = new StunTransactionManager(this.clock);
    this.socket = opts.socket;
    this.ownsSocket = opts.socket === undefined;
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
   * RFC 8656 §9.2 / §12.2: a server answers 443 when "the XOR-PEER-ADDRESS attribute contains an
   * address of an address family that is not the same as that of a relayed transport address for
   * the allocation"; the client does not send such a request. @throws TurnError kind 'family'.
   */
  private checkPeerFamily(what: string, peer: { address: string }): void {
    const family = familyOf(peer.address);
    if (family !== this.family) {
      throw new TurnError('family', this.label, `${what} ${peer.address}: an ${family} peer cannot be reached from the ${this.family} relayed address ${this.relayed ? formatAddress(this.relayed) : ''}`.trimEnd());
    }
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
      throw this.errorFor(what, error, sentCredentials, response);
    }
  }

  private setRealmNonce(realm: string, nonce: Buffer): void {
    if (realm !== this.realm || !this.key) this.key = longTermKey(this.username, realm, this.password);
    this.realm = realm;
    this.nonce = Buffer.from(nonce);
  }

  private errorFor(what: string, error: { code: number; reason: string }, sentCredentials: boolean, response: StunMessage): TurnError {
    const got = `${error.code}${error.reason ? ` ${phrase(error.reason)}` : ''}`;
    switch (error.code) {
      case 300: {
        // RFC 8489 §10 / §14.15: ALTERNATE-SERVER has the MAPPED-ADDRESS encoding (not XOR-ed).
        let alternate: AlternateServer | undefined;
        try {
          const a = response.getMappedAddress(StunAttr.ALTERNATE_SERVER);
          const domain = response.get(StunAttr.ALTERNATE_DOMAIN)?.toString('utf8');
          if (a) alternate = { address: a.address, port: a.port, domain: domain ? phrase(domain) : undefined };
        } catch {
          alternate = undefined;
        }
        return new TurnError('rejected', this.label, alternate
          ? `${what} failed: ${got} to ${formatAddress(alternate)}`
          : `${what} failed: ${got} without a usable ALTERNATE-SERVER`, 300, alternate);
      }
      case 401:
        return new TurnError('auth', this.label, sentCredentials
          ? `${what} failed: wrong credentials for user '${this.username}' (${got})`
          : `${what} failed: ${got} without a usable REALM/NONCE challenge`, 401);
      case 441:
        return new TurnError('auth', this.label, `${what} failed: wrong credentials for user '${this.username}' (${got})`, 441);
      case 486:
        return new TurnError('quota', this.label, `${what} failed: allocation quota reached for user '${this.username}' (${got})`, 486);
      case 437:
        return new TurnError('mismatch', this.label, `${what} failed: allocation mismatch (${got})`, 437);
      case 440:
        return new TurnError('family', this.label, `${what} failed: no ${this.family} relayed addresses on this server (${got})`, 440);
      case 443:
        return new TurnError('family', this.label, `${what} failed: the peer is not ${this.family === 'IPv6' ? 'an IPv6' : 'an IPv4'} address like the relayed address (${got})`, 443);
      default:
        return new TurnError('rejected', this.label, `${what} failed: ${got}`, error.code);
    }
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

  private permissionFor(address: string): Permission {
    let p = this.permissions.get(address);
    if (!p) {
      p = { installed: false, expiresAt: 0, failures: 0, retryAt: 0, queue: [] };
      this.permissions.set(address, p);
    }
    return p;
  }

  /**
   * Installs (or refreshes) a permission for the peer's IP address (RFC 8656 §9; the port is
   * ignored). Kept alive until close(): refreshed a minute before its 5 minutes run out, a failed
   * refresh retried with the back-off of upkeep.ts. @throws TurnError.
   */
  createPermission(peer: { address: string; port: number }): Promise<void> {
    this.requireAllocated('CreatePermission');
    try {
      this.checkPeerFamily('CreatePermission', peer);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.requestPermission(peer.address, this.permissionFor(peer.address));
  }

  private requestPermission(address: string, p: Permission): Promise<void> {
    if (p.pending) return p.pending;
    const sentAt = this.clock.now();
    const pending = this.request(StunMethod.CreatePermission, `CreatePermission ${address}`, (m) =>
      m.addXorAddress(StunAttr.XOR_PEER_ADDRESS, { address, port: 0 }))
      .then(
        () => {
          if (!p.installed) this.stats.permissions++;
          this.permissionInstalled(address, p, sentAt);
        },
        (e: unknown) => {
          this.permissionFailed(address, p);
          throw e;
        },
      )
      .finally(() => { p.pending = undefined; });
    p.pending = pending;
    return pending;
  }

  /** A CreatePermission or ChannelBind first sent at `sentAt` succeeded: the permission holds 5 minutes from then. */
  private permissionInstalled(address: string, p: Permission, sentAt: number): void {
    const first = !p.installed;
    p.installed = true;
    p.failures = 0;
    p.retryAt = 0;
    // The server started the lifetime when it got the request, no sooner than it was sent.
    p.expiresAt = Math.max(p.expiresAt, sentAt + PERMISSION_LIFETIME_MS);
    this.clock.clearTimer(p.timer);
    p.timer = this.clock.setTimer(refreshAt(sentAt, PERMISSION_LIFETIME_MS) - this.clock.now(), () => this.refreshPermission(address, p));
    this.clock.clearTimer(p.expiryTimer);
    p.expiryTimer = this.clock.setTimer(p.expiresAt - this.clock.now(), () => this.permissionExpired(address, p));
    if (first) this.safeEmit('permission', address);
    this.flush(p);
  }

  private refreshPermission(address: string, p: Permission): void {
    p.timer = undefined;
    if (this.state !== 'allocated') return;
    this.requestPermission(address, p).catch((e: unknown) => this.backgroundFailure(e));
  }

  /** Schedules the next attempt: a timed retry while the permission holds, on demand (send) once it has lapsed. */
  private permissionFailed(address: string, p: Permission): void {
    if (this.state !== 'allocated') return;
    p.failures++;
    const remaining = p.installed ? p.expiresAt - this.clock.now() : 0;
    const delay = retryDelay(PERMISSION_LIFETIME_MS, p.failures, remaining);
    p.retryAt = this.clock.now() + delay;
    if (p.installed && remaining > 0) {
      this.clock.clearTimer(p.timer);
      p.timer = this.clock.setTimer(delay, () => this.refreshPermission(address, p));
    }
  }

  /** RFC 8656 §9: the server dropped the permission; sends wait for a new one (created on the next send). */
  private permissionExpired(address: string, p: Permission): void {
    p.expiryTimer = undefined;
    if (this.state !== 'allocated' || !p.installed || this.clock.now() < p.expiresAt) return;
    p.installed = false;
    this.clock.clearTimer(p.timer);
    p.timer = undefined;
    this.warn(new TurnError('expired', this.label, `permission for ${address} lapsed after ${p.failures} failed refresh${p.failures === 1 ? '' : 'es'}`));
  }

  /**
   * Binds a channel to the peer (RFC 8656 §12.1), which also installs its permission; refreshed
   * a minute before its 10 minutes run out, a failed refresh retried with the back-off of
   * upkeep.ts. When the binding lapses anyway, ChannelData stops and Send indications take over
   * until a rebind (on the next send) succeeds. Resolves with the channel number
   * (0x4000..0x4FFF). @throws TurnError.
   */
  bindChannel(peer: { address: string; port: number }): Promise<number> {
    this.requireAllocated('ChannelBind');
    try {
      this.checkPeerFamily('ChannelBind', peer);
    } catch (e) {
      return Promise.reject(e);
    }
    const key = formatAddress(peer);
    let channel = this.channelsByPeer.get(key);
    if (!channel) {
      if (this.nextChannel > MAX_CHANNEL_NUMBER) return Promise.reject(new TurnError('rejected', this.label, 'ChannelBind failed: all channel numbers 0x4000..0x4FFF in use'));
      channel = { number: this.nextChannel++, peer: { address: peer.address, port: peer.port, family: familyOf(peer.address) }, bound: false, expiresAt: 0, failures: 0, retryAt: 0 };
      this.channelsByPeer.set(key, channel);
      this.channelsByNumber.set(channel.number, channel);
    }
    return this.requestChannel(channel);
  }

  private requestChannel(c: Channel): Promise<number> {
    if (c.pending) return c.pending;
    const key = formatAddress(c.peer);
    const sentAt = this.clock.now();
    // RFC 8656 §12: rebinding a lapsed channel to the same peer reuses its number (the 5-minute
    // wait applies only to binding the number or the peer to something else).
    const pending = this.request(StunMethod.ChannelBind, `ChannelBind 0x${c.number.toString(16)} to ${key}`, (m) => {
      m.add(StunAttr.CHANNEL_NUMBER, Buffer.from([c.number >> 8, c.number & 0xff, 0, 0]));
      m.addXorAddress(StunAttr.XOR_PEER_ADDRESS, c.peer);
    }).then(
      () => {
        this.channelBound(c, sentAt);
        return c.number;
      },
      (e: unknown) => {
        this.channelFailed(c);
        throw e;
      },
    ).finally(() => { c.pending = undefined; });
    c.pending = pending;
    return pending;
  }

  private channelBound(c: Channel, sentAt: number): void {
    const first = c.expiresAt === 0; // never bound before
    c.bound = true;
    c.failures = 0;
    c.retryAt = 0;
    c.expiresAt = Math.max(c.expiresAt, sentAt + CHANNEL_LIFETIME_MS);
    this.clock.clearTimer(c.timer);
    c.timer = this.clock.setTimer(refreshAt(sentAt, CHANNEL_LIFETIME_MS) - this.clock.now(), () => this.refreshChannel(c));
    this.clock.clearTimer(c.expiryTimer);
    c.expiryTimer = this.clock.setTimer(c.expiresAt - this.clock.now(), () => this.channelExpired(c));
    if (first) {
      this.stats.channels++;
      this.safeEmit('channel', c.number, c.peer);
    }
    // RFC 8656 §12.2: a successful ChannelBind installs or refreshes the permission too.
    const p = this.permissionFor(c.peer.address);
    if (!p.installed) this.stats.permissions++;
    this.permissionInstalled(c.peer.address, p, sentAt);
  }

  private refreshChannel(c: Channel): void {
    c.timer = undefined;
    if (this.state !== 'allocated') return;
    this.requestChannel(c).catch((e: unknown) => this.backgroundFailure(e));
  }

  private channelFailed(c: Channel): void {
    if (this.state !== 'allocated') return;
    c.failures++;
    const remaining = c.bound ? c.expiresAt - this.clock.now() : 0;
    const delay = retryDelay(CHANNEL_LIFETIME_MS, c.failures, remaining);
    c.retryAt = this.clock.now() + delay;
    if (c.bound && remaining > 0) {
      this.clock.clearTimer(c.timer);
      c.timer = this.clock.setTimer(delay, () => this.refreshChannel(c));
      return;
    }
    // Not bound: packets waiting for this bind go out as Send indications once a permission exists.
    const p = this.permissionFor(c.peer.address);
    if (!p.installed && p.queue.length > 0 && this.clock.now() >= p.retryAt) {
      this.requestPermission(c.peer.address, p).catch((e: unknown) => this.warn(e));
    }
  }

  /** RFC 8656 §12: "A channel binding lasts for 10 minutes unless refreshed": past that, no more ChannelData on it. */
  private channelExpired(c: Channel): void {
    c.expiryTimer = undefined;
    if (this.state !== 'allocated' || !c.bound || this.clock.now() < c.expiresAt) return;
    c.bound = false;
    this.clock.clearTimer(c.timer);
    c.timer = undefined;
    this.warn(new TurnError('expired', this.label, `channel 0x${c.number.toString(16)} to ${formatAddress(c.peer)} lapsed after ${c.failures} failed refresh${c.failures === 1 ? '' : 'es'}: using Send indications until it is bound again`));
  }

  /** A background refresh failed: 437 means the allocation itself is gone; anything else is a warning (the retry is scheduled). */
  private backgroundFailure(e: unknown): void {
    if (e instanceof TurnError && e.kind === 'mismatch') {
      this.allocationLost(e);
      return;
    }
    this.warn(e);
  }

  /**
   * Sends `data` to `peer` through the relay: as ChannelData while a channel is bound and its
   * permission holds, as a Send indication (RFC 8656 §11) while only the permission holds; before
   * that it is queued (up to 32 packets per peer address) while the permission is created. A
   * channel is bound on the first send (autoChannel) and bound again on a later send once a lapsed
   * binding's back-off has passed. Never throws: failures are counted in stats and reported as 'warning'.
   */
  send(data: Buffer, peer: { address: string; port: number }): void {
    const socket = this.socket;
    if (this.state !== 'allocated' || !socket) {
      this.stats.droppedSends++;
      return;
    }
    if (familyOf(peer.address) !== this.family) {
      // No permission can exist for it (443): dropped, like a datagram to an unreachable network.
      this.stats.droppedSends++;
      this.log.debug(`dropping a packet for ${formatAddress(peer)}: the relayed address is ${this.family}`);
      return;
    }
    const key = formatAddress(peer);
    const channel = this.channelsByPeer.get(key);
    const p = this.permissionFor(peer.address);
    if (channel?.bound && p.installed) {
      this.stats.channelDataSent++;
      this.stats.bytesSent += data.length;
      socket.send(encodeChannelData(channel.number, data, this.reliable), this.server);
      return;
    }
    const now = this.clock.now();
    if ((this.opts.autoChannel ?? true) && (!channel || (!channel.bound && !channel.pending && now >= channel.retryAt))) {
      this.bindChannel(peer).catch((e: unknown) => this.warn(e));
    }
    if (!p.installed) {
      if (p.queue.length >= MAX_QUEUED_PER_PEER) {
        p.queue.shift();
        this.stats.droppedSends++;
      }
      p.queue.push({ data, peer: { address: peer.address, port: peer.port, family: familyOf(peer.address) } });
      if (!p.pending && !this.channelsByPeer.get(key)?.pending && now >= p.retryAt) {
        this.requestPermission(peer.address, p).catch((e: unknown) => this.warn(e));
      }
      return;
    }
    const indication = new StunMessage({ method: StunMethod.Send, messageClass: 'indication' });
    indication.addXorAddress(StunAttr.XOR_PEER_ADDRESS, peer);
    indication.add(StunAttr.DATA, data);
    this.stats.sendIndications++;
    this.stats.bytesSent += data.length;
    socket.send(indication.encode(), this.server);
  }

  private flush(p: Permission): void {
    const queued = p.queue.splice(0);
    for (const q of queued) this.send(q.data, q.peer);
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
      const channel = this.channelsByNumber.get(decoded.channel);
      if (channel) {
        this.stats.channelDataReceived++;
        this.stats.bytesReceived += decoded.data.length;
        this.safeEmit('data', Buffer.from(decoded.data), channel.peer);
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
    for (const p of this.permissions.values()) {
      this.clock.clearTimer(p.timer);
      this.clock.clearTimer(p.expiryTimer);
      p.queue.length = 0;
    }
    for (const c of this.channelsByPeer.values()) {
      this.clock.clearTimer(c.timer);
      this.clock.clearTimer(c.expiryTimer);
    }
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
    this.transition('closed');
    if (wasAllocated) this.safeEmit('closed', reason);
  }
}
