import type { Clock } from '../base/clock.js';
import type { Logger } from '../base/log.js';
import { PacketDemux } from '../net/demux.js';
import { UdpSocket } from '../net/udp.js';
import { errorMessage } from '../base/errors.js';
import { formatAddress, sameAddress, type AddressFamily, type PacketSocket, type TransportAddress } from '../net/socket.js';
import { StunMessage } from '../stun/message.js';
import type { StunTransactionManager } from '../stun/transaction.js';
import type { TurnClient } from '../turn/client.js';
import { computePriority, describeCandidate, type Candidate } from './candidate.js';
import { FoundationRegistry, gatherHostCandidates, gatherServerReflexive, type IceServer, type LocalBase } from './gatherer.js';
import { allocateRelay, type RelayResult, type TurnServer } from './relay.js';

/**
 * The local bases of one ICE agent (RFC 8445 §5.1.1): the sockets that host and relayed
 * candidates are bound to, the RFC 7983 demultiplexing of what arrives on them (STUN to the
 * agent, RTP/RTCP to the media path), TURN allocations sharing a host socket with checks and
 * media, and the candidates derived from them (server-reflexive through STUN servers, relayed
 * through TURN). Both the RFC 8445 agent and the draft's `a=alt` engine use one set of bases.
 */
export interface LocalBasesOptions {
  /** Component count (1 with rtcp-mux, 2 without). */
  components: number;
  /** Host candidates only on these IPs; default every usable interface (lib/net/interfaces.ts). */
  addresses?: string[];
  includeLoopback?: boolean;
  stunServers?: IceServer[];
  turnServers?: TurnServer[];
  /** Time one TURN server may take before the next is tried, ms. */
  turnTimeoutMs?: number;
  /**
   * Families of relayed candidates to allocate, one allocation each per component (RFC 8656
   * §7.1, REQUESTED-ADDRESS-FAMILY for IPv6, RFC 6156). Default ['IPv4'].
   */
  turnFamilies?: AddressFamily[];
  /** Socket factory (tests); default UdpSocket.bind(address, 0). */
  bindSocket?: (address: string) => Promise<PacketSocket>;
  /** Answers to the server-reflexive Binding requests are matched here. */
  transactions: StunTransactionManager;
  foundations: FoundationRegistry;
  clock: Clock;
  log: Logger;
}

/** See `SharedBases.interceptStun`: `base` is the host or relayed candidate whose socket received `msg`. */
export type StunInterceptor = (base: Candidate, msg: StunMessage, from: TransportAddress) => boolean;

/**
 * The local bases as another connectivity engine sees them (the draft's `a=alt` engine,
 * lib/ice/alt-agent.ts): it shares the sockets the RFC 8445 agent gathered, answers and sends
 * STUN on them, and says where media goes, without running RFC 8445 checks.
 */
export interface SharedBases {
  /** The gathered candidates (host, server-reflexive, relayed) as signalled. */
  readonly localCandidates: readonly Candidate[];
  /** The candidates that own a socket: host and relayed (not srflx/prflx). */
  baseCandidates(): Candidate[];
  /**
   * Every decoded STUN message on every base goes to `handler` first; when it returns true nothing
   * else sees it. TURN traffic on a shared host socket never reaches it. `undefined` removes it.
   */
  interceptStun(handler: StunInterceptor | undefined): void;
  /** Sends one datagram from a local candidate's base. @returns false when it has no open socket. */
  sendFrom(local: Candidate, data: Buffer, to: { address: string; port: number }): boolean;
  /** Where the media of `component` goes (the chosen alternate and the candidate to send from); `undefined` restores RFC 8445. */
  setMediaPath(component: number, path: { base: Candidate; remote: { address: string; port: number } } | undefined): void;
  /**
   * Media of `component` may also come from `address` while a media path is set: a peer address
   * that passed the draft's connectivity checks (an alternate we reached, or the source of an
   * authenticated check we answered). Cleared with the component's media path.
   */
  trustMediaFrom(component: number, address: { address: string; port: number }): void;
  /** Frees a relayed candidate (TURN Refresh with LIFETIME 0) and withdraws it. @returns false when not a live relayed candidate. */
  releaseRelay(relay: Candidate): Promise<boolean>;
}

/** Where the bases deliver what they receive and find. */
export interface LocalBasesHandlers {
  /** A decoded STUN message arrived on `base` (and no interceptor took it). */
  stun(base: LocalBase, msg: StunMessage, from: TransportAddress): void;
  /** An RTP or RTCP datagram arrived on a base of `component`. */
  data(component: number, data: Buffer, from: TransportAddress, base: LocalBase): void;
  /** A datagram that is neither (counted by the agent). */
  malformed(base: LocalBase, from: TransportAddress, reason: string): void;
  /** A new local candidate (host, server-reflexive or relayed), in the order found. */
  candidate(candidate: Candidate): void;
  /** A component's TURN allocation finished (allocated, or every server failed). */
  relay(result: RelayResult): void;
  /**
   * The host sockets are bound and their candidates delivered; server-reflexive and relayed
   * candidates may still come (trickle ICE, RFC 8838 §5: an offer can be sent now).
   */
  hostsReady?(): void;
}

