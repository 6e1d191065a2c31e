import type { Clock } from '../../lib/base/clock.js';
import { familyOf, formatAddress, type TransportAddress } from '../../lib/net/socket.js';
import { longTermKey } from '../../lib/stun/integrity.js';
import { isStunPacket, StunAttr, StunMessage, StunMethod, type StunClass } from '../../lib/stun/message.js';
import { decodeChannelData, isChannelData } from '../../lib/turn/channel-data.js';
import type { FakeNetwork, FakeSocket } from '../ice/fake-network.js';

/**
 * A scripted TURN server (RFC 8656) on the in-memory FakeNetwork, for TurnClient and relay tests
 * under a ManualClock. By default it behaves like a small honest server: 401 with REALM/NONCE to
 * unauthenticated requests, one allocation per client 5-tuple (437 for a second, §7.2), relayed
 * addresses of the REQUESTED-ADDRESS-FAMILY (§7.2; IPv4 without it, 440 when it has no relay
 * address of that family), Refresh, CreatePermission and ChannelBind always granted. `script`
 * overrides any request: return a response to send, `null` to stay silent, undefined for the default.
 * It does not verify MESSAGE-INTEGRITY (the client's own tests do); it signs every response but a 401.
 */

export interface FakeTurnRequest {
  message: StunMessage;
  from: TransportAddress;
  at: number;
}

export interface FakeTurnServerOptions {
  realm?: string;
  username?: string;
  password?: string;
  /** Relayed addresses are handed out on these (port from 50000 up; IPv4 default: the server's own address if IPv4); none of a family: 440. */
  relayIPv4?: string;
  relayIPv6?: string;
  /** LIFETIME granted (default: what was asked, at most 3600). */
  lifetimeSec?: number;
}

export class FakeTurnServer {
  readonly socket: FakeSocket;
  readonly requests: FakeTurnRequest[] = [];
  readonly indications: Array<{ peer: TransportAddress; data: Buffer }> = [];
  readonly channelData: Array<{ channel: number; data: Buffer }> = [];
  /** Allocations by client 5-tuple ("address:port"). */
  readonly allocations = new Map<string, TransportAddress>();
  script?: (request: StunMessage, from: TransportAddress) => StunMessage | null | undefined;
  readonly realm: string;
  readonly key: Buffer;
  private nextRelayPort = 50000;
  private readonly clock: Clock;

  constructor(net: FakeNetwork, address: string, port: number, private readonly opts: FakeTurnServerOptions = {}) {
    this.clock = net.clock;
    this.realm = opts.realm ?? 'fake.test';
    this.key = longTermKey(opts.username ?? 'alice', this.realm, opts.password ?? 'secret-1');
    this.socket = net.bindSync(address, port);
    this.socket.onPacket((data, from) => this.receive(data, from));
  }

  get address(): TransportAddress {
    return this.socket.local;
  }

  /** Requests of `method` received so far (retransmissions included). */
  received(method: number): StunMessage[] {
    return this.requests.filter((r) => r.message.method === method).map((r) => r.message);
  }

  /** A response to `request` (sent signed with the server's key unless it is a 401). */
  response(request: StunMessage, cls: StunClass, add: (m: StunMessage) => void = () => {}): StunMessage {
    const m = new StunMessage({ method: request.method, messageClass: cls, transactionId: request.transactionId });
    add(m);
    return m;
  }

  error(request: StunMessage, code: number, add: (m: StunMessage) => void = () => {}): StunMessage {
    return this.response(request, 'error', (m) => { m.addErrorCode(code); add(m); });
  }

  private receive(data: Buffer, from: TransportAddress): void {
    if (isChannelData(data)) {
      const d = decodeChannelData(data);
      this.channelData.push({ channel: d.channel, data: Buffer.from(d.data) });
      return;
    }
    if (!isStunPacket(data)) return;
    const message = StunMessage.decode(data);
    if (message.messageClass === 'indication') {
      if (message.method === StunMethod.Send) this.indications.push({ peer: message.getXorAddress(StunAttr.XOR_PEER_ADDRESS)!, data: Buffer.from(message.get(StunAttr.DATA)!) });
      return;
    }
    if (message.messageClass !== 'request') return;
    this.requests.push({ message, from, at: this.clock.now() });
    const scripted = this.script?.(message, from);
    const reply = scripted === undefined ? this.answer(message, from) : scripted;
    if (reply === null) return;
    const sign = reply.messageClass !== 'error' || reply.getErrorCode()?.code !== 401;
    this.socket.send(reply.encode({ integrityKey: sign ? this.key : undefined, fingerprint: true }), from);
  }

  private answer(request: StunMessage, from: TransportAddress): StunMessage {
    if (!request.has(StunAttr.USERNAME)) {
      return this.response(request, 'error', (m) => {
        m.addErrorCode(401);
        m.add(StunAttr.REALM, Buffer.from(this.realm));
        m.add(StunAttr.NONCE, Buffer.from('nonce-1'));
      });
    }
    const tuple = formatAddress(from);
    const asked = request.get(StunAttr.LIFETIME)?.readUInt32BE(0);
    const lifetime = (value: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(value); return b; };
    switch (request.method) {
      case StunMethod.Allocate: {
        if (this.allocations.has(tuple)) return this.error(request, 437);
        const family = request.get(StunAttr.REQUESTED_ADDRESS_FAMILY)?.[0] === 0x02 ? 'IPv6' : 'IPv4';
        const relayIp = family === 'IPv6' ? this.opts.relayIPv6 : this.opts.relayIPv4 ?? (this.socket.local.family === 'IPv4' ? this.socket.local.address : undefined);
        if (!relayIp) return this.error(request, 440);
        const relayed: TransportAddress = { address: relayIp, port: this.nextRelayPort++, family: familyOf(relayIp) };
        this.allocations.set(tuple, relayed);
        return this.response(request, 'success', (m) => {
          m.addXorAddress(StunAttr.XOR_RELAYED_ADDRESS, relayed);
          m.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, from);
          m.add(StunAttr.LIFETIME, lifetime(this.opts.lifetimeSec ?? Math.min(asked ?? 600, 3600)));
        });
      }
      case StunMethod.Refresh:
        if (!this.allocations.has(tuple)) return this.error(request, 437);
        if (asked === 0) this.allocations.delete(tuple);
        return this.response(request, 'success', (m) => m.add(StunAttr.LIFETIME, lifetime(asked === 0 ? 0 : this.opts.lifetimeSec ?? Math.min(asked ?? 600, 3600))));
      case StunMethod.CreatePermission:
      case StunMethod.ChannelBind:
        if (!this.allocations.has(tuple)) return this.error(request, 437);
        return this.response(request, 'success');
      default:
        return this.error(request, 400);
    }
  }
}
