import { promises as dns } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { randomBytes } from 'node:crypto';
import { EmitterImpl, TransportState } from 'sip.js';
import type { Core, Emitter, Transport, UserAgent, UserAgentOptions } from 'sip.js';
import { canonicalIp, isUnspecifiedIp, normalizeAddress, sameIp } from '../base/address.js';
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { StateError, errorMessage } from '../base/errors.js';
import { silentLogger, type Logger } from '../base/log.js';
import { familyOf, type TransportAddress } from '../net/socket.js';
import { UdpSocket } from '../net/udp.js';
import { TcpStreamEndpoint, type SipTlsOptions } from '../net/tcp-framing.js';
import { oversizeDatagramReason } from '../net/sip-size-limits.js';
import { RetransmissionLayer, type Peer, type RetransmissionTimers } from './retransmission.js';
import {
  bareHost, cseqMethod, getHeader, hostPort, parseUriTarget, parseWireMessage, replaceTopVia,
  serializeWireMessage, serializeWireMessageText, splitHeaderValues, topVia, canonicalName, type WireMessage,
} from './wire-message.js';

/**
 * SIP over UDP, TCP and TLS for sip.js (RFC 3261 §18, §26), which ships only a WebSocket transport.
 *
 * sip.js builds every message as if it went over WSS from a fake host: the Via sent-by and
 * the Contact host are `viaHost` (a random `*.invalid` name), without a port. This transport:
 *  - routes requests itself: top Route URI, else the Request-URI; host:port with default
 *    5060/5061, `maddr` honoured; names resolved with node:dns (A/AAAA via the OS resolver,
 *    no SRV/NAPTR yet);
 *  - rewrites the top Via of outgoing requests to the real transport and `host:port`, with
 *    `rport` (RFC 3581), and the Contact host to the real `host:port` (`;transport=tcp`
 *    comes from `contactParams`);
 *  - adds `received`/`rport` to the top Via of incoming requests (RFC 3261 §18.2.1,
 *    RFC 3581 §4) and routes responses by them (RFC 3261 §18.2.2, RFC 3581 §4); over TCP a
 *    response goes back on the connection its request came on;
 *  - checks the sent-by of incoming responses (§18.1.2) and restores sip.js's fake sent-by
 *    so its own check (`via.host === viaHost`, no port) passes;
 *  - frames TCP and TLS by Content-Length (`net/tcp-framing.ts`);
 *  - TLS (RFC 3261 §26.2): Via `SIP/2.0/TLS` with `alias` (RFC 5923 §5), Contact `;transport=tls`,
 *    or a `sips:` Contact in a dialog whose Request-URI is sips (RFC 5630 §3.3); a server's
 *    certificate must identify the target URI's host (RFC 5922 §7, `net/sip-tls-identity.ts`); a
 *    sips target over UDP/TCP is refused (RFC 5630 §3.1.3); default port 5061 for sips: and
 *    `transport=tls`; a peer's request with `alias` and a sent-by on the connection's own IP lets
 *    our later requests to that sent-by reuse the connection (RFC 5923, with the same-IP rule
 *    instead of its certificate check);
 *  - counts and drops malformed input, never throws on it;
 *  - over UDP runs the RFC 3261 timers sip.js lacks (`retransmission.ts`).
 */
export type SipProtocol = 'udp' | 'tcp' | 'tls';

export type SipTraceFn = (
  direction: 'send' | 'recv',
  text: string,
  peer: { address: string; port: number },
  protocol: SipProtocol,
) => void;

/** What `transportOptions` holds; built by `sipJsTransportOptions`. */
export interface SipTransportOptions {
  protocol: SipProtocol;
  listen: { address: string; port: number };
  /** The fake host sip.js writes in Via and Contact (must equal UserAgentOptions.viaHost). */
  viaHost: string;
  /** Address written in Via/Contact; default the listen address, or a local interface when listening on a wildcard. */
  advertisedAddress?: string;
  /** TLS only: certificate, key, trust anchors, verification (`net/tcp-framing.ts`). */
  tls?: SipTlsOptions;
  trace?: SipTraceFn;
  log?: Logger;
  clock?: Clock;
  timers?: Partial<RetransmissionTimers>;
  /**
   * Where a request really goes: called with the transport address its Route/Request-URI resolved
   * to; a result replaces it (the PBX gateway sends requests for a registered Contact over the flow
   * the REGISTER came from, RFC 5626 §5.3). Default: the resolved address.
   */
  redirect?: (target: Peer) => Peer | undefined;
  /** Called by the constructor with the new instance (how `port()` of sipJsTransportOptions finds it). */
  created?: (transport: SipTransport) => void;
}

