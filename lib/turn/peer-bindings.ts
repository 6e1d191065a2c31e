/**
 * The peer side of a TURN allocation: permissions (RFC 8656 §9), channel bindings (§12), their
 * upkeep, and how application data goes out (ChannelData §12.4, Send indications §11). A
 * permission is refreshed a minute before its 5 minutes run out and a channel a minute before its
 * 10; a failed refresh is retried with the back-off of upkeep.ts; a binding that lapses anyway is
 * no longer used (no ChannelData on a channel the server dropped: Send indications, then a rebind
 * on demand). Owned by one TurnClient, which supplies requests, the wire and the events (PeerBindingsHost).
 */
import { addressKey, transportAddressKey } from '../base/address.js';
import type { Clock, TimerHandle } from '../base/clock.js';
import type { Logger } from '../base/log.js';
import { familyOf, formatAddress, type AddressFamily, type TransportAddress } from '../net/socket.js';
import { StunAttr, StunMessage, StunMethod } from '../stun/message.js';
import { encodeChannelData, MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER } from './channel-data.js';
import { TurnError } from './turn-error.js';
import { CHANNEL_LIFETIME_MS, PERMISSION_LIFETIME_MS, refreshAt, retryDelay } from './upkeep.js';

/** What the bindings need from the client that owns them. */
export interface PeerBindingsHost {
  readonly clock: Clock;
  readonly log: Logger;
  /** How the server is named in errors (it changes after a redirection). */
  label(): string;
  /** Family of the relayed address: peers must have the same (RFC 8656 §9.2 / §12.2, 443). */
  family(): AddressFamily;
  relayed(): TransportAddress | undefined;
  allocated(): boolean;
  /** A stream transport (ChannelData padded, RFC 8656 §12.5). */
  reliable(): boolean;
  /** An authenticated request to the server. @throws TurnError. */
  request(method: number, what: string, build: (m: StunMessage) => void): Promise<StunMessage>;
  /** Puts bytes on the wire to the server. */
  transmit(bytes: Buffer): void;
  /** A background failure worth reporting (ignored once the allocation is gone). */
  warn(e: unknown): void;
  /** A 437 to a refresh: the allocation itself is gone. */
  allocationLost(e: TurnError): void;
  onPermission(peerAddress: string): void;
  onChannel(channel: number, peer: TransportAddress): void;
}

/** The counters the bindings keep (part of TurnClientStats). */
export interface PeerBindingStats {
  permissions: number;
  channels: number;
  sendIndications: number;
  channelDataSent: number;
  bytesSent: number;
  /** Application packets dropped: queue overflow while a permission was pending, or a peer of the other family. */
  droppedSends: number;
}

const MAX_QUEUED_PER_PEER = 32;

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

export class PeerBindings {
  private readonly permissions = new Map<string, Permission>();
  private readonly channelsByPeer = new Map<string, Channel>();
  private readonly channelsByNumber = new Map<number, Channel>();
  private nextChannel = MIN_CHANNEL_NUMBER;

  constructor(private readonly host: PeerBindingsHost, private readonly stats: PeerBindingStats, private readonly autoChannel: boolean) {}

  /** The peer a channel number is bound to (for received ChannelData), if any. */
  peerOfChannel(channel: number): TransportAddress | undefined {
    return this.channelsByNumber.get(channel)?.peer;
  }

  /** Stops every timer and drops queued packets (the allocation is ending). */
  clear(): void {
    for (const p of this.permissions.values()) {
      this.host.clock.clearTimer(p.timer);
      this.host.clock.clearTimer(p.expiryTimer);
      p.queue.length = 0;
    }
    for (const c of this.channelsByPeer.values()) {
      this.host.clock.clearTimer(c.timer);
      this.host.clock.clearTimer(c.expiryTimer);
    }
  }

  private relayedText(): string {
    const r = this.host.relayed();
    return r ? formatAddress(r) : '';
  }

  private permissionFor(address: string): Permission {
    // Keyed by canonical IP (lib/base/address.ts): one permission per peer IP whatever its spelling.
    const k = addressKey(address);
    let p = this.permissions.get(k);
    if (!p) {
      p = { installed: false, expiresAt: 0, failures: 0, retryAt: 0, queue: [] };
      this.permissions.set(k, p);
    }
    return p;
  }

