/**
 * The PBX gateway (issue 12, first slice): a B2BUA (RFC 7092) with two Phones. The endpoint side
 * listens where softphones reach it and speaks whatever they offer (ICE `a=candidate`, the draft's
 * `a=alt`, or plain RTP; lib/sdp/format.ts); the PBX side is bound to the PBX-facing address and
 * offers plain RTP/AVP (`sdpFormat: 'none'`: no `a=candidate`, `a=ice-*` or `a=alt`; c= is that
 * address). Routing in this slice is static:
 * - an endpoint's INVITE for `sip:USER@gateway` becomes an INVITE for `sip:USER@PBX`;
 * - the PBX's INVITE becomes an INVITE for the configured endpoint target (`endpoint`, with the
 *   Request-URI's user put in when the target has none); without one the PBX gets 480.
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

export interface GatewayOptions {
  /** Where softphones reach the gateway (SIP, UDP); port 0 picks one. */
  listen: { address: string; port: number };
  /** The PBX: a SIP URI `sip:HOST[:PORT]`; calls from endpoints go to `sip:USER@HOST[:PORT]`. */
  pbx: string;
  /** The gateway's PBX-facing SIP address (default: `listen`'s address, port 0). Its IP is the PBX leg's media address. */
  pbxListen?: { address: string; port: number };
  /** Where calls from the PBX go: `sip:[USER@]HOST:PORT` (static routing; registration relay is not built yet). */
  endpoint?: string;
  /** Media options of the endpoint side (addresses to gather on, STUN/TURN, `sdpFormat` of its offers). */
  endpointMedia?: MediaOptions;
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

  private constructor(
    readonly endpointPhone: Phone,
    readonly pbxPhone: Phone,
    private readonly opts: GatewayOptions,
  ) {
    super();
    this.log = opts.log ?? silentLogger;
    this.pbxHost = uriHostPort(opts.pbx, 'pbx');
    endpointPhone.on('incoming', (call) => this.fromEndpoint(call));
    pbxPhone.on('incoming', (call) => this.fromPbx(call));
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
    const endpointPhone = await Phone.start({
      ...common('endpoint'),
      listen: opts.listen,
      ...(opts.endpointPreconditions ? { preconditions: opts.endpointPreconditions } : {}),
      media: { includeLoopback: endpointAddresses.some(loopback), ...opts.endpointMedia, addresses: endpointAddresses },
    });
    let pbxPhone: Phone;
    try {
      pbxPhone = await Phone.start({
        ...common('pbx'),
        listen: pbxListen,
        // Plain RTP/AVP on the PBX leg: only the PBX-side address, no ICE or a=alt attributes.
        media: { addresses: [pbxListen.address], includeLoopback: loopback(pbxListen.address), sdpFormat: 'none', consent: false },
      });
    } catch (e) {
      await endpointPhone.stop();
      throw e;
    }
    return new Gateway(endpointPhone, pbxPhone, opts);
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
    const go = () => this.bridge({ phone: this.endpointPhone, call, side: 'endpoint' }, this.pbxPhone, 'pbx', `sip:${user}@${this.pbxHost}`);
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
    const target = this.opts.endpoint;
    if (!target) {
      // No registration relay yet: nobody to route to (RFC 3261 §21.4.18 Temporarily Unavailable).
      void this.pbxPhone.reject(call, 480).catch(() => undefined);
      return;
    }
    const user = call.requestUri?.user;
    const uri = user && !/^sips?:[^@;]+@/i.test(target) ? target.replace(/^(sips?:)/i, `$1${user}@`) : target;
    this.bridge({ phone: this.pbxPhone, call, side: 'pbx' }, this.endpointPhone, 'endpoint', uri);
  }

  private bridge(inbound: BridgeLeg, phone: Phone, side: BridgeLeg['side'], target: string): void {
    const remote = inbound.call.remote;
    const callerUser = /^sips?:([^@;]+)@/i.exec(remote.uri)?.[1];
    let out: Call;
    try {
      // Media endpoints are set by the Bridge before any response can arrive (same tick).
      out = phone.call(target, { ...(this.opts.earlyMedia ? { earlyMedia: true } : {}), ...(remote.displayName ?? callerUser ? { displayName: remote.displayName ?? callerUser } : {}) });
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

  /** Ends every bridged call and stops both Phones. */
  async stop(): Promise<void> {
    const pending = [...this.bridges].map((b) => b.finished);
    await Promise.all([this.endpointPhone.stop(), this.pbxPhone.stop()]);
    await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 5000))]);
  }
}