export class LocalBases {
  /** Every base: host sockets and relayed allocations. */
  bases: LocalBase[] = [];
  /** The relayed ones among `bases`. */
  relayBases: LocalBase[] = [];
  private readonly turnOnHost = new Map<PacketSocket, Set<TurnClient>>();
  private closed = false;
  private interceptor?: StunInterceptor;

  constructor(private readonly opts: LocalBasesOptions, private readonly handlers: LocalBasesHandlers) {}

  /**
   * Binds the host sockets (one per component per address), then gathers server-reflexive and
   * relayed candidates. Resolves when every STUN and TURN server has answered or timed out.
   * @throws Error when no host socket could be bound.
   */
  async gather(components: number): Promise<void> {
    const hosts = await gatherHostCandidates({
      components,
      addresses: this.opts.addresses,
      includeLoopback: this.opts.includeLoopback,
      foundations: this.opts.foundations,
      log: this.opts.log,
      bind: this.opts.bindSocket,
    });
    if (this.closed) {
      await Promise.all(hosts.map((b) => b.socket.close()));
      return;
    }
    this.bases = hosts;
    for (const base of hosts) {
      const demux = this.demuxFor(base);
      base.socket.onPacket((data, from) => {
        // Packets from a TURN server whose allocation shares this socket go to its client first.
        const clients = this.turnOnHost.get(base.socket);
        if (clients) for (const client of clients) if (client.handlePacket(data, from)) return;
        demux.handle(data, from);
      });
      this.handlers.candidate(base.candidate);
    }
    this.handlers.hostsReady?.();
    const jobs: Promise<unknown>[] = [];
    if (this.opts.stunServers?.length) {
      jobs.push(gatherServerReflexive(hosts, {
        servers: this.opts.stunServers,
        transactions: this.opts.transactions,
        foundations: this.opts.foundations,
        log: this.opts.log,
        onCandidate: (c) => { if (!this.closed) this.handlers.candidate(c); },
      }));
    }
    if (this.opts.turnServers?.length) {
      for (let component = 1; component <= components; component++) {
        const host = hosts.find((b) => b.candidate.component === component && b.socket.local.family === 'IPv4') ?? hosts.find((b) => b.candidate.component === component);
        if (host) for (const family of this.opts.turnFamilies ?? ['IPv4']) jobs.push(this.gatherRelay(component, host, family));
      }
    }
    await Promise.all(jobs);
  }

  /**
   * A local address that appeared after gathering (an interface added mid-call): one host socket
   * per component on it, delivered as new candidates (trickled by the agent, RFC 8838 §10).
   * @returns the new bases (none when `address` already has bases or nothing could be bound)
   */
  async addHost(address: string, components: number, localPreference: number): Promise<LocalBase[]> {
    if (this.closed || this.bases.some((b) => b.candidate.type === 'host' && sameAddress(b.candidate, { address, port: b.candidate.port }))) return [];
    const added: LocalBase[] = [];
    for (let component = 1; component <= components; component++) {
      let socket: PacketSocket;
      try {
        socket = this.opts.bindSocket ? await this.opts.bindSocket(address) : await UdpSocket.bind(address, 0, this.opts.log);
      } catch (e) {
        this.opts.log.warn(`cannot bind UDP on new address ${address} for component ${component}: ${errorMessage(e)}`);
        continue;
      }
      if (this.closed) {
        await socket.close();
        return [];
      }
      const candidate: Candidate = {
        foundation: this.opts.foundations.get('host', socket.local.address),
        component,
        transport: 'udp',
        priority: computePriority('host', localPreference, component),
        address: socket.local.address,
        port: socket.local.port,
        type: 'host',
      };
      const base: LocalBase = { socket, candidate, localPreference };
      const demux = this.demuxFor(base);
      socket.onPacket((data, from) => demux.handle(data, from));
      this.bases.push(base);
      added.push(base);
      this.handlers.candidate(candidate);
    }
    return added;
  }

  /** See `SharedBases.interceptStun`. */
  interceptStun(handler: StunInterceptor | undefined): void {
    this.interceptor = handler;
  }

  private onStun(base: LocalBase, data: Buffer, from: TransportAddress): void {
    let msg: StunMessage;
    try {
      msg = StunMessage.decode(data);
    } catch (e) {
      this.handlers.malformed(base, from, `malformed STUN: ${errorMessage(e)}`);
      return;
    }
    if (this.interceptor?.(base.candidate, msg, from)) return;
    this.handlers.stun(base, msg, from);
  }

