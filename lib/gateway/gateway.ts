/**
 * The PBX gateway (issue 12, first slice): a B2BUA (RFC 7092) with two Phones. The endpoint side
 * listens where softphones reach it and speaks whatever they offer (ICE `a=candidate`, the draft's
 * `a=alt`, or plain RTP; lib/sdp/format.ts); the PBX side is bound to the PBX-facing address and
 * offers and answers plain RTP/AVP (`sdpFormat: 'none'`: no `a=candidate`, `a=ice-*` or `a=alt`
 * whatever the PBX offers; c= is that address; media to the PBX's m/c line). Routing:
 * - an endpoint's INVITE for `sip:USER@gateway` becomes an INVITE for `sip:USER@PBX`;
 * - endpoints REGISTER through the gateway (./register-forwarder.ts): the gateway registers its own
 *   Contact per endpoint binding at the PBX and keeps the bindings (./registration-relay.ts);
 * - the PBX's INVITE for a binding's gateway Contact (`sip:USER-TOKEN@…`) or for the AOR user goes
 *   to the endpoint's registered Contact, sent over the flow its REGISTER came from (the source
 *   transport address, its NAT binding: every request the endpoint side sends to that Contact's
 *   address goes to the flow, RFC 5626 §5.3), kept open with CRLF keep-alives;
 * - otherwise to the static `endpoint` when configured (the Request-URI's user put in when the
 *   target has none); otherwise 480 (RFC 3261 §21.4.18: nobody registered for that user).
 * Each pair of calls is a Bridge (./bridge.ts); media is relayed by ./rtp-translator.ts.
 */
import { TypedEmitter } from '../base/events.js';
import { UsageError } from '../base/errors.js';
import { type Logger, silentLogger } from '../base/log.js';
import type { MediaOptions } from '../media/media-options.js';
import { Phone, type Call, type PhoneOptions } from '../sip/user-agent.js';
import type { SipTraceFn } from '../sip/transport.js';
import type { PreconditionPolicy } from '../sip/preconditions-flow.js';
import { Bridge, type BridgeLeg, type BridgeSummary } from './bridge.js';
import { RegisterForwarder } from './register-forwarder.js';
import { RegistrationRelay, type Binding } from './registration-relay.js';

export interface GatewayOptions {
  /** Where softphones reach the gateway (SIP, UDP); port 0 picks one. */
  listen: { address: string; port: number };
  /** The PBX: a SIP URI `sip:HOST[:PORT]`; calls from endpoints go to `sip:USER@HOST[:PORT]`. */
  pbx: string;
  /** The gateway's PBX-facing SIP address (default: `listen`'s address, port 0). Its IP is the PBX leg's media address. */
  pbxListen?: { address: string; port: number };
  /** Where calls from the PBX go when no endpoint is registered for the user: `sip:[USER@]HOST:PORT` (static fallback). */
  endpoint?: string;
  /** Domain of the AORs at the PBX (To/From of the gateway's REGISTERs); default the `pbx` URI's host. */
  pbxDomain?: string;
  /**
   * NAT keep-alive interval per registered UDP flow, ms (default 25000, under the 30 s UDP mapping
   * lifetime many NATs use; RFC 5626 §4.4.1 suggests 95-120 s for STUN keep-alives, too long for those);
   * 0 turns keep-alives off. CRLFCRLF datagrams, ./registration-relay.ts says why.
   */
  keepaliveMs?: number;
  /** Media options of the endpoint side (addresses to gather on, STUN/TURN, `sdpFormat` of its offers). */
  endpointMedia?: MediaOptions;
  /**
   * RTP timeout on both legs, ms (`MediaOptions.rtpTimeoutMs`): a leg whose peer sent no RTP or RTCP
   * for this long (hold excepted) ends with a BYE carrying `Reason: Q.850;cause=41`, and the bridge
   * ends the other leg with the same Reason. On the PBX leg (plain RTP, no consent) it is the only
   * way a dead phone's media ends the call. Default: off.
   */
  rtpTimeoutMs?: number;
  /**
   * Connectivity preconditions on the endpoint leg (RFC 3312/5898, `PhoneOptions.preconditions`;
   * default `none`: behaviour as without them). With `optional` or `mandatory` the gateway is the
   * answerer of an endpoint INVITE that offers them (reliable 183 with the answer, the endpoint's
   * UPDATE answered) and places the PBX leg's INVITE only once the endpoint leg's connectivity
   * precondition is met, so the PBX phone rings only when the softphone's media can flow. An
   * endpoint INVITE without them is then alerted (180) at once and bridged as usual.
   */
  endpointPreconditions?: PreconditionPolicy;
  /**
   * Early media (RFC 3960): a 183 with SDP on the outbound leg becomes a 183 with the inbound leg's
   * own SDP answer, and media is relayed before the 200. Needs outbound INVITEs that do not fork
   * (`CallOptions.earlyMedia`). Default false: 183 → 180, no media before the answer.
   */
  earlyMedia?: boolean;
  /** SIP trace of both Phones, each line prefixed with the side. */
  trace?: (side: 'endpoint' | 'pbx', ...args: Parameters<SipTraceFn>) => void;
  log?: Logger;
}

