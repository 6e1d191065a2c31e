/**
 * The gateway's registration bindings (issue 12, "registration through the gateway"): for every
 * endpoint binding (the AOR's user and the Contact the endpoint registered, RFC 3261 §10.3) the
 * gateway holds its own Contact at the PBX, `sip:USER-TOKEN@PBX-SIDE`, so a request from the PBX
 * names the binding by its Request-URI user, and the flow the endpoint's REGISTER came from (its
 * source transport address: its NAT binding, RFC 5626 §3 "flow"), which is where requests for the
 * binding are sent, whatever private address the Contact says.
 *
 * A binding is `pending` from the endpoint's first REGISTER until the PBX grants it (2xx): a pending
 * one is not routable and is dropped after {@link PENDING_LIFETIME_MS} unless confirmed (an
 * endpoint that never answers the PBX's challenge leaves nothing behind). A confirmed binding
 * expires at the lifetime the PBX granted, is removed by an Expires 0 REGISTER (`remove`), and
 * everything goes on `stop()`.
 *
 * NAT keep-alive (RFC 5626 §4.4, §3.5.1): every `keepaliveMs` the relay calls `sendKeepAlive(flow)`
 * for each confirmed UDP binding; the gateway sends a CRLFCRLF datagram there. CRLF rather than
 * OPTIONS: it needs no transaction or answer, every SIP stack ignores it (RFC 5626 §3.5.1 lists the
 * double CRLF as the keep-alive "ping"; a UDP stack drops a whitespace-only datagram), and it keeps
 * the NAT mapping open just as well. It does not tell a dead flow from a live one; the binding's
 * expiry (the endpoint stops refreshing) removes a dead one.
 *
 * Pure state with a Clock: no sockets; the gateway does the SIP.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { TypedEmitter } from '../base/events.js';
import { normalizeAddress } from '../base/address.js';

/** How long a binding may stay unconfirmed (64·T1 = 32 s, RFC 3261 §17.1.2.2 timer F, plus a margin), ms. */
export const PENDING_LIFETIME_MS = 40_000;

/** Where an endpoint's REGISTER came from: its source transport address (after NAT) and transport. */
export interface Flow {
  address: string;
  port: number;
  protocol: 'udp' | 'tcp' | 'tls';
}

export type BindingState = 'pending' | 'registered';

export interface Binding {
  /** The AOR's user: the PBX user. */
  readonly user: string;
  /** The Contact URI the endpoint registered (angle brackets and header parameters removed). */
  readonly endpointContact: string;
  /** The user part of the gateway's own Contact at the PBX for this binding (`USER-TOKEN`). */
  readonly gatewayUser: string;
  /** Call-ID of the gateway's REGISTERs to the PBX for this binding (RFC 3261 §10.2: one per binding, kept across refreshes). */
  readonly callId: string;
  /** From tag of those REGISTERs (kept with the Call-ID). */
  readonly fromTag: string;
  /** CSeq of the last REGISTER sent to the PBX for this binding (incremented by `nextCseq`). */
  cseq: number;
  /** The flow of the endpoint's last REGISTER. */
  flow: Flow;
  state: BindingState;
  /** Lifetime the PBX granted, seconds (0 while pending). */
  expiresSec: number;
  /** When it expires (Clock time, ms). */
  expiresAt: number;
}

export interface RegistrationRelayOptions {
  clock?: Clock;
  /** Keep-alive interval per confirmed UDP binding, ms (default 25000; 0 turns keep-alives off). */
  keepaliveMs?: number;
  /** Sends one keep-alive to a flow (the gateway writes CRLFCRLF from its endpoint-side socket). */
  sendKeepAlive?: (flow: Flow) => void;
  /** At most this many bindings (pending and registered); `prepare` returns undefined beyond it (default 10000). */
  maxBindings?: number;
}

export interface RegistrationRelayEvents {
  /** A binding was confirmed by the PBX (first time: `registered`; later: `refreshed`). */
  registered: [Binding, 'registered' | 'refreshed'];
  /** A binding was removed: `unregistered` (Expires 0), `expired`, `pending-timeout`, `refused` or `stopped`. */
  removed: [Binding, 'unregistered' | 'expired' | 'pending-timeout' | 'refused' | 'stopped'];
}