export interface SipTransportStats {
  /** Well-formed messages received (including retransmissions the timer layer absorbed). */
  received: number;
  /** Messages put on the wire (including retransmissions). */
  sent: number;
  /** Garbage, bad start line, missing mandatory header, bad/short Content-Length, misrouted response. */
  malformedDropped: number;
  retransmissionsSent: number;
  retransmissionsAbsorbed: number;
  /** TLS: failed handshakes and refused server certificates. */
  tlsFailures: number;
}

/** sip.js's own logger type, as handed to `transportConstructor`. */
type SipJsLogger = Core.Logger;

export class SipTransport implements Transport {
  readonly protocol: 'UDP' | 'TCP' | 'TLS';
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;

  private _state: TransportState = TransportState.Disconnected;
  private readonly _stateChange = new EmitterImpl<TransportState>();
  private readonly options: SipTransportOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private udp: UdpSocket | undefined;
  private tcp: TcpStreamEndpoint | undefined;
  private retransmission: RetransmissionLayer | undefined;
  private advertisedHost = '';
  private counters = { received: 0, sent: 0, malformedDropped: 0 };
  /** TCP: branch of an incoming request → the connection (remote address) it came on. */
  private readonly tcpOrigins = new Map<string, { peer: Peer; expiry: TimerHandle }>();
  /** Call-IDs of dialogs whose Request-URI is sips: our Contact there is sips too (RFC 5630 §3.3). */
  private readonly sipsCallIds = new Set<string>();
  private readonly sendFailures = new Map<string, string>();

  constructor(sipJsLogger: SipJsLogger | undefined, options: SipTransportOptions) {
    if (!options || (options.protocol !== 'udp' && options.protocol !== 'tcp' && options.protocol !== 'tls') || !options.listen || !options.viaHost) {
      throw new StateError('SipTransport needs transportOptions from sipJsTransportOptions() (protocol, listen, viaHost)');
    }
    void sipJsLogger;
    this.options = options;
    this.protocol = options.protocol === 'tcp' ? 'TCP' : options.protocol === 'tls' ? 'TLS' : 'UDP';
    this.log = (options.log ?? silentLogger).child(`sip-${options.protocol}`);
    this.clock = options.clock ?? systemClock;
    options.created?.(this);
  }

  get state(): TransportState { return this._state; }
  get stateChange(): Emitter<TransportState> { return this._stateChange; }
  isConnected(): boolean { return this._state === TransportState.Connected; }

  /** The bound socket address (known once connected; port 0 was replaced by the real one). */
  get localAddress(): TransportAddress | undefined {
    return this.udp?.local ?? this.tcp?.local;
  }

  /** `host:port` written in Via sent-by and Contact. */
  get sentBy(): { host: string; port: number } | undefined {
    const local = this.localAddress;
    return local ? { host: this.advertisedHost, port: local.port } : undefined;
  }

  get stats(): SipTransportStats {
    return {
      ...this.counters,
      retransmissionsSent: this.retransmission?.stats.retransmissionsSent ?? 0,
      retransmissionsAbsorbed: this.retransmission?.stats.retransmissionsAbsorbed ?? 0,
      tlsFailures: this.tcp?.tlsFailures ?? 0,
    };
  }

  /**
   * Resolves once no 300-699 final response to an INVITE awaits its ACK (UDP: Timer G still
   * retransmitting it); bounded by Timer H (64·T1). At once over TCP, where nothing is retransmitted.
   */
  whenFinalResponsesAcknowledged(): Promise<void> {
    return this.retransmission?.whenFinalsAcknowledged() ?? Promise.resolve();
  }