  /**
   * Installs (or refreshes) a permission for the peer's IP address (RFC 8656 §9; the port is
   * ignored). Kept alive until close(): refreshed a minute before its 5 minutes run out, a failed
   * refresh retried with the back-off of upkeep.ts. @throws TurnError.
   */
  createPermission(peer: { address: string; port: number }): Promise<void> {
    try {
      this.checkPeerFamily('CreatePermission', peer);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.requestPermission(peer.address, this.permissionFor(peer.address));
  }

  private requestPermission(address: string, p: Permission): Promise<void> {
    if (p.pending) return p.pending;
    const sentAt = this.host.clock.now();
    const pending = this.host.request(StunMethod.CreatePermission, `CreatePermission ${address}`, (m) =>
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
    this.host.clock.clearTimer(p.timer);
    p.timer = this.host.clock.setTimer(refreshAt(sentAt, PERMISSION_LIFETIME_MS) - this.host.clock.now(), () => this.refreshPermission(address, p));
    this.host.clock.clearTimer(p.expiryTimer);
    p.expiryTimer = this.host.clock.setTimer(p.expiresAt - this.host.clock.now(), () => this.permissionExpired(address, p));
    if (first) this.host.onPermission(address);
    this.flush(p);
  }

  private refreshPermission(address: string, p: Permission): void {
    p.timer = undefined;
    if (!this.host.allocated()) return;
    this.requestPermission(address, p).catch((e: unknown) => this.backgroundFailure(e));
  }

  /** Schedules the next attempt: a timed retry while the permission holds, on demand (send) once it has lapsed. */
  private permissionFailed(address: string, p: Permission): void {
    if (!this.host.allocated()) return;
    p.failures++;
    const remaining = p.installed ? p.expiresAt - this.host.clock.now() : 0;
    const delay = retryDelay(PERMISSION_LIFETIME_MS, p.failures, remaining);
    p.retryAt = this.host.clock.now() + delay;
    if (p.installed && remaining > 0) {
      this.host.clock.clearTimer(p.timer);
      p.timer = this.host.clock.setTimer(delay, () => this.refreshPermission(address, p));
    }
  }

  /** RFC 8656 §9: the server dropped the permission; sends wait for a new one (created on the next send). */
  private permissionExpired(address: string, p: Permission): void {
    p.expiryTimer = undefined;
    if (!this.host.allocated() || !p.installed || this.host.clock.now() < p.expiresAt) return;
    p.installed = false;
    this.host.clock.clearTimer(p.timer);
    p.timer = undefined;
    this.host.warn(new TurnError('expired', this.host.label(), `permission for ${address} lapsed after ${p.failures} failed refresh${p.failures === 1 ? '' : 'es'}`));
  }

  /**
   * Binds a channel to the peer (RFC 8656 §12.1), which also installs its permission; refreshed
   * a minute before its 10 minutes run out, a failed refresh retried with the back-off of
   * upkeep.ts. When the binding lapses anyway, ChannelData stops and Send indications take over
   * until a rebind (on the next send) succeeds. Resolves with the channel number
   * (0x4000..0x4FFF). @throws TurnError.
   */
  bindChannel(peer: { address: string; port: number }): Promise<number> {
    try {
      this.checkPeerFamily('ChannelBind', peer);
    } catch (e) {
      return Promise.reject(e);
    }
    const key = transportAddressKey(peer);
    let channel = this.channelsByPeer.get(key);
    if (!channel) {
      if (this.nextChannel > MAX_CHANNEL_NUMBER) return Promise.reject(new TurnError('rejected', this.host.label(), 'ChannelBind failed: all channel numbers 0x4000..0x4FFF in use'));
      channel = { number: this.nextChannel++, peer: { address: peer.address, port: peer.port, family: familyOf(peer.address) }, bound: false, expiresAt: 0, failures: 0, retryAt: 0 };
      this.channelsByPeer.set(key, channel);
      this.channelsByNumber.set(channel.number, channel);
    }
    return this.requestChannel(channel);
  }

  private requestChannel(c: Channel): Promise<number> {
    if (c.pending) return c.pending;
    const key = transportAddressKey(c.peer);
    const sentAt = this.host.clock.now();
    // RFC 8656 §12: rebinding a lapsed channel to the same peer reuses its number (the 5-minute
    // wait applies only to binding the number or the peer to something else).
    const pending = this.host.request(StunMethod.ChannelBind, `ChannelBind 0x${c.number.toString(16)} to ${key}`, (m) => {
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
    this.host.clock.clearTimer(c.timer);
    c.timer = this.host.clock.setTimer(refreshAt(sentAt, CHANNEL_LIFETIME_MS) - this.host.clock.now(), () => this.refreshChannel(c));
    this.host.clock.clearTimer(c.expiryTimer);
    c.expiryTimer = this.host.clock.setTimer(c.expiresAt - this.host.clock.now(), () => this.channelExpired(c));
    if (first) {
      this.stats.channels++;
      this.host.onChannel(c.number, c.peer);
    }
    // RFC 8656 §12.2: a successful ChannelBind installs or refreshes the permission too.
    const p = this.permissionFor(c.peer.address);
    if (!p.installed) this.stats.permissions++;
    this.permissionInstalled(c.peer.address, p, sentAt);
  }

  private refreshChannel(c: Channel): void {
    c.timer = undefined;
    if (!this.host.allocated()) return;
    this.requestChannel(c).catch((e: unknown) => this.backgroundFailure(e));
  }

  private channelFailed(c: Channel): void {
    if (!this.host.allocated()) return;
    c.failures++;
    const remaining = c.bound ? c.expiresAt - this.host.clock.now() : 0;
    const delay = retryDelay(CHANNEL_LIFETIME_MS, c.failures, remaining);
    c.retryAt = this.host.clock.now() + delay;
    if (c.bound && remaining > 0) {
      this.host.clock.clearTimer(c.timer);
      c.timer = this.host.clock.setTimer(delay, () => this.refreshChannel(c));
      return;
    }
    // Not bound: packets waiting for this bind go out as Send indications once a permission exists.
    const p = this.permissionFor(c.peer.address);
    if (!p.installed && p.queue.length > 0 && this.host.clock.now() >= p.retryAt) {
      this.requestPermission(c.peer.address, p).catch((e: unknown) => this.host.warn(e));
    }
  }

  /** RFC 8656 §12: "A channel binding lasts for 10 minutes unless refreshed": past that, no more ChannelData on it. */
  private channelExpired(c: Channel): void {
    c.expiryTimer = undefined;
    if (!this.host.allocated() || !c.bound || this.host.clock.now() < c.expiresAt) return;
    c.bound = false;
    this.host.clock.clearTimer(c.timer);
    c.timer = undefined;
    this.host.warn(new TurnError('expired', this.host.label(), `channel 0x${c.number.toString(16)} to ${formatAddress(c.peer)} lapsed after ${c.failures} failed refresh${c.failures === 1 ? '' : 'es'}: using Send indications until it is bound again`));
  }

  /** A background refresh failed: 437 means the allocation itself is gone; anything else is a warning (the retry is scheduled). */
  private backgroundFailure(e: unknown): void {
    if (e instanceof TurnError && e.kind === 'mismatch') {
      this.host.allocationLost(e);
      return;
    }
    this.host.warn(e);
  }

  /**
   * Sends `data` to `peer` through the relay: as ChannelData while a channel is bound and its
   * permission holds, as a Send indication (RFC 8656 §11) while only the permission holds; before
   * that it is queued (up to 32 packets per peer address) while the permission is created. A
   * channel is bound on the first send (autoChannel) and bound again on a later send once a lapsed
   * binding's back-off has passed. Never throws: failures are counted in stats and reported as 'warning'.
   */
  send(data: Buffer, peer: { address: string; port: number }): void {
    if (familyOf(peer.address) !== this.host.family()) {
      // No permission can exist for it (443): dropped, like a datagram to an unreachable network.
      this.stats.droppedSends++;
      this.host.log.debug(`dropping a packet for ${formatAddress(peer)}: the relayed address is ${this.host.family()}`);
      return;
    }
    const key = transportAddressKey(peer);
    const channel = this.channelsByPeer.get(key);
    const p = this.permissionFor(peer.address);
    if (channel?.bound && p.installed) {
      this.stats.channelDataSent++;
      this.stats.bytesSent += data.length;
      this.host.transmit(encodeChannelData(channel.number, data, this.host.reliable()));
      return;
    }
    const now = this.host.clock.now();
    if (this.autoChannel && (!channel || (!channel.bound && !channel.pending && now >= channel.retryAt))) {
      this.bindChannel(peer).catch((e: unknown) => this.host.warn(e));
    }
    if (!p.installed) {
      if (p.queue.length >= MAX_QUEUED_PER_PEER) {
        p.queue.shift();
        this.stats.droppedSends++;
      }
      p.queue.push({ data, peer: { address: peer.address, port: peer.port, family: familyOf(peer.address) } });
      if (!p.pending && !this.channelsByPeer.get(key)?.pending && now >= p.retryAt) {
        this.requestPermission(peer.address, p).catch((e: unknown) => this.host.warn(e));
      }
      return;
    }
    const indication = new StunMessage({ method: StunMethod.Send, messageClass: 'indication' });
    indication.addXorAddress(StunAttr.XOR_PEER_ADDRESS, peer);
    indication.add(StunAttr.DATA, data);
    this.stats.sendIndications++;
    this.stats.bytesSent += data.length;
    this.host.transmit(indication.encode());
  }

  private flush(p: Permission): void {
    const queued = p.queue.splice(0);
    for (const q of queued) this.send(q.data, q.peer);
  }

  /**
   * RFC 8656 §9.2 / §12.2: a server answers 443 when "the XOR-PEER-ADDRESS attribute contains an
   * address of an address family that is not the same as that of a relayed transport address for
   * the allocation"; the client does not send such a request. @throws TurnError kind 'family'.
   */
  private checkPeerFamily(what: string, peer: { address: string }): void {
    const family = familyOf(peer.address);
    if (family !== this.host.family()) {
      throw new TurnError('family', this.host.label(), `${what} ${peer.address}: an ${family} peer cannot be reached from the ${this.host.family()} relayed address ${this.relayedText()}`.trimEnd());
    }
  }
}