interface Entry {
  binding: Binding;
  expiry?: TimerHandle;
  keepalive?: TimerHandle;
}

function key(user: string, contact: string): string {
  return `${user}\n${contact}`;
}

export class RegistrationRelay extends TypedEmitter<RegistrationRelayEvents> {
  private readonly clock: Clock;
  private readonly keepaliveMs: number;
  private readonly maxBindings: number;
  private readonly byKey = new Map<string, Entry>();
  private readonly byGatewayUser = new Map<string, Entry>();
  /** Keep-alives sent so far. */
  keepalivesSent = 0;

  constructor(private readonly opts: RegistrationRelayOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.keepaliveMs = opts.keepaliveMs ?? 25_000;
    this.maxBindings = opts.maxBindings ?? 10_000;
  }

  /** All bindings, pending ones included. */
  get bindings(): Binding[] {
    return [...this.byKey.values()].map((e) => e.binding);
  }

  /** The binding of this AOR user and endpoint Contact, if any. */
  find(user: string, endpointContact: string): Binding | undefined {
    return this.byKey.get(key(user, endpointContact))?.binding;
  }

  /**
   * The binding for an endpoint REGISTER that is about to be relayed: the existing one (its flow
   * updated to where this REGISTER came from) or a new pending one with a fresh gateway Contact
   * user, Call-ID and From tag. Undefined when `maxBindings` are held already.
   */
  prepare(user: string, endpointContact: string, flow: Flow): Binding | undefined {
    const k = key(user, endpointContact);
    const existing = this.byKey.get(k);
    const normalized = { ...flow, address: normalizeAddress(flow.address) };
    if (existing) {
      existing.binding.flow = normalized;
      return existing.binding;
    }
    if (this.byKey.size >= this.maxBindings) return undefined;
    const token = randomBytes(6).toString('hex');
    const binding: Binding = {
      user,
      endpointContact,
      gatewayUser: `${user}-${token}`,
      callId: `gw-${randomBytes(10).toString('hex')}`,
      fromTag: randomBytes(6).toString('hex'),
      cseq: 0,
      flow: normalized,
      state: 'pending',
      expiresSec: 0,
      expiresAt: this.clock.now() + PENDING_LIFETIME_MS,
    };
    const entry: Entry = { binding };
    entry.expiry = this.clock.setTimer(PENDING_LIFETIME_MS, () => this.drop(entry, 'pending-timeout'));
    this.byKey.set(k, entry);
    this.byGatewayUser.set(binding.gatewayUser, entry);
    return binding;
  }

  /** Seconds left of a binding's lifetime (rounded up; 0 when due). */
  remainingSec(binding: Binding): number {
    return Math.max(0, Math.ceil((binding.expiresAt - this.clock.now()) / 1000));
  }

  /** The next CSeq for a REGISTER of this binding (RFC 3261 §10.2.4: incremented per request). */
  nextCseq(binding: Binding): number {
    binding.cseq += 1;
    return binding.cseq;
  }

  /**
   * The PBX granted the binding for `expiresSec` seconds (its 2xx): the binding becomes routable,
   * its expiry timer is (re)set and UDP keep-alives start. `expiresSec` 0 removes it.
   */
  confirm(binding: Binding, expiresSec: number): void {
    const entry = this.entryOf(binding);
    if (!entry) return;
    if (expiresSec <= 0) {
      this.drop(entry, 'unregistered');
      return;
    }
    const first = binding.state === 'pending';
    binding.state = 'registered';
    binding.expiresSec = expiresSec;
    binding.expiresAt = this.clock.now() + expiresSec * 1000;
    this.clock.clearTimer(entry.expiry);
    entry.expiry = this.clock.setTimer(expiresSec * 1000, () => this.drop(entry, 'expired'));
    if (first) this.scheduleKeepalive(entry);
    this.safeEmit('registered', binding, first ? 'registered' : 'refreshed');
  }

