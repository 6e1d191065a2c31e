/**
 * Relayed candidates (RFC 8445 §5.1.1.2): one TURN allocation per component, from the first
 * server of an ordered list that allocates (the list is tried in order, a dead server costing no
 * more than its timeout). The allocation is presented to the agent as a PacketSocket whose local
 * address is the relayed transport address, so checks and media use it like any other base:
 * sends go through the TURN client (permissions and channels made on demand, RFC 8656 §9, §12),
 * data from peers arrives as if received on that socket.
 *
 * Every timer (the per-server timeout, the client's transactions and refreshes) runs on the given
 * Clock and every socket the clients open comes from the given factory, so relay gathering with
 * failover runs under a ManualClock on an in-memory network.
 */
import { systemClock, type Clock } from '../base/clock.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { AddressFamily, PacketHandler, PacketSocket, TransportAddress } from '../net/socket.js';
import { familyOf, formatAddress } from '../net/socket.js';
import { TurnClient, type TurnTransport } from '../turn/client.js';
import { udpSocketsFrom, type TurnSocketFactory } from '../turn/client-socket.js';
import type { CredentialProvider } from '../turn/credentials.js';
import { firstWorking } from '../turn/servers.js';

/** One TURN server as the agent is given it (address already resolved). */
export interface TurnServer {
  address: string;
  port: number;
  transport: TurnTransport;
  /** Long-term credentials (RFC 8489 §9.2) or a provider of ephemeral ones. */
  username?: string;
  password?: string;
  credentials?: CredentialProvider;
  /** How the server is named in messages (its URI). */
  label?: string;
  /** TLS: SNI/certificate name, verification, trusted CA. */
  servername?: string;
  tlsVerify?: boolean;
  ca?: Buffer;
  /** HTTP CONNECT proxy for tcp/tls. */
  proxy?: { host: string; port: number };
}

/** Outcome of one component's relay gathering, for progress output. */
export interface RelayResult {
  component: number;
  server?: string;
  relayedAddress?: TransportAddress;
  elapsedMs: number;
  failures: Array<{ server: string; error: string }>;
}

/** A TURN allocation seen as a socket bound to the relayed transport address. */
export class RelaySocket implements PacketSocket {
  readonly protocol = 'udp' as const;
  readonly local: TransportAddress;
  private handler: PacketHandler = () => {};
  private isClosed = false;

  constructor(readonly client: TurnClient) {
    const r = client.relayedAddress;
    this.local = { address: r.address, port: r.port, family: familyOf(r.address) };
    client.on('data', (data, peer) => {
      if (!this.isClosed) this.handler(data, { address: peer.address, port: peer.port, family: familyOf(peer.address) });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  send(data: Buffer, to: { address: string; port: number }): void {
    if (!this.isClosed) this.client.send(data, to);
  }

  /** Deallocates (Refresh with LIFETIME 0, RFC 8656 §7). */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    await this.client.close();
  }
}

export interface AllocateRelayOptions {
  component: number;
  servers: TurnServer[];
  /** The component's host socket, shared with UDP allocations (its packets from the server must be fed to the client). */
  hostSocket: PacketSocket;
  /** Registers a filter on the host socket that hands the server's packets to the client first. */
  attachToHost: (client: TurnClient) => void;
  detachFromHost: (client: TurnClient) => void;
  perServerTimeoutMs?: number;
  clock?: Clock;
  /**
   * UDP sockets for allocations that cannot share the host socket (a server of the other
   * family): the same binder as IceAgentOptions.bindSocket. TCP/TLS connect for real.
   */
  bindSocket?: (address: string) => Promise<PacketSocket>;
  /** Every socket a client opens itself (UDP, TCP, TLS); takes precedence over bindSocket. */
  openSocket?: TurnSocketFactory;
  /**
   * Family of the relayed address (RFC 8656 §7.1 REQUESTED-ADDRESS-FAMILY, RFC 6156): 'IPv4'
   * (default) or 'IPv6'; independent of the family of the server's address or the host socket. A
   * server without relays of that family answers 440 and the next server is tried.
   */
  family?: AddressFamily;
  log: Logger;
}

/**
 * Allocates a relay for one component on the first working server.
 * Resolves undefined (after logging each server's one-line error) when none works.
 */
export async function allocateRelay(opts: AllocateRelayOptions): Promise<{ socket?: RelaySocket; result: RelayResult }> {
  const labelOf = (s: TurnServer) => s.label ?? `turn:${formatAddress(s)}${s.transport === 'udp' ? '' : `?transport=${s.transport}`}`;
  const clock = opts.clock ?? systemClock;
  const openSocket = opts.openSocket ?? (opts.bindSocket ? udpSocketsFrom(opts.bindSocket) : undefined);
  const started = clock.now();
  try {
    const outcome = await firstWorking(
      opts.servers,
      async (server, signal) => {
        const common = {
          server: { address: server.address, port: server.port },
          transport: server.transport,
          username: server.username,
          password: server.password,
          credentials: server.credentials,
          clock,
          openSocket,
          family: opts.family,
          log: opts.log,
          label: labelOf(server),
          servername: server.servername,
          tlsVerify: server.tlsVerify,
          ca: server.ca,
          proxy: server.proxy,
          signal,
        };
        if (server.transport === 'udp' && familyOf(server.address) === opts.hostSocket.local.family) {
          const client = new TurnClient({ ...common, socket: opts.hostSocket });
          opts.attachToHost(client);
          try {
            return await client.start();
          } catch (e) {
            opts.detachFromHost(client);
            throw e;
          }
        }
        return TurnClient.allocate(common);
      },
      opts.perServerTimeoutMs ?? 5000,
      { dispose: (client: TurnClient) => void client.close(), clock },
    );
    const socket = new RelaySocket(outcome.result);
    return {
      socket,
      result: {
        component: opts.component,
        server: labelOf(outcome.server),
        relayedAddress: socket.local,
        elapsedMs: outcome.elapsedMs,
        failures: outcome.failures.map((f) => ({ server: labelOf(f.server), error: errorMessage(f.error) })),
      },
    };
  } catch (e) {
    const failures = (e as { failures?: Array<{ server: TurnServer; error: unknown }> }).failures;
    return {
      result: {
        component: opts.component,
        elapsedMs: clock.now() - started,
        failures: failures ? failures.map((f) => ({ server: labelOf(f.server), error: errorMessage(f.error) })) : [{ server: 'turn', error: errorMessage(e) }],
      },
    };
  }
}
