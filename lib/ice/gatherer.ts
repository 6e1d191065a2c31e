import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { addressKey } from '../base/address.js';
import type { Logger } from '../base/log.js';
import { errorMessage } from '../base/errors.js';
import { familyOf, formatAddress, sameAddress, type PacketSocket } from '../net/socket.js';
import { UdpSocket } from '../net/udp.js';
import { listLocalAddresses } from '../net/interfaces.js';
import { StunMessage, StunMethod } from '../stun/message.js';
import type { StunTransactionManager } from '../stun/transaction.js';
import { computePriority, type Candidate, type CandidateType } from './candidate.js';

/**
 * Candidate gathering (RFC 8445 §5.1.1): one UDP socket per component per host address
 * (host candidates, §5.1.1.1) and a Binding request from each to each STUN server
 * (server-reflexive candidates, §5.1.1.2). Redundant candidates are dropped (§5.1.3).
 */

export interface IceServer { host: string; port: number }

/** A host candidate and the socket bound to it: the base of every candidate derived from it. */
export interface LocalBase {
  socket: PacketSocket;
  candidate: Candidate;
  /** RFC 8445 §5.1.2.1 local preference of its IP address (used for its srflx and prflx priorities). */
  localPreference: number;
}

/**
 * RFC 8445 §5.1.1.3: candidates share a foundation when they have the same type, base IP
 * address, STUN/TURN server IP address and transport. Foundations are short decimal strings.
 */
export class FoundationRegistry {
  private readonly map = new Map<string, string>();
  private next = 1;

  get(type: CandidateType, baseAddress: string, serverAddress = '', transport: 'udp' | 'tcp' = 'udp'): string {
    // Same IP address in any spelling (base/address.ts).
    const key = `${type}|${addressKey(baseAddress)}|${serverAddress === '' ? '' : addressKey(serverAddress)}|${transport}`;
    let f = this.map.get(key);
    if (!f) {
      f = String(this.next++);
      this.map.set(key, f);
    }
    return f;
  }
}

export interface HostGatherOptions {
  components: number;
  /** Restrict host candidates to these IPs; default every usable interface address. */
  addresses?: string[];
  includeLoopback?: boolean;
  foundations: FoundationRegistry;
  log: Logger;
  /** Socket factory (tests); default UdpSocket.bind(address, 0). */
  bind?: (address: string) => Promise<PacketSocket>;
}

/**
 * RFC 8421 §4 (dual stack): local preferences are assigned so that the check list alternates
 * address families, IPv6 first ("the ICE agent SHOULD prefer IPv6 ... the candidates ... interleaved"),
 * rather than running every pair of one family before the other's. The order within a family is kept.
 */
export function interleaveFamilies(addresses: readonly string[]): string[] {
  const v6 = addresses.filter((a) => familyOf(a) === 'IPv6');
  const v4 = addresses.filter((a) => familyOf(a) !== 'IPv6');
  const out: string[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) out.push(v6[i]);
    if (i < v4.length) out.push(v4[i]);
  }
  return out;
}

/** Local preference of the i-th address: unique per IP (RFC 8445 §5.1.2.1), first listed highest. */
export function localPreferenceFor(index: number): number {
  return Math.max(0, 65535 - index);
}

/**
 * Binds one UDP socket per component on every address (RFC 8445 §5.1.1.1). An address that
 * cannot be bound is logged and skipped.
 * @throws Error when no socket at all could be bound.
 */
export async function gatherHostCandidates(opts: HostGatherOptions): Promise<LocalBase[]> {
  const addresses = interleaveFamilies(opts.addresses ?? listLocalAddresses({ includeLoopback: opts.includeLoopback }).map((a) => a.address));
  const bind = opts.bind ?? ((address: string) => UdpSocket.bind(address, 0, opts.log));
  const bases: LocalBase[] = [];
  for (let i = 0; i < addresses.length; i++) {
    const address = addresses[i];
    const localPreference = localPreferenceFor(i);
    for (let component = 1; component <= opts.components; component++) {
      try {
        const socket = await bind(address);
        const candidate: Candidate = {
          foundation: opts.foundations.get('host', socket.local.address),
          component,
          transport: 'udp',
          priority: computePriority('host', localPreference, component),
          address: socket.local.address,
          port: socket.local.port,
          type: 'host',
        };
        bases.push({ socket, candidate, localPreference });
      } catch (e) {
        opts.log.warn(`cannot bind UDP on ${address} for component ${component}: ${errorMessage(e)}`);
      }
    }
  }
  if (bases.length === 0) throw new Error(`no host candidate: could not bind UDP on any of [${addresses.join(', ')}]`);
  return bases;
}