  private transition(to: TransportState, error?: Error): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    this._stateChange.emit(to);
    if (to === TransportState.Connected) this.onConnect?.();
    if (from === TransportState.Connected) this.onDisconnect?.(error);
  }

  async connect(): Promise<void> {
    if (this._state === TransportState.Connected || this._state === TransportState.Connecting) {
      if (this._state === TransportState.Connected) return;
      await new Promise<void>((resolve, reject) => {
        const listener = (s: TransportState) => {
          if (s === TransportState.Connected) { this._stateChange.off(listener); resolve(); }
          if (s === TransportState.Disconnected) { this._stateChange.off(listener); reject(new Error('transport failed to connect')); }
        };
        this._stateChange.on(listener);
      });
      return;
    }
    this.transition(TransportState.Connecting);
    const { address, port } = this.options.listen;
    try {
      if (this.options.protocol === 'udp') {
        const udp = await UdpSocket.bind(address, port, this.log);
        udp.onPacket((data, from) => this.receive(data, from));
        this.udp = udp;
        this.retransmission = new RetransmissionLayer({
          clock: this.clock,
          timers: this.options.timers,
          log: this.log,
          send: (wire, to) => this.putOnWire(wire, to),
        });
      } else {
        const tcp = await TcpStreamEndpoint.listen(address, port, this.log, this.options.protocol === 'tls' ? this.options.tls ?? {} : undefined);
        tcp.onMessage((data, from) => this.receive(data, from));
        tcp.onFramingError((reason, from) => {
          this.counters.malformedDropped++;
          this.log.debug(`dropped ${this.options.protocol.toUpperCase()} stream from ${hostPort(from.address, from.port)}: ${reason}`);
        });
        this.tcp = tcp;
      }
    } catch (e) {
      this.transition(TransportState.Disconnected);
      throw new Error(`cannot listen on ${this.options.protocol} ${hostPort(address, port)}: ${errorMessage(e)}`);
    }
    this.advertisedHost = this.pickAdvertisedHost();
    this.log.debug(`listening on ${this.options.protocol} ${hostPort(this.localAddress!.address, this.localAddress!.port)}, sent-by ${hostPort(this.advertisedHost, this.localAddress!.port)}`);
    if ((this._state as TransportState) !== TransportState.Connecting) {
      // disconnect() raced with us: give the sockets back.
      await this.closeSockets();
      throw new Error('transport disconnected while connecting');
    }
    this.transition(TransportState.Connected);
  }

  private pickAdvertisedHost(): string {
    if (this.options.advertisedAddress) return normalizeAddress(this.options.advertisedAddress);
    const bound = this.localAddress!.address;
    if (!isUnspecifiedIp(bound)) return bound;
    const family = familyOf(bound);
    for (const list of Object.values(networkInterfaces())) {
      for (const i of list ?? []) {
        if (!i.internal && i.family === family && !i.address.startsWith('fe80')) return i.address;
      }
    }
    return family === 'IPv6' ? '::1' : '127.0.0.1';
  }

  async disconnect(): Promise<void> {
    if (this._state === TransportState.Disconnected || this._state === TransportState.Disconnecting) return;
    this.transition(TransportState.Disconnecting);
    await this.closeSockets();
    this.transition(TransportState.Disconnected);
  }

  async dispose(): Promise<void> {
    await this.disconnect();
  }

  private async closeSockets(): Promise<void> {
    this.retransmission?.close();
    for (const o of this.tcpOrigins.values()) this.clock.clearTimer(o.expiry);
    this.tcpOrigins.clear();
    this.sipsCallIds.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([udp?.close(), tcp?.close()]);
  }

  // ------------------------------------------------------------------ sending

  async send(message: string): Promise<void> {
    if (this._state !== TransportState.Connected) throw new Error(`transport is ${this._state}, cannot send`);
    let msg: WireMessage;
    try {
      msg = parseWireMessage(Buffer.from(message, 'utf8'));
    } catch (e) {
      throw new Error(`sip.js produced a message we cannot parse: ${errorMessage(e)}`);
    }
    const local = this.localAddress!;
    const sentBy = hostPort(this.advertisedHost, local.port);
    if (msg.kind === 'request' && /^sips:/i.test(msg.requestUri)) this.rememberSips(getHeader(msg, 'call-id'));
    this.rewriteContact(msg, sentBy);
    let to: Peer;
    let serverName: string | undefined;
    if (msg.kind === 'request') {
      const via = topVia(msg);
      via.transport = this.protocol;
      via.host = isIPv6(this.advertisedHost) ? `[${this.advertisedHost}]` : this.advertisedHost;
      via.port = local.port;
      if (!via.params.has('rport')) via.params.set('rport', undefined);
      if (this.protocol === 'TLS' && !via.params.has('alias')) via.params.set('alias', undefined);
      replaceTopVia(msg, via);
      let target: { peer: Peer; host: string };
      try {
        target = await this.requestTarget(msg);
      } catch (e) {
        this.rememberSendFailure(getHeader(msg, 'call-id'), errorMessage(e));
        throw e;
      }
      to = target.peer;
      serverName = target.host;
    } else {
      to = await this.responseTarget(msg);
    }
    const wire = serializeWireMessage(msg);
    if (this.tcp) {
      this.counters.sent++;
      this.options.trace?.('send', wire.toString('utf8'), to, this.options.protocol);
      try {
        await this.tcp.send(wire, to, serverName);
      } catch (e) {
        this.rememberSendFailure(getHeader(msg, 'call-id'), errorMessage(e));
        throw e;
      }
      return;
    }
    this.putOnWire(wire, to);
    const branch = topVia(msg).params.get('branch') ?? '';
    if (msg.kind === 'request') this.retransmission?.requestSent(msg.method, branch, wire, to);
    else this.retransmission?.responseSent(cseqMethod(msg), branch, msg.status, wire, to);
  }

  /**
   * A CRLFCRLF keep-alive datagram to `to` from our SIP socket (RFC 5626 §3.5.1 "ping"; UDP only,
   * a no-op on TCP/TLS or before start): keeps the NAT mapping of a registered flow open.
   */
  sendKeepAlive(to: Peer): void {
    if (this._state !== TransportState.Connected || !this.udp) return;
    this.putOnWire(Buffer.from('\r\n\r\n', 'latin1'), to);
  }

  /** UDP send of bytes already rewritten (first sends and retransmissions). */
  private putOnWire(wire: Buffer, to: Peer): void {
    if (!this.udp) return;
    this.counters.sent++;
    this.options.trace?.('send', wire.toString('utf8'), to, 'udp');
    this.udp.send(wire, to);
  }

  /** Contact: sip.js writes `sip:user@viaHost;params`; put our real host:port there. */
  private rewriteContact(msg: WireMessage, sentBy: string): void {
    const fake = this.options.viaHost;
    const sips = this.protocol === 'TLS' && this.sipsCallIds.has(getHeader(msg, 'call-id') ?? '');
    for (const h of msg.headers) {
      if (canonicalName(h.name) !== 'contact' || !h.value.includes(fake)) continue;
      h.value = h.value.split(fake).join(sentBy);
      // RFC 5630 §3.3 / §3.1.3: in a sips dialog our Contact is sips (no transport=tls, deprecated there).
      if (sips) h.value = h.value.replace(/<sip:([^>]*)>/i, (_all, rest: string) => `<sips:${rest.replace(/;transport=tls(?=;|$)/i, '')}>`);
    }
  }

  /**
   * Why the last message of this Call-ID could not be sent (connection refused, TLS handshake or
   * certificate refused), for the one-line reason of a call sip.js fails with its internal 503.
   */
  sendFailure(callId: string): string | undefined {
    return this.sendFailures.get(callId);
  }

  private rememberSendFailure(callId: string | undefined, reason: string): void {
    if (!callId) return;
    if (this.sendFailures.size >= 256) this.sendFailures.delete(this.sendFailures.keys().next().value as string);
    this.sendFailures.set(callId, reason);
  }

  /** Marks a dialog (Call-ID) as sips; bounded so that a flood of Call-IDs cannot grow it without end. */
  private rememberSips(callId: string | undefined): void {
    if (!callId || this.sipsCallIds.has(callId)) return;
    if (this.sipsCallIds.size >= 4096) this.sipsCallIds.delete(this.sipsCallIds.values().next().value as string);
    this.sipsCallIds.add(callId);
  }

  /**
   * RFC 3261 §8.1.2 / §18.1.1: top Route if any, else the Request-URI; RFC 3263 A/AAAA only;
   * port default 5061 for sips: or `transport=tls`, else 5060. `host` is what a TLS server's
   * certificate must identify (RFC 5922 §7.2: the URI's host).
   * @throws Error for a sips target when this transport is not TLS (RFC 5630 §3.1.3).
   */
  private async requestTarget(msg: WireMessage): Promise<{ peer: Peer; host: string }> {
    const route = getHeader(msg, 'route');
    const uri = route ? splitHeaderValues(route)[0]! : msg.requestUri;
    const target = parseUriTarget(uri);
    const secure = target.scheme === 'sips' || target.params.get('transport')?.toLowerCase() === 'tls';
    if (target.scheme === 'sips' && this.protocol !== 'TLS') throw new Error(`a sips: target needs TLS (RFC 5630), this transport is ${this.protocol}: ${uri}`);
    const host = bareHost(target.params.get('maddr') ?? target.host);
    const port = target.port ?? (secure ? 5061 : 5060);
    const peer = { address: await this.resolve(host), port };
    // RFC 5922 §7.2: the identity is the URI's host even when maddr says where to connect.
    return { peer: this.options.redirect?.(peer) ?? peer, host: bareHost(target.host) };
  }

  /** RFC 3261 §18.2.2 with RFC 3581 §4: received/rport, else sent-by; TCP: the request's connection. */
  private async responseTarget(msg: WireMessage): Promise<Peer> {
    const via = topVia(msg);
    const branch = via.params.get('branch') ?? '';
    if (this.tcp) {
      const origin = this.tcpOrigins.get(branch);
      if (origin && this.tcp.hasConnection(origin.peer)) return origin.peer;
    }
    const received = via.params.get('received');
    const rport = via.params.get('rport');
    const address = received ? normalizeAddress(bareHost(received)) : await this.resolve(bareHost(via.host));
    const port = rport && /^\d{1,5}$/.test(rport) ? Number(rport) : via.port ?? (this.protocol === 'TLS' ? 5061 : 5060);
    return { address, port };
  }

  /** An IP literal in canonical form (base/address.ts), or a name resolved with A/AAAA. */
  private async resolve(host: string): Promise<string> {
    if (isIP(host)) return canonicalIp(host);
    const v6 = familyOf(this.localAddress!.address) === 'IPv6';
    if (host.toLowerCase() === 'localhost') return v6 ? '::1' : '127.0.0.1';
    const r = await dns.lookup(host, { family: v6 ? 6 : 4 });
    return r.address;
  }

  // ------------------------------------------------------------------ receiving

  private receive(data: Buffer, from: TransportAddress): void {
    if (this._state !== TransportState.Connected) return;
    const protocol: SipProtocol = this.options.protocol;
    if (/^[\r\n\t ]*$/.test(data.toString('latin1'))) return; // CRLF keep-alive
    const oversize = oversizeDatagramReason(data, protocol);
    if (oversize) {
      this.counters.malformedDropped++;
      this.log.debug(`dropped SIP from ${hostPort(from.address, from.port)} unparsed: ${oversize}`);
      return;
    }
    let msg: WireMessage;
    try {
      msg = parseWireMessage(data, protocol !== 'udp');
    } catch (e) {
      this.counters.malformedDropped++;
      this.log.debug(`dropped malformed ${data.length}-byte message from ${hostPort(from.address, from.port)}: ${errorMessage(e)}`);
      return;
    }
    this.counters.received++;
    this.options.trace?.('recv', data.toString('utf8'), from, protocol);
    try {
      if (msg.kind === 'request') this.receiveRequest(msg, from);
      else this.receiveResponse(msg, from);
    } catch (e) {
      this.counters.malformedDropped++;
      this.log.debug(`dropped message from ${hostPort(from.address, from.port)}: ${errorMessage(e)}`);
    }
  }

  private receiveRequest(msg: WireMessage, from: TransportAddress): void {
    const via = topVia(msg);
    // RFC 3581 §4: with rport, set it to the source port and add received "even if it is
    // identical to the value of the sent-by component". RFC 3261 §18.2.1: otherwise add
    // received when the sent-by host differs from the source address.
    if (via.params.has('rport')) {
      via.params.set('received', from.address);
      via.params.set('rport', String(from.port));
    } else if (!sameIp(bareHost(via.host), from.address)) {
      via.params.set('received', from.address);
    }
    replaceTopVia(msg, via);
    const branch = via.params.get('branch') ?? '';
    if (this.tcp) this.rememberTcpOrigin(branch, from);
    if (this.tcp?.secure) {
      if (/^sips:/i.test(msg.requestUri)) {
        this.rememberSips(getHeader(msg, 'call-id'));
        // sip.js 0.21.2 answers 416 to any scheme but sip (user-agent-core.js, §8.2.2.1). The
        // request did come over TLS, which is what sips asks of the last hop (RFC 5630 §3.1.3);
        // the dialog stays sips through sipsCallIds (our Contact).
        msg.requestUri = `sip:${msg.requestUri.slice(5)}`;
      }
      // RFC 5923 §5-6: the peer offers this connection for requests to its sent-by. We accept it
      // only for a sent-by on the connection's own IP (RFC 5923 asks for a certificate check instead).
      const sentByHost = bareHost(via.host);
      if (via.params.has('alias') && isIP(sentByHost) && sameIp(sentByHost, from.address)) {
        this.tcp.alias({ address: from.address, port: via.port ?? 5061 }, from);
      }
    }
    if (this.retransmission?.requestReceived(msg.method, branch) === 'absorb') return;
    this.deliver(msg);
  }

  private receiveResponse(msg: WireMessage, from: TransportAddress): void {
    const via = topVia(msg);
    const local = this.localAddress!;
    // RFC 3261 §18.1.2: "If the value of the sent-by parameter in that header field value
    // does not correspond to a value that the client transport is configured to insert
    // into requests, the response MUST be silently discarded."
    if (!sameIp(bareHost(via.host), this.advertisedHost) || (via.port ?? 5060) !== local.port) {
      throw new Error(`response ${msg.status} from ${hostPort(from.address, from.port)} has sent-by ${via.host}:${via.port ?? ''}, not ours`);
    }
    const branch = via.params.get('branch') ?? '';
    if (this.retransmission?.responseReceived(cseqMethod(msg), branch, msg.status) === 'absorb') return;
    // sip.js drops a response unless the Via host is its viaHost with no port.
    via.host = this.options.viaHost;
    delete via.port;
    replaceTopVia(msg, via);
    if (cseqMethod(msg) === 'REGISTER') this.unrewriteContacts(msg, hostPort(this.advertisedHost, local.port));
    this.deliver(msg);
  }

  /**
   * A registrar's 2xx lists the bindings it holds (RFC 3261 §10.3 step 8), ours as we sent it:
   * with our real host:port, which `rewriteContact` put in place of sip.js's viaHost. sip.js's
   * Registerer looks for its own contact URI among them, so map ours back.
   */
  private unrewriteContacts(msg: WireMessage, sentBy: string): void {
    const sips = this.protocol === 'TLS' && this.sipsCallIds.has(getHeader(msg, 'call-id') ?? '');
    for (const h of msg.headers) {
      if (canonicalName(h.name) !== 'contact' || !h.value.includes(`@${sentBy}`)) continue;
      // Undo rewriteContact's sips form too: sip.js compares scheme and transport (RFC 3261 §19.1.4).
      if (sips) {
        h.value = h.value.replace(/<sips:([^>@]*)@([^;>]*)([^>]*)>/gi, (all, user: string, host: string, rest: string) =>
          host === sentBy ? `<sip:${user}@${host};transport=tls${rest}>` : all);
      }
      h.value = h.value.split(`@${sentBy}`).join(`@${this.options.viaHost}`);
    }
  }

  private deliver(msg: WireMessage): void {
    try {
      this.onMessage?.(serializeWireMessageText(msg));
    } catch (e) {
      this.log.warn(`sip.js threw handling ${msg.kind === 'request' ? msg.method : msg.status}: ${errorMessage(e)}`);
    }
  }

  private rememberTcpOrigin(branch: string, from: TransportAddress): void {
    const old = this.tcpOrigins.get(branch);
    if (old) this.clock.clearTimer(old.expiry);
    const expiry = this.clock.setTimer(64 * 500 + 5000, () => this.tcpOrigins.delete(branch));
    this.tcpOrigins.set(branch, { peer: { address: from.address, port: from.port }, expiry });
  }
}

