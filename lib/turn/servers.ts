/**
 * STUN/TURN server URIs (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:` with `?transport=`),
 * as WebRTC's iceServers write them; their resolution (DNS SRV, then A/AAAA) into transport
 * addresses; and ordered failover across the results.
 */
import type { SrvRecord } from 'node:dns';
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { canonicalIp, normalizeAddress, transportAddressKey } from '../base/address.js';
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { TimeoutError, UsageError } from '../base/errors.js';
import { formatAddress } from '../net/socket.js';

export type IceServerScheme = 'stun' | 'stuns' | 'turn' | 'turns';

export interface IceServerUri {
  scheme: IceServerScheme;
  /** Host name or IP literal (without brackets). */
  host: string;
  /** Explicit port, or the scheme's default (3478, TLS 5349) when absent. */
  port: number;
  /** Whether the URI named the port (RFC 7065: no port means DNS SRV may be used). */
  explicitPort: boolean;
  transport: 'udp' | 'tcp';
  /** The URI as given. */
  uri: string;
}

const URI_RE = /^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/**
 * Parses an RFC 7064/7065 URI.
 * @throws UsageError with a one-line reason for anything else.
 */
export function parseIceServerUri(uri: string): IceServerUri {
  const m = URI_RE.exec(uri.trim());
  if (!m) throw new UsageError(`not a STUN/TURN URI (RFC 7064/7065): '${uri}'`);
  const scheme = m[1] as IceServerScheme;
  if ((scheme === 'stun' || scheme === 'stuns') && m[4]) throw new UsageError(`'?transport=' is not allowed in a ${scheme}: URI: '${uri}'`);
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  if (m[2].startsWith('[') && isIP(host) !== 6) throw new UsageError(`bad IPv6 literal in '${uri}'`);
  const secure = scheme === 'stuns' || scheme === 'turns';
  const port = m[3] ? Number(m[3]) : secure ? 5349 : 3478;
  if (port < 1 || port > 65535) throw new UsageError(`port out of range in '${uri}'`);
  const transport = (m[4] as 'udp' | 'tcp' | undefined) ?? (secure ? 'tcp' : 'udp');
  return { scheme, host, port, explicitPort: m[3] !== undefined, transport, uri };
}

/**
 * Resolves a server's host to an IP address (A/AAAA via the system resolver).
 * @throws Error naming the server when it does not resolve.
 */
export async function resolveServerAddress(server: IceServerUri): Promise<string> {
  if (isIP(server.host)) return canonicalIp(server.host);
  try {
    const r = await lookup(server.host);
    return normalizeAddress(r.address);
  } catch (e) {
    throw new Error(`${server.uri}: cannot resolve '${server.host}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** How a resolved server is reached: `turns:`/`stuns:` are TLS over TCP. */
export type IceServerTransport = 'udp' | 'tcp' | 'tls';

export interface ResolvedIceServer {
  address: string;
  port: number;
  transport: IceServerTransport;
}

/** The DNS operations resolveIceServer needs; the default uses node:dns (SRV from DNS, A/AAAA via getaddrinfo, so /etc/hosts counts). */
export interface IceServerResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** All addresses of `host`, IPv4 and IPv6, in the system's preferred order. */
  lookup(host: string): Promise<Array<{ address: string; family: number }>>;
}

export const systemResolver: IceServerResolver = {
  resolveSrv: (name) => new Resolver().resolveSrv(name),
  lookup: (host) => lookup(host, { all: true }),
};

/** RFC 7064 §3.2 / RFC 7065 §3.2 (via RFC 5928): the SRV service label for a URI. */
export function srvName(uri: IceServerUri): string {
  switch (uri.scheme) {
    case 'stun': return `_stun._udp.${uri.host}`;
    case 'stuns': return `_stuns._tcp.${uri.host}`;
    case 'turn': return `_turn._${uri.transport}.${uri.host}`;
    case 'turns': return `_turns._tcp.${uri.host}`;
  }
}

function transportOf(uri: IceServerUri): IceServerTransport {
  return uri.scheme === 'turns' || uri.scheme === 'stuns' ? 'tls' : uri.transport;
}

/**
 * RFC 2782 ordering: ascending priority; within one priority, a weighted random order (each
 * pick chooses a record with probability proportional to its weight, zero-weight records
 * being picked only when their running sum is reached, i.e. rarely first).
 */
export function orderSrvRecords(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const out: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // "arrange all SRV RRs (that have not been ordered yet) in any order, except that all
    // those with weight 0 are placed at the beginning of the list."
    const left = [...byPriority.get(priority)!].sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const target = random() * (total + 1);
      let running = 0;
      let index = left.length - 1;
      for (let i = 0; i < left.length; i++) {
        running += left[i]!.weight;
        if (running >= target) { index = i; break; }
      }
      out.push(left.splice(index, 1)[0]!);
    }
  }
  return out;
}

/**
 * Resolves a STUN/TURN URI to the transport addresses to try, in order.
 * - IP literal: that address (canonical, base/address.ts) and the URI's (or default) port.
 * - Host name with an explicit port: its A/AAAA addresses.
 * - Host name without a port (RFC 7065 §3.2 / RFC 5928): DNS SRV `_turn._udp`, `_turn._tcp`,
 *   `_turns._tcp` or `_stun._udp` (`_stuns._tcp`), targets ordered per RFC 2782, each target's
 *   A/AAAA addresses in turn; when there is no SRV record, the host's A/AAAA with the default
 *   port (3478, or 5349 for turns/stuns).
 * Duplicates are removed.
 * @throws Error naming the URI when nothing resolves (or SRV says "." — service not offered).
 */
export async function resolveIceServer(uri: IceServerUri, resolver: IceServerResolver = systemResolver, random: () => number = Math.random): Promise<ResolvedIceServer[]> {
  const transport = transportOf(uri);
  if (isIP(uri.host)) return [{ address: canonicalIp(uri.host), port: uri.port, transport }];
  const targets: Array<{ host: string; port: number }> = [];
  if (!uri.explicitPort) {
    let records: SrvRecord[] = [];
    try {
      records = await resolver.resolveSrv(srvName(uri));
    } catch {
      records = []; // no SRV: fall back to A/AAAA below
    }
    // RFC 2782: a single record with target "." means the service is decidedly not available.
    if (records.length === 1 && (records[0]!.name === '.' || records[0]!.name === '')) {
      throw new Error(`${uri.uri}: SRV ${srvName(uri)} says the service is not offered`);
    }
    for (const r of orderSrvRecords(records, random)) targets.push({ host: r.name.replace(/\.$/, ''), port: r.port });
  }
  if (targets.length === 0) targets.push({ host: uri.host, port: uri.port });
  const out: ResolvedIceServer[] = [];
  const seen = new Set<string>();
  const failures: string[] = [];
  for (const t of targets) {
    let addresses: Array<{ address: string; family: number }>;
    try {
      addresses = isIP(t.host) ? [{ address: t.host, family: isIP(t.host) }] : await resolver.lookup(t.host);
    } catch (e) {
      failures.push(`'${t.host}': ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    for (const a of addresses) {
      const address = normalizeAddress(a.address); // canonical (base/address.ts), so duplicates in any spelling go
      const key = transportAddressKey({ address, port: t.port });
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ address, port: t.port, transport });
    }
  }
  if (out.length === 0) throw new Error(`${uri.uri}: cannot resolve ${failures.length > 0 ? failures.join('; ') : `'${uri.host}'`}`);
  return out;
}