  /**
   * The PBX refused a REGISTER of this binding with a final non-2xx other than a challenge: a
   * pending binding is dropped, a registered one stays until it expires (the PBX still holds it).
   */
  refused(binding: Binding): void {
    const entry = this.entryOf(binding);
    if (entry && binding.state === 'pending') this.drop(entry, 'refused');
  }

  /** Removes a binding (the endpoint's Expires 0 was granted). */
  remove(binding: Binding): void {
    const entry = this.entryOf(binding);
    if (entry) this.drop(entry, 'unregistered');
  }

  /**
   * Where a request from the PBX goes: the registered binding whose gateway Contact user is
   * `requestUser`, else the most recently confirmed registered binding of that AOR user.
   */
  route(requestUser: string): Binding | undefined {
    const direct = this.byGatewayUser.get(requestUser);
    if (direct) return direct.binding.state === 'registered' ? direct.binding : undefined;
    let best: Binding | undefined;
    for (const { binding } of this.byKey.values()) {
      if (binding.user !== requestUser || binding.state !== 'registered') continue;
      if (!best || binding.expiresAt - binding.expiresSec * 1000 > best.expiresAt - best.expiresSec * 1000) best = binding;
    }
    return best;
  }

  /**
   * The registered binding of AOR user `user` whose flow is `address:port` (a request that came
   * over a registered flow, e.g. the softphone's own INVITE), or undefined.
   */
  registeredFlow(user: string, address: string, port: number): Binding | undefined {
    const a = normalizeAddress(address);
    for (const { binding } of this.byKey.values()) {
      if (binding.user === user && binding.state === 'registered' && binding.flow.address === a && binding.flow.port === port) return binding;
    }
    return undefined;
  }

  /**
   * The flow of the registered binding whose endpoint Contact is at `address:port`: requests the
   * gateway sends to that Contact (the INVITE, and in-dialog requests to the same target) go to the
   * flow instead. Undefined when no binding has that Contact address.
   */
  flowForContact(address: string, port: number): Flow | undefined {
    const a = normalizeAddress(address);
    for (const { binding } of this.byKey.values()) {
      if (binding.state !== 'registered') continue;
      const hp = contactHostPort(binding.endpointContact);
      if (hp && normalizeAddress(hp.host) === a && hp.port === port) return binding.flow;
    }
    return undefined;
  }

  /** Drops every binding (no REGISTER is sent) and stops every timer. */
  stop(): void {
    for (const entry of [...this.byKey.values()]) this.drop(entry, 'stopped');
  }

  private entryOf(binding: Binding): Entry | undefined {
    const e = this.byKey.get(key(binding.user, binding.endpointContact));
    return e?.binding === binding ? e : undefined;
  }

  private scheduleKeepalive(entry: Entry): void {
    if (this.keepaliveMs <= 0 || !this.opts.sendKeepAlive || entry.binding.flow.protocol !== 'udp') return;
    entry.keepalive = this.clock.setTimer(this.keepaliveMs, () => {
      if (this.entryOf(entry.binding) !== entry) return;
      this.keepalivesSent++;
      try {
        this.opts.sendKeepAlive!(entry.binding.flow);
      } catch {
        // A send error is the socket's business; the next interval tries again.
      }
      this.scheduleKeepalive(entry);
    });
  }

  private drop(entry: Entry, why: RegistrationRelayEvents['removed'][1]): void {
    const b = entry.binding;
    if (this.byKey.get(key(b.user, b.endpointContact)) !== entry) return;
    this.clock.clearTimer(entry.expiry);
    this.clock.clearTimer(entry.keepalive);
    this.byKey.delete(key(b.user, b.endpointContact));
    this.byGatewayUser.delete(b.gatewayUser);
    this.safeEmit('removed', b, why);
  }
}

/** host and port (default 5060) of a `sip:` URI, or undefined. */
export function contactHostPort(uri: string): { host: string; port: number } | undefined {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d{1,5}))?/i.exec(uri.trim());
  if (!m) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : /^sips:/i.test(uri) ? 5061 : 5060 };
}