  private demuxFor(base: LocalBase): PacketDemux {
    return new PacketDemux(
      {
        stun: (data, from) => this.onStun(base, data, from),
        rtp: (data, from) => this.handlers.data(base.candidate.component, data, from, base),
      },
      (_data, from, reason) => this.handlers.malformed(base, from, reason),
    );
  }

  /** One relayed candidate for a component (RFC 8445 §5.1.1.2), its base the allocation itself. */
  private async gatherRelay(component: number, host: LocalBase, family: AddressFamily): Promise<void> {
    const { socket, result } = await allocateRelay({
      component,
      family,
      // A server the host socket cannot share (other family, 437 retry) gets a socket of its own
      // from the same factory, so tests stay on the in-memory network and the ManualClock.
      bindSocket: this.opts.bindSocket,
      servers: this.opts.turnServers!,
      hostSocket: host.socket,
      attachToHost: (client) => {
        let set = this.turnOnHost.get(host.socket);
        if (!set) this.turnOnHost.set(host.socket, (set = new Set()));
        set.add(client);
      },
      detachFromHost: (client) => this.turnOnHost.get(host.socket)?.delete(client),
      perServerTimeoutMs: this.opts.turnTimeoutMs,
      clock: this.opts.clock,
      log: this.opts.log,
    });
    for (const f of result.failures) this.opts.log.debug(f.error);
    if (!this.closed) this.handlers.relay(result);
    if (!socket) return;
    if (this.closed) {
      await socket.close();
      return;
    }
    const mapped = socket.client.mappedAddress;
    const candidate: Candidate = {
      foundation: this.opts.foundations.get('relay', socket.local.address, socket.client.server.address),
      component,
      transport: 'udp',
      priority: computePriority('relay', host.localPreference, component),
      address: socket.local.address,
      port: socket.local.port,
      type: 'relay',
      relatedAddress: mapped?.address ?? host.candidate.address,
      relatedPort: mapped?.port ?? host.candidate.port,
    };
    const base: LocalBase = { socket, candidate, localPreference: host.localPreference };
    const demux = this.demuxFor(base);
    socket.onPacket((data, from) => demux.handle(data, from));
    this.relayBases.push(base);
    this.bases.push(base);
    this.handlers.candidate(candidate);
  }

  /**
   * The base of a local candidate (RFC 8445 §5.1.1.3): a host or relayed candidate is its own
   * base; a server- or peer-reflexive one's base is the host whose address is its related address.
   */
  baseOf(c: Candidate): LocalBase | undefined {
    if (c.type === 'relay') return this.relayBases.find((b) => b.candidate.component === c.component && sameAddress(b.candidate, c));
    if (c.type === 'host') return this.bases.find((b) => b.candidate.type === 'host' && b.candidate.component === c.component && sameAddress(b.candidate, c));
    if (c.relatedAddress === undefined || c.relatedPort === undefined) return undefined;
    const related = { address: c.relatedAddress, port: c.relatedPort };
    return this.bases.find((b) => b.candidate.component === c.component && sameAddress(b.candidate, related));
  }

  /**
   * Sends one datagram from a local candidate's base.
   * @returns false when that candidate has no open socket.
   */
  sendFrom(local: Candidate, data: Buffer, to: { address: string; port: number }): boolean {
    const base = this.baseOf(local);
    if (!base || base.socket.closed) return false;
    base.socket.send(data, to);
    return true;
  }

  /** Closes the bases of components above `count` (relays first). */
  async dropComponentsAbove(count: number): Promise<void> {
    const dropped = this.bases.filter((b) => b.candidate.component > count);
    const droppedRelays = this.relayBases.filter((b) => b.candidate.component > count);
    this.bases = this.bases.filter((b) => b.candidate.component <= count);
    this.relayBases = this.relayBases.filter((b) => b.candidate.component <= count);
    await Promise.all(droppedRelays.map((b) => b.socket.close()));
    await Promise.all(dropped.filter((b) => !droppedRelays.includes(b)).map((b) => b.socket.close()));
  }

  /**
   * Frees a relayed candidate (closes its socket: TURN Refresh with LIFETIME 0).
   * @returns false when `relay` is not a live relayed base.
   */
  async releaseRelay(relay: Candidate): Promise<boolean> {
    const base = this.relayBases.find((b) => b.candidate.component === relay.component && sameAddress(b.candidate, relay));
    if (!base) return false;
    this.relayBases = this.relayBases.filter((b) => b !== base);
    this.bases = this.bases.filter((b) => b !== base);
    this.opts.log.info(`released relayed candidate ${describeCandidate(relay)}`);
    await base.socket.close();
    return true;
  }

  describe(base: LocalBase): string {
    return formatAddress(base.candidate);
  }

  /** Closes every socket: relays first (their deallocation may still need the host socket). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.relayBases.map((b) => b.socket.close()));
    await Promise.all(this.bases.map((b) => b.socket.close()));
  }
}