/** Every server tried by firstWorking failed. */
export class AllServersFailedError extends Error {
  override readonly name = 'AllServersFailedError';
  constructor(readonly failures: Array<{ server: unknown; error: Error }>) {
    super(failures.length === 0
      ? 'no servers to try'
      : `all ${failures.length} servers failed: ${failures.map((f) => f.error.message.replace(/[\r\n]+/g, ' ')).join('; ')}`);
  }
}

export interface FirstWorkingResult<S, T> {
  result: T;
  server: S;
  /** From the first attempt's start to success. */
  elapsedMs: number;
  failures: Array<{ server: S; error: Error }>;
}

function describeServer(server: unknown): string {
  if (server && typeof server === 'object' && 'address' in server && 'port' in server) {
    const s = server as { address: string; port: number; transport?: string };
    return `${formatAddress(s)}${s.transport ? `/${s.transport}` : ''}`;
  }
  return String(server);
}

export interface FirstWorkingOptions<T> {
  /** Receives a result that arrived after its attempt was abandoned (e.g. `(c) => c.close()`). */
  dispose?: (late: T) => unknown;
  /** Times the per-server timeout and `elapsedMs` (default the system clock). */
  clock?: Clock;
}

/**
 * Tries `servers` in order and returns the first that works. Each attempt gets
 * `perServerTimeoutMs`; when it runs out the attempt's AbortSignal fires, the failure is
 * recorded and the next server is tried, so a dead server costs at most its timeout. A result
 * that arrives after its attempt was abandoned is passed to `dispose` (e.g. `(c) => c.close()`).
 * All timing is on `opts.clock`, so failover runs under a ManualClock.
 * @throws AllServersFailedError listing each server's error when none works.
 */
export async function firstWorking<S, T>(
  servers: readonly S[],
  attempt: (server: S, signal: AbortSignal) => Promise<T>,
  perServerTimeoutMs: number,
  opts: FirstWorkingOptions<T> = {},
): Promise<FirstWorkingResult<S, T>> {
  const clock = opts.clock ?? systemClock;
  const started = clock.now();
  const failures: Array<{ server: S; error: Error }> = [];
  for (const server of servers) {
    const controller = new AbortController();
    let timedOut = false;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimer(perServerTimeoutMs, () => {
        timedOut = true;
        controller.abort();
        reject(new TimeoutError(`${describeServer(server)}: no answer within ${perServerTimeoutMs} ms`, perServerTimeoutMs));
      });
    });
    const running = Promise.resolve().then(() => attempt(server, controller.signal));
    running.then((late) => {
      if (timedOut && opts.dispose) void Promise.resolve().then(() => opts.dispose!(late)).catch(() => {});
    }, () => {});
    try {
      const result = await Promise.race([running, timeout]);
      return { result, server, elapsedMs: clock.now() - started, failures };
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      failures.push({ server, error: error.message.includes(describeServer(server)) || error.name === 'TurnError' ? error : new Error(`${describeServer(server)}: ${error.message}`) });
    } finally {
      clock.clearTimer(timer);
    }
  }
  throw new AllServersFailedError(failures);
}