export interface GatewayEvents {
  /** A new bridged call: both legs exist (the outbound one just placed). */
  bridge: [Bridge];
  /** A bridged call ended on both legs; the summary is final. */
  'bridge-ended': [BridgeSummary];
  /** A registration binding changed: granted, refreshed, or removed (with why). */
  registration: [RegistrationChange];
}

/** One binding change (the CLI's `--json` registration line). */
export interface RegistrationChange {
  event: 'registered' | 'refreshed' | 'unregistered' | 'expired' | 'pending-timeout' | 'refused' | 'stopped';
  /** The AOR at the PBX. */
  aor: string;
  /** The endpoint's Contact, and the gateway's Contact at the PBX for it. */
  endpointContact: string;
  gatewayContact: string;
  /** The flow requests for it take (source transport address of the endpoint's REGISTER). */
  flow: { address: string; port: number; protocol: string };
  /** Lifetime granted by the PBX, seconds (0 once removed). */
  expiresSec: number;
}

/**
 * The source of a request from its top Via: received/rport (RFC 3581, which our transport adds),
 * else the sent-by (RFC 3261 §18.2.1: received is added only when it differs).
 */
function viaSource(via: string | undefined): { address: string; port: number } | undefined {
  if (!via) return undefined;
  const top = via.split(',')[0]!;
  const sentBy = /^\s*SIP\s*\/\s*2\.0\s*\/\s*\w+\s+(\[[^\]]+\]|[^:;\s]+)(?::(\d{1,5}))?/i.exec(top);
  if (!sentBy) return undefined;
  const received = /;\s*received=([^;,\s]+)/i.exec(top)?.[1];
  const rport = /;\s*rport=(\d{1,5})/i.exec(top)?.[1];
  return {
    address: (received ?? sentBy[1]!).replace(/^\[|\]$/g, ''),
    port: Number(rport ?? sentBy[2] ?? 5060),
  };
}

/** The host[:port] of a `sip:` URI without user part or parameters. @throws UsageError */
function uriHostPort(uri: string, what: string): string {
  const m = /^sips?:(?:[^@;]+@)?([^;?]+)/i.exec(uri.trim());
  if (!m) throw new UsageError(`${what}: expected sip:HOST[:PORT], got '${uri}'`);
  return m[1]!;
}

export class Gateway extends TypedEmitter<GatewayEvents> {
  private readonly bridges = new Set<Bridge>();
  private readonly log: Logger;
  private readonly pbxHost: string;
  private readonly pbxDomain: string;
  private readonly forwarder: RegisterForwarder;

  private constructor(
    readonly endpointPhone: Phone,
    readonly pbxPhone: Phone,
    /** The registration bindings (AOR user, endpoint Contact, gateway Contact, flow, expiry). */
    readonly registrations: RegistrationRelay,
    private readonly opts: GatewayOptions,
    private readonly pbxContactHost: string,
  ) {
    super();
    this.log = opts.log ?? silentLogger;
    this.pbxHost = uriHostPort(opts.pbx, 'pbx');
    this.pbxDomain = opts.pbxDomain ?? this.pbxHost.replace(/:\d+$/, '');
    this.forwarder = new RegisterForwarder({
      relay: registrations,
      pbxPhone,
      pbxHostPort: this.pbxHost,
      pbxDomain: this.pbxDomain,
      gatewayContactHostPort: () => `${this.pbxContactHost}:${this.pbxPhone.port}`,
      log: this.log.child('register'),
    });
    registrations.on('registered', (b, how) => this.registrationChanged(how, b));
    registrations.on('removed', (b, why) => this.registrationChanged(why, b));
    endpointPhone.on('incoming', (call) => this.fromEndpoint(call));
    pbxPhone.on('incoming', (call) => this.fromPbx(call));
  }