/** Options for `sipJsTransportOptions`. */
export interface SipJsTransportConfig {
  protocol: SipProtocol;
  listen: { address: string; port: number };
  /** TLS only: certificate, key, trust anchors, verification. */
  tls?: SipTlsOptions;
  trace?: SipTraceFn;
  log?: Logger;
  clock?: Clock;
  /** Host for Via/Contact when it must differ from the listen address (e.g. listening on 0.0.0.0). */
  advertisedAddress?: string;
  /** User part of the Contact URI (sip.js picks a random one otherwise). */
  contactName?: string;
  timers?: Partial<RetransmissionTimers>;
  /** See SipTransportOptions.redirect. */
  redirect?: (target: Peer) => Peer | undefined;
}

/**
 * Everything sip.js needs to run over our UDP/TCP/TLS transport:
 * `new UserAgent({ uri, ...sipJsTransportOptions({...}), sessionDescriptionHandlerFactory })`.
 * After `await userAgent.start()`, `.port()` (or `transportOf(userAgent).localAddress`) has the
 * bound port. Strip `port` and `getTransport` before spreading if you want sip.js's options pure
 * (they are harmless to sip.js: it ignores unknown options).
 * sip.js's own console logging is turned off and bridged to `log` (stdout stays clean for --json).
 */