export interface ReflexiveGatherOptions {
  servers: IceServer[];
  transactions: StunTransactionManager;
  foundations: FoundationRegistry;
  log: Logger;
  /** RFC 8489 RTO for the Binding requests; default 500 ms. */
  rtoMs?: number;
  /** Transmissions; default 3 (sends at 0, 500, 1500 ms). */
  maxRequests?: number;
  /** Rm; default 2 (gives up 2.5 s after the first send with the defaults). */
  lastWaitFactor?: number;
  /** Called for each new server-reflexive candidate as it is learned. */
  onCandidate?: (c: Candidate, base: LocalBase) => void;
}

async function resolveServer(server: IceServer, family: 'IPv4' | 'IPv6'): Promise<string | undefined> {
  if (isIP(server.host)) return familyOf(server.host) === family ? server.host : undefined;
  try {
    const r = await lookup(server.host, { family: family === 'IPv4' ? 4 : 6 });
    return r.address;
  } catch {
    return undefined;
  }
}

/**
 * RFC 8445 §5.1.1.2: a Binding request from every base to every STUN server of its address
 * family; the XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) of a success response is a
 * server-reflexive candidate with the base as related address. A server that does not
 * answer within the bounded wait yields nothing. §5.1.3: a candidate equal to its base, or
 * to a candidate already found from the same base, is dropped.
 * The responses must be fed to `transactions.handleResponse` by whoever reads the sockets.
 */
export async function gatherServerReflexive(bases: LocalBase[], opts: ReflexiveGatherOptions): Promise<Candidate[]> {
  const found: Array<{ candidate: Candidate; base: LocalBase }> = [];
  const jobs: Promise<void>[] = [];
  for (const base of bases) {
    for (const server of opts.servers) {
      jobs.push((async () => {
        const serverIp = await resolveServer(server, base.socket.local.family);
        if (!serverIp) return;
        const to = { address: serverIp, port: server.port };
        const req = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
        try {
          const res = await opts.transactions.request(req, (bytes) => base.socket.send(bytes, to), {
            rtoMs: opts.rtoMs ?? 500,
            maxRequests: opts.maxRequests ?? 3,
            lastWaitFactor: opts.lastWaitFactor ?? 2,
            fingerprint: true,
          });
          if (res.message.messageClass !== 'success') {
            opts.log.debug(`STUN server ${formatAddress(to)} answered ${res.message.getErrorCode()?.code ?? 'an error'}`);
            return;
          }
          const mapped = res.message.reflexiveAddress();
          if (!mapped) return;
          if (sameAddress(mapped, base.candidate)) return; // §5.1.3: same as its base, redundant
          if (found.some((f) => f.base === base && sameAddress(f.candidate, mapped))) return;
          const candidate: Candidate = {
            foundation: opts.foundations.get('srflx', base.candidate.address, serverIp),
            component: base.candidate.component,
            transport: 'udp',
            priority: computePriority('srflx', base.localPreference, base.candidate.component),
            address: mapped.address,
            port: mapped.port,
            type: 'srflx',
            relatedAddress: base.candidate.address,
            relatedPort: base.candidate.port,
          };
          found.push({ candidate, base });
          opts.onCandidate?.(candidate, base);
        } catch (e) {
          opts.log.debug(`no server-reflexive candidate from ${formatAddress(to)} for ${formatAddress(base.candidate)}: ${errorMessage(e)}`);
        }
      })());
    }
  }
  await Promise.all(jobs);
  return found.map((f) => f.candidate);
}