  private registrationChanged(event: RegistrationChange['event'], b: Binding): void {
    // A binding the PBX never granted was never announced: its removal is no change either.
    if (event !== 'registered' && event !== 'refreshed' && b.state === 'pending') return;
    this.log.info(`registration ${event}: ${b.user} ${b.endpointContact} via ${b.flow.address}:${b.flow.port}`);
    this.safeEmit('registration', {
      event,
      aor: `sip:${b.user}@${this.pbxDomain}`,
      endpointContact: b.endpointContact,
      gatewayContact: `sip:${b.gatewayUser}@${this.pbxContactHost}:${this.pbxPhone.port}`,
      flow: { ...b.flow },
      expiresSec: event === 'registered' || event === 'refreshed' ? b.expiresSec : 0,
    });
  }

  /** Endpoint REGISTERs answered by the gateway itself (malformed or not relayable). */
  get registersRefused(): number {
    return this.forwarder.refused;
  }

  /**
   * Starts both Phones (binds their SIP transports).
   * @throws UsageError for a `pbx` or `endpoint` that is not a SIP URI; errors of `Phone.start`.
   */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    uriHostPort(opts.pbx, 'pbx');
    if (opts.endpoint !== undefined) uriHostPort(opts.endpoint, 'endpoint');
    const log = opts.log ?? silentLogger;
    const pbxListen = opts.pbxListen ?? { address: opts.listen.address, port: 0 };
    const loopback = (a: string) => a.startsWith('127.') || a === '::1';
    const endpointAddresses = opts.endpointMedia?.addresses ?? [opts.listen.address];
    const common = (side: 'endpoint' | 'pbx'): Partial<PhoneOptions> => ({
      user: 'gateway',
      log: log.child(side),
      ...(opts.trace ? { trace: (...a: Parameters<SipTraceFn>) => opts.trace!(side, ...a) } : {}),
    });
    // Built before the Phones: the endpoint Phone routes by it and hands it REGISTERs.
    let endpointPhoneRef: Phone | undefined;
    let gatewayRef: Gateway | undefined;
    const registrations = new RegistrationRelay({
      keepaliveMs: opts.keepaliveMs ?? 25_000,
      sendKeepAlive: (flow) => endpointPhoneRef?.sendKeepAlive(flow),
    });
    const endpointPhone = await Phone.start({
      ...common('endpoint'),
      listen: opts.listen,
      ...(opts.endpointPreconditions ? { preconditions: opts.endpointPreconditions } : {}),
      onRegister: (request) => {
        if (gatewayRef) gatewayRef.forwarder.handle(request);
        else request.respond(503, 'Service Unavailable', ['Retry-After: 5']);
      },
      redirect: (target) => {
        const flow = registrations.flowForContact(target.address, target.port);
        return flow ? { address: flow.address, port: flow.port } : undefined;
      },
      media: { includeLoopback: endpointAddresses.some(loopback), ...(opts.rtpTimeoutMs ? { rtpTimeoutMs: opts.rtpTimeoutMs } : {}), ...opts.endpointMedia, addresses: endpointAddresses },
    });
    let pbxPhone: Phone;
    try {
      pbxPhone = await Phone.start({
        ...common('pbx'),
        listen: pbxListen,
        // The gateway holds no credentials: a PBX challenge goes back to the endpoint (./bridge.ts).
        answerChallenges: false,
        // Plain RTP/AVP on the PBX leg: only the PBX-side address, no ICE or a=alt attributes.
        media: { addresses: [pbxListen.address], includeLoopback: loopback(pbxListen.address), sdpFormat: 'none', consent: false, ...(opts.rtpTimeoutMs ? { rtpTimeoutMs: opts.rtpTimeoutMs } : {}) },
      });
    } catch (e) {
      registrations.stop();
      await endpointPhone.stop();
      throw e;
    }
    endpointPhoneRef = endpointPhone;
    gatewayRef = new Gateway(endpointPhone, pbxPhone, registrations, opts, pbxListen.address.includes(':') ? `[${pbxListen.address}]` : pbxListen.address);
    return gatewayRef;
  }

  /** Bridged calls not yet ended. */
  get activeBridges(): Bridge[] {
    return [...this.bridges];
  }

  private fromEndpoint(call: Call): void {
    const user = call.requestUri?.user;
    if (!user) {
      void this.endpointPhone.reject(call, 404).catch(() => undefined);
      return;
    }
    // A softphone calling over the flow it registered from calls as its AOR at the PBX (From), so
    // the PBX sees who calls; anybody else calls as the gateway.
    const caller = /^sips?:([^@;:]+)@/i.exec(call.remote.uri)?.[1];
    const source = viaSource(call.remote.header('via'));
    const registered = caller && source ? this.registrations.registeredFlow(caller, source.address, source.port) : undefined;
    // Anybody else calls as the gateway at its PBX-side transport address (port included: the PBX
    // may route by it, RFC 3261 §19.1.1 defaults 5060 otherwise).
    const go = () => this.bridge({ phone: this.endpointPhone, call, side: 'endpoint' }, this.pbxPhone, 'pbx', `sip:${user}@${this.pbxHost}`,
      registered ? `sip:${registered.user}@${this.pbxDomain}` : `sip:gateway@${this.pbxContactHost}:${this.pbxPhone.port}`);
    if (!call.preconditions) {
      go();
      return;
    }
    // RFC 3312 §5: the endpoint leg alerts once its connectivity precondition is met (or at once
    // for a plain INVITE); only then is the PBX leg placed. A call that fails first (580, CANCEL)
    // never reaches the PBX.
    let placed = false;
    call.once('alerting', () => {
      placed = true;
      if (call.session.state === 'Initial' || call.session.state === 'Establishing') go();
    });
    void call.finished.then(() => {
      if (!placed) this.log.info(`endpoint call ${call.callId} ended before its preconditions were met: not placed at the PBX`);
    });
  }

  private fromPbx(call: Call): void {
    const user = call.requestUri?.user;
    const binding = user ? this.registrations.route(user) : undefined;
    if (binding) {
      // The Request-URI is the Contact the endpoint registered; the endpoint Phone's `redirect`
      // sends it (and later requests to that Contact) over the registered flow.
      this.bridge({ phone: this.pbxPhone, call, side: 'pbx' }, this.endpointPhone, 'endpoint', binding.endpointContact);
      return;
    }
    const target = this.opts.endpoint;
    if (!target) {
      // Nobody registered for that user and no static route (RFC 3261 §21.4.18 Temporarily Unavailable).
      void this.pbxPhone.reject(call, 480).catch(() => undefined);
      return;
    }
    const uri = user && !/^sips?:[^@;]+@/i.test(target) ? target.replace(/^(sips?:)/i, `$1${user}@`) : target;
    this.bridge({ phone: this.pbxPhone, call, side: 'pbx' }, this.endpointPhone, 'endpoint', uri);
  }

  private bridge(inbound: BridgeLeg, phone: Phone, side: BridgeLeg['side'], target: string, fromUri?: string): void {
    const remote = inbound.call.remote;
    const callerUser = /^sips?:([^@;]+)@/i.exec(remote.uri)?.[1];
    // The endpoint's answer to a PBX challenge it got from us (RFC 3261 §22.2-22.3) is relayed as it
    // is: the digest is the endpoint's, the gateway adds nothing. Valid header lines only.
    const credentials = side === 'pbx'
      ? (['Proxy-Authorization', 'Authorization'] as const).flatMap((name) => {
        const v = remote.header(name);
        return v !== undefined && /^[^\r\n]+$/.test(v) ? [`${name}: ${v}`] : [];
      })
      : [];
    let out: Call;
    try {
      // Media endpoints are set by the Bridge before any response can arrive (same tick).
      out = phone.call(target, {
        ...(this.opts.earlyMedia ? { earlyMedia: true } : {}),
        ...(remote.displayName ?? callerUser ? { displayName: remote.displayName ?? callerUser } : {}),
        ...(fromUri ? { fromUri } : {}),
        ...(credentials.length ? { headers: credentials } : {}),
      });
    } catch (e) {
      this.log.warn(`cannot call ${target}: ${e instanceof Error ? e.message : String(e)}`);
      void inbound.phone.reject(inbound.call, 500).catch(() => undefined);
      return;
    }
    const b = new Bridge(inbound, { phone, call: out, side }, target, { earlyMedia: this.opts.earlyMedia === true });
    this.bridges.add(b);
    this.safeEmit('bridge', b);
    void b.finished.then((s) => {
      this.bridges.delete(b);
      this.safeEmit('bridge-ended', s);
    });
  }

  /**
   * Ends every bridged call, drops every registration binding (nothing is sent to the PBX: the
   * gateway holds no credentials; its Contacts there lapse at their expiry) and stops both Phones.
   */
  async stop(): Promise<void> {
    this.registrations.stop();
    const pending = [...this.bridges].map((b) => b.finished);
    await Promise.all([this.endpointPhone.stop(), this.pbxPhone.stop()]);
    await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 5000))]);
  }
}
