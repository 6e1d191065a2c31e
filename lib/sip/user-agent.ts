/**
 * The phone: a sip.js UserAgent on our own UDP/TCP transport, placing and answering calls whose
 * media is a MediaSession (ICE + RTP). This is the library API a PBX gateway embeds and the
 * CLI drives.
 */
import {
  Inviter,
  Invitation,
  Registerer,
  RegistererState,
  SessionState,
  UserAgent,
  type Session,
  type URI,
} from 'sip.js';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { UsageError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import { negotiateCodec, parseDescription } from '../sdp/offer-answer.js';
import { MediaSession, type MediaOptions, type MediaSummary } from './session-description-handler.js';
import './install-fast-parser.js';
import { sipJsTransportOptions, type SipJsTransportOptions, type SipTraceFn, type SipTransport } from './transport.js';

export type SipTransportProtocol = 'udp' | 'tcp';

export interface PhoneOptions {
  /** Local SIP address to bind; port 0 picks one. */
  listen: { address: string; port: number };
  transport?: SipTransportProtocol;
  /** User part of our own URI (and, for answering, the only user accepted when `restrictUser`). */
  user?: string;
  displayName?: string;
  /** Answer only requests whose Request-URI user is `user` (404 otherwise). Default: any user, like SIPp's UAS. */
  restrictUser?: boolean;
  media?: MediaOptions;
  /** Called with every SIP message sent or received (`--trace`). */
  trace?: SipTraceFn;
  /** Address-of-record to REGISTER (RFC 3261 §10): becomes our identity (From) as well. */
  register?: string;
  /** Registrar URI (default: the AOR's domain, `sip:DOMAIN`). */
  registrar?: string;
  /** Outbound proxy URI: every request is sent through it (a preloaded Route, RFC 3261 §8.1.2). */
  outboundProxy?: string;
  /** Registration lifetime asked for, seconds (default 300; sip.js refreshes before expiry). */
  registerExpires?: number;
  /** Digest credentials for a registrar or proxy that challenges (RFC 3261 §22). */
  authUser?: string;
  authPassword?: string;
  clock?: Clock;
  log?: Logger;
}

export type CallDirection = 'outgoing' | 'incoming';

/** What `--json` prints of one call (DESIGN.md contract). */
export interface CallSummary {
  call: { state: string; sipCallId: string; durationMs: number; alertedAfterConnected: boolean; direction: CallDirection; reason?: string };
  ice: MediaSummary['ice'];
  rtp: MediaSummary['rtp'];
  codec: string | null;
  /** Bad input counted and dropped while the call lived (SIP: whole phone; media: this call's sockets). */
  dropped: { sipMalformed: number; mediaMalformed: number; stunUnauthorized: number; rtpMalformed: number; sdpLines: number };
}

export interface CallEvents {
  /** SIP session state (sip.js SessionState names, lower case). */
  state: [string];
  /** The remote party is being alerted (180/183 for outgoing; our own 180 for incoming). */
  alerting: [];
  /** The call was answered (200 OK). */
  established: [];
  /** The call ended; the summary is final. */
  ended: [CallSummary];
}

/**
 * One call. Progress events from the media come through `media` once it exists
 * (`media-created` is emitted by the Phone when sip.js makes the MediaSession).
 */
export class Call extends TypedEmitter<CallEvents> {
  media?: MediaSession;
  private startedAt: number;
  private endedAt?: number;
  private answeredAt?: number;
  private alertedAt?: number;
  private reason?: string;
  private finalState = 'new';
  private endResolve!: (s: CallSummary) => void;
  /** Resolves when the call has ended and its media is released. */
  readonly finished: Promise<CallSummary>;

  constructor(
    readonly session: Session,
    readonly direction: CallDirection,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly sipDropped: () => number = () => 0,
  ) {
    super();
    this.startedAt = clock.now();
    this.finished = new Promise((r) => (this.endResolve = r));
    session.stateChange.addListener((s) => this.onState(s));
  }

  get callId(): string {
    const anySession = this.session as unknown as { request?: { callId?: string }; outgoingRequestMessage?: { callId?: string } };
    return anySession.request?.callId ?? anySession.outgoingRequestMessage?.callId ?? '';
  }

  /** Ends the call: CANCEL before an answer, BYE after, reject for an unanswered incoming call. */
  async hangup(): Promise<void> {
    const s = this.session;
    try {
      if (s.state === SessionState.Established) await s.bye();
      else if (s instanceof Inviter && (s.state === SessionState.Establishing || s.state === SessionState.Initial)) await s.cancel();
      else if (s instanceof Invitation && s.state !== SessionState.Terminated && s.state !== SessionState.Terminating) await s.reject();
    } catch (e) {
      this.log.warn(`hangup: ${errorMessage(e)}`);
    }
  }

  /** @internal */
  markAlerting(): void {
    if (this.alertedAt !== undefined) return;
    this.alertedAt = this.clock.now();
    this.safeEmit('alerting');
  }

  /** @internal */
  setReason(reason: string): void {
    this.reason ??= reason;
  }

  summary(): CallSummary {
    const m = this.media?.summary();
    const connectedAt = this.media?.connectedAtMs;
    // True only when the user was alerted after media could flow (RFC 3312 preconditions met first).
    const alertedAfterConnected = this.alertedAt !== undefined && connectedAt !== undefined && this.alertedAt >= connectedAt;
    return {
      call: {
        state: this.finalState,
        sipCallId: this.callId,
        durationMs: Math.round((this.endedAt ?? this.clock.now()) - (this.answeredAt ?? this.startedAt)),
        alertedAfterConnected,
        direction: this.direction,
        ...(this.reason ? { reason: this.reason } : {}),
      },
      ice: m?.ice ?? {
        state: 'failed', role: this.direction === 'outgoing' ? 'controlling' : 'controlled', format: 'none',
        localCandidates: [], remoteCandidates: [], selectedPair: null, connectedMs: null,
      },
      rtp: m?.rtp ?? { packetsSent: 0, packetsReceived: 0, packetsLost: 0, jitterMs: 0, rtcpSent: 0, rtcpReceived: 0 },
      codec: m?.codec ?? null,
      dropped: {
        sipMalformed: this.sipDropped(),
        mediaMalformed: m?.dropped.mediaMalformed ?? 0,
        stunUnauthorized: m?.dropped.stunUnauthorized ?? 0,
        rtpMalformed: m?.dropped.rtpMalformed ?? 0,
        sdpLines: m?.malformedSdpLines ?? 0,
      },
    };
  }

  private onState(s: SessionState): void {
    this.finalState = s.toLowerCase();
    this.safeEmit('state', this.finalState);
    if (s === SessionState.Established) {
      this.answeredAt = this.clock.now();
      this.safeEmit('established');
    }
    if (s === SessionState.Terminated) this.end();
  }

  private ending = false;

  /** Final summary, media released, 'ended' emitted, `finished` resolved; once. */
  private end(reason?: string): void {
    if (this.ending) return;
    this.ending = true;
    if (reason) this.setReason(reason);
    this.endedAt = this.clock.now();
    const summary = this.summary();
    summary.call.state = this.answeredAt !== undefined ? 'ended' : 'failed';
    void (async () => {
      await this.media?.closeAndWait();
      this.safeEmit('ended', summary);
      this.endResolve(summary);
    })();
  }

  /**
   * Ends the call locally without waiting for the peer (shutdown when the BYE cannot be
   * delivered, e.g. to a Contact behind a NAT): the summary is reported, media released.
   * @internal
   */
  forceEnd(reason: string): void {
    if (this.ending) return;
    void this.session.dispose().catch(() => undefined);
    this.end(reason);
  }
}

export interface PhoneEvents {
  /** An incoming call arrived (before it is answered). */
  incoming: [Call];
  /** An INVITE was refused before becoming a call (488: unusable offer). */
  rejected: [callId: string, reason: string];
  /** A call (either direction) got its MediaSession. */
  'media-created': [Call, MediaSession];
}

/**
 * A SIP phone. `Phone.start()` binds the transport; `call(uri)` places a call; incoming
 * calls are emitted as 'incoming' and answered with `answer(call)`.
 */
export class Phone extends TypedEmitter<PhoneEvents> {
  readonly ua: UserAgent;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly calls = new Set<Call>();
  private readonly callBySession = new WeakMap<Session, Call>();

  private constructor(private readonly opts: PhoneOptions, transportOpts: SipJsTransportOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    const host = opts.listen.address.includes(':') ? `[${opts.listen.address}]` : opts.listen.address;
    const aor = opts.register ? UserAgent.makeURI(opts.register) : undefined;
    if (opts.register && !aor) throw new UsageError(`--register: not a SIP URI: '${opts.register}'`);
    const user = opts.user ?? aor?.user ?? 'icephone';
    const uri = aor ?? UserAgent.makeURI(`sip:${user}@${host}`);
    if (!uri) throw new UsageError(`cannot make a SIP URI from user '${user}' and host '${opts.listen.address}'`);
    if (opts.outboundProxy && !UserAgent.makeURI(opts.outboundProxy)) throw new UsageError(`--outbound-proxy: not a SIP URI: '${opts.outboundProxy}'`);
    if (opts.registrar && !UserAgent.makeURI(opts.registrar)) throw new UsageError(`--registrar: not a SIP URI: '${opts.registrar}'`);
    const { port: _port, getTransport: _get, ...sipjs } = transportOpts;
    this.transportPort = transportOpts.port;
    this.getTransport = transportOpts.getTransport;
    this.ua = new UserAgent({
      ...sipjs,
      uri,
      displayName: opts.displayName,
      contactName: user,
      preloadedRouteSet: opts.outboundProxy ? [`<${UserAgent.makeURI(opts.outboundProxy)!.toString()};lr>`] : undefined,
      authorizationUsername: opts.authUser,
      authorizationPassword: opts.authPassword,
      // We send 180 ourselves when the application answers (and, with preconditions, only once
      // media can flow); sip.js's automatic 180 would alert too early (DESIGN.md).
      sendInitialProvisionalResponse: false,
      sessionDescriptionHandlerFactory: (session: Session) => {
        const m = new MediaSession({ ...opts.media, clock: this.clock, log: this.log.child('media') });
        const call = this.callBySession.get(session);
        if (call) {
          call.media = m;
          this.safeEmit('media-created', call, m);
        }
        return m;
      },
      delegate: {
        onInvite: (invitation) => this.onInvite(invitation),
      },
    });
    if (!opts.restrictUser) this.acceptAnyRequestUri();
  }

  /**
   * sip.js 0.21's core answers 404 to a request whose Request-URI user is not its own AOR's
   * (RFC 3261 §8.2.2.1 makes that a SHOULD). `icephone answer` accepts calls to any user, as SIPp's
   * UAS does, so for the synchronous dispatch of each request the core's AOR carries the request's
   * user. Nothing else reads the AOR during that dispatch (it only builds From of new requests).
   */
  private acceptAnyRequestUri(): void {
    const core = this.ua.userAgentCore;
    const original = core.receiveIncomingRequestFromTransport.bind(core);
    const configuration = core.configuration as { aor: URI };
    core.receiveIncomingRequestFromTransport = (message) => {
      const aor = configuration.aor;
      const user = message.ruri?.user;
      if (user === aor.user) return original(message);
      const stand = aor.clone();
      stand.user = user as string;
      configuration.aor = stand;
      try {
        original(message);
      } finally {
        configuration.aor = aor;
      }
    };
  }

  /** INVITEs answered 488 because their SDP offer was malformed or unusable. */
  offersRejected = 0;

  private readonly transportPort: () => number;
  private readonly getTransport: () => SipTransport | undefined;

  /** Malformed SIP messages received and dropped so far. */
  get sipMalformedDropped(): number {
    return this.getTransport()?.stats.malformedDropped ?? 0;
  }

  /**
   * Creates and starts a phone.
   * @throws Error when the SIP port cannot be bound (EADDRINUSE, EADDRNOTAVAIL).
   */
  static async start(opts: PhoneOptions): Promise<Phone> {
    const t = sipJsTransportOptions({
      protocol: opts.transport ?? 'udp',
      listen: opts.listen,
      trace: opts.trace,
      log: (opts.log ?? silentLogger).child('sip'),
      clock: opts.clock,
    });
    const phone = new Phone(opts, t);
    await phone.ua.start();
    if (opts.register) {
      try {
        await phone.registerNow();
      } catch (e) {
        await phone.ua.stop().catch(() => undefined);
        throw e;
      }
    }
    return phone;
  }

  private registerer?: Registerer;

  /**
   * REGISTERs our contact for the AOR and waits for the registrar's answer (RFC 3261 §10.2).
   * @throws Error with a one-line reason (the registrar's status, or no answer within 32 s).
   */
  private async registerNow(): Promise<void> {
    const registrar = this.opts.registrar
      ? UserAgent.makeURI(this.opts.registrar)!
      : UserAgent.makeURI(`sip:${this.ua.configuration.uri.host}${this.ua.configuration.uri.port ? `:${this.ua.configuration.uri.port}` : ''}`)!;
    const registerer = new Registerer(this.ua, { registrar, expires: this.opts.registerExpires ?? 300 });
    this.registerer = registerer;
    await new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimer(34000, () => reject(new Error(`registration with ${registrar.toString()} got no answer`)));
      registerer
        .register({
          requestDelegate: {
            onAccept: () => {
              this.clock.clearTimer(timer);
              this.log.info(`registered ${this.ua.configuration.uri.toString()} at ${registrar.toString()}`);
              resolve();
            },
            onReject: (response) => {
              this.clock.clearTimer(timer);
              reject(new Error(`registration with ${registrar.toString()} failed: ${response.message.statusCode} ${response.message.reasonPhrase}`));
            },
          },
        })
        .catch((e) => {
          this.clock.clearTimer(timer);
          reject(new Error(`registration with ${registrar.toString()} failed: ${errorMessage(e)}`));
        });
    });
  }

  /** True while a registration is in force. */
  get registered(): boolean {
    return this.registerer?.state === RegistererState.Registered;
  }

  /** The bound SIP port. */
  get port(): number {
    return this.transportPort();
  }

  /** `sip:user@host:port;transport=…` at which this phone can be called. */
  get contactUri(): string {
    const host = this.opts.listen.address.includes(':') ? `[${this.opts.listen.address}]` : this.opts.listen.address;
    const t = this.opts.transport === 'tcp' ? ';transport=tcp' : '';
    return `sip:${this.opts.user ?? 'icephone'}@${host}:${this.port}${t}`;
  }

  /**
   * Places a call.
   * @throws UsageError if `target` is not a SIP URI.
   */
  call(target: string): Call {
    const uri = UserAgent.makeURI(target);
    if (!uri || !/^sips?:/i.test(target)) throw new UsageError(`not a SIP URI: '${target}'`);
    const inviter = new Inviter(this.ua, uri);
    const call = new Call(inviter, 'outgoing', this.clock, this.log, () => this.sipMalformedDropped);
    this.track(call);
    void inviter
      .invite({
        requestDelegate: {
          onProgress: (response) => {
            const code = response.message.statusCode ?? 0;
            if (code === 180 || code === 183) call.markAlerting();
          },
          onReject: (response) => {
            call.setReason(`${response.message.statusCode} ${response.message.reasonPhrase}`);
          },
        },
      })
      .catch((e) => {
        call.setReason(errorMessage(e));
        this.log.error(`INVITE failed: ${errorMessage(e)}`);
      });
    return call;
  }

  /** Answers an incoming call: 180 Ringing, then 200 OK with our SDP answer. */
  async answer(call: Call): Promise<void> {
    const inv = call.session as Invitation;
    try {
      await inv.progress();
      call.markAlerting();
      await inv.accept();
    } catch (e) {
      call.setReason(errorMessage(e));
      this.log.warn(`answer failed: ${errorMessage(e)}`);
    }
  }

  /** Rejects an incoming call with `statusCode` (default 486 Busy Here). */
  async reject(call: Call, statusCode = 486): Promise<void> {
    await (call.session as Invitation).reject({ statusCode });
  }

  /** Hangs up every call and stops the user agent (closes the SIP transport). */
  async stop(): Promise<void> {
    const calls = [...this.calls];
    const within = (ms: number, p: Promise<unknown>) => Promise.race([p, new Promise((r) => this.clock.setTimer(ms, () => r(undefined)))]);
    await within(2000, Promise.allSettled(calls.map((c) => c.hangup())));
    await within(2000, Promise.allSettled(calls.map((c) => c.finished)));
    // A peer that cannot be reached (its BYE transaction would run to Timer F, 32 s): end locally.
    for (const c of calls) c.forceEnd('shutdown before the peer confirmed the hang-up');
    await Promise.allSettled(calls.map((c) => c.finished));
    if (this.registerer && this.registerer.state === RegistererState.Registered) {
      await Promise.race([
        this.registerer.unregister().catch(() => undefined),
        new Promise((r) => this.clock.setTimer(2000, () => r(undefined))),
      ]);
    }
    await Promise.race([this.ua.stop(), new Promise((r) => this.clock.setTimer(3000, () => r(undefined)))]);
  }

  /** Why an INVITE's SDP offer is unusable, or undefined when it is fine (or absent: we then offer). */
  private checkOffer(invitation: Invitation): string | undefined {
    const body = invitation.body;
    if (!body) return undefined;
    try {
      const remote = parseDescription(body);
      if (!negotiateCodec(remote.codecs)) return 'no common codec (PCMU, PCMA)';
      return undefined;
    } catch (e) {
      return errorMessage(e);
    }
  }

  private track(call: Call): void {
    this.calls.add(call);
    this.callBySession.set(call.session, call);
    void call.finished.then(() => this.calls.delete(call));
  }

  private onInvite(invitation: Invitation): void {
    const ruser = invitation.request.ruri?.user;
    if (this.opts.restrictUser && this.opts.user && ruser !== this.opts.user) {
      void invitation.reject({ statusCode: 404 });
      return;
    }
    const problem = this.checkOffer(invitation);
    if (problem) {
      // RFC 3261 §21.4.26 / RFC 3264 §6: an offer we cannot use is answered 488, with a Warning
      // (RFC 3261 §20.43, code 399) saying why; the request is counted, not turned into a call.
      this.offersRejected++;
      this.log.warn(`rejecting INVITE (Call-ID ${invitation.request.callId}) with 488: ${problem}`);
      const text = problem.replace(/["\\\r\n]/g, ' ').slice(0, 200);
      void invitation.reject({ statusCode: 488, extraHeaders: [`Warning: 399 icephone "${text}"`] }).catch(() => undefined);
      this.safeEmit('rejected', invitation.request.callId, problem);
      return;
    }
    const call = new Call(invitation, 'incoming', this.clock, this.log, () => this.sipMalformedDropped);
    this.track(call);
    this.safeEmit('incoming', call);
  }
}