export type SipJsTransportOptions = Partial<UserAgentOptions> & {
  /** The bound port once `userAgent.start()` resolved. @throws StateError before. */
  port(): number;
  /** The transport sip.js constructed from these options (undefined until `new UserAgent`). */
  getTransport(): SipTransport | undefined;
};

export function sipJsTransportOptions(config: SipJsTransportConfig): SipJsTransportOptions {
  let instance: SipTransport | undefined;
  const viaHost = `icephone-${randomBytes(6).toString('hex')}.invalid`;
  const transportOptions: SipTransportOptions = {
    protocol: config.protocol,
    listen: { ...config.listen },
    viaHost,
    advertisedAddress: config.advertisedAddress,
    tls: config.tls,
    trace: config.trace,
    log: config.log,
    clock: config.clock,
    timers: config.timers,
    ...(config.redirect ? { redirect: config.redirect } : {}),
    created: (t) => { instance = t; },
  };
  const log = (config.log ?? silentLogger).child('sip.js');
  const options: SipJsTransportOptions = {
    port: () => {
      const a = instance?.localAddress;
      if (!a) throw new StateError('SIP transport not listening yet: await userAgent.start() first');
      return a.port;
    },
    getTransport: () => instance,
    transportConstructor: SipTransport,
    transportOptions,
    viaHost,
    contactParams: config.protocol === 'udp' ? {} : { transport: config.protocol },
    hackIpInContact: false,
    hackViaTcp: false,
    forceRport: true,
    logBuiltinEnabled: false,
    logConfiguration: false,
    logLevel: 'debug',
    logConnector: (level, category, label, content) => {
      const line = `${category}${label ? `[${label}]` : ''}: ${content}`;
      if (level === 'error') log.error(line);
      else if (level === 'warn') log.warn(line);
      else log.trace(line);
    },
  };
  if (config.contactName) options.contactName = config.contactName;
  return options;
}

/** The SipTransport under a UserAgent built with `sipJsTransportOptions`. @throws StateError otherwise. */
export function transportOf(userAgent: UserAgent): SipTransport {
  const t = userAgent.transport;
  if (!(t instanceof SipTransport)) throw new StateError('user agent was not built with sipJsTransportOptions()');
  return t;
}

/** The bound address of a started UserAgent's transport. @throws StateError before `start()` resolved. */
export function boundAddress(userAgent: UserAgent): TransportAddress {
  const a = transportOf(userAgent).localAddress;
  if (!a) throw new StateError('transport not connected: call userAgent.start() first');
  return a;
}
