/**
 * One bridged call of the gateway (RFC 7092 terms: a B2BUA joining two dialogs): the inbound leg
 * (the call that reached the gateway, answered only once the outbound leg is) and the outbound leg
 * (the call the gateway placed). Signalling mapped across (RFC 7092 §3.1):
 * - 180/183 on the outbound leg → 180 on the inbound leg; with `earlyMedia`, a 183 with SDP → a 183
 *   with the inbound leg's own SDP answer (RFC 3960), media relayed from then on;
 * - 200 on the outbound leg → the inbound leg is answered;
 * - a 3xx-6xx final on the outbound leg → the same status on the inbound leg (486 → 486), 480 when
 *   the outbound leg failed without one (transport error, timeout); a 401/407 with its
 *   WWW-Authenticate/Proxy-Authenticate lines copied (the gateway answers no challenge itself);
 * - BYE on either leg → BYE on the other; CANCEL of the inbound leg → CANCEL of the outbound leg;
 * - a re-offer (re-INVITE or UPDATE) on an established leg that changes its hold (RFC 3264 §8.4:
 *   sendonly/inactive, or back to sendrecv) → the same method on the other leg, with that leg's own
 *   SDP (MediaSession writes it: its addresses, format, codec) and the mapped direction: the near
 *   peer holding the gateway becomes the gateway holding the far peer (an UPDATE the far peer does
 *   not implement, 405/501, is sent again as a re-INVITE). The near leg is answered
 *   only once the far leg's answer is in, with the direction the far peer accepted (the far peer
 *   answering inactive leaves the near leg inactive too). A re-offer that changes no direction (an
 *   ICE restart, RFC 8445 §9; the draft's §5.8 cycle; a session refresh) is answered on its leg
 *   only: the other leg sees nothing. A far refusal (488, 491, …) refuses the near request with the
 *   same status (RFC 7092 §3.2); the far leg rolls back (RFC 3261 §14.1), so both stay as they were;
 * - glare: a re-offer arriving while the other leg has an exchange in progress (its own re-offer
 *   being mapped the other way) is refused with 491 (RFC 3261 §14.2, RFC 3311 §5.2); the peers'
 *   §14.1 back-off timers decide who goes first;
 * - media death on a leg (ICE failed after connecting, consent lost, RFC 7675 §5.1): that leg's
 *   Phone ends it with a BYE carrying `Reason: Q.850;cause=41;text="…"` (lib/sip/reason.ts) and the
 *   bridge ends the other leg with the same Reason; the summary's `endedBy` says which and why.
 * Media: both legs in pass-through, each leg's `onRtp` tap feeding an RtpTranslator to the other.
 */
import { TypedEmitter } from '../base/events.js';
import { RequestRefusedError, StateError, errorMessage } from '../base/errors.js';
import type { MediaSession, ReofferHandler } from '../media/media-session.js';
import { mediaFailureReason } from '../sip/reason.js';
import type { Call, CallSummary, Phone } from '../sip/user-agent.js';
import { RtpTranslator, type LegPayloads, type TranslatorStats } from './rtp-translator.js';

/** Which side a leg faces. */
export type LegSide = 'endpoint' | 'pbx';

/** What `--json` prints of one leg. */
export interface LegSummary {
  side: LegSide;
  sipCallId: string;
  state: string;
  reason?: string;
  /** The leg's candidate format (`none` on the PBX leg) and ICE outcome (lib/media/media-summary.ts). */
  ice: Pick<CallSummary['ice'], 'state' | 'format' | 'selectedPair'>;
  codec: string | null;
  rtp: CallSummary['rtp'];
}

/** What `--json` prints of one bridged call. */
export interface BridgeSummary {
  bridge: {
    /** `endpoint-to-pbx`: a softphone called through the gateway; `pbx-to-endpoint` the other way. */
    direction: 'endpoint-to-pbx' | 'pbx-to-endpoint';
    /** The URI the outbound leg called. */
    target: string;
    /** `answered` when both legs connected, else `failed` (with the status mapped to the inbound leg). */
    outcome: 'answered' | 'failed';
    /** The status sent on the inbound leg when the outbound leg was refused. */
    mappedStatus?: number;
    /** Why the bridge ended both legs, when one leg's media died (the reason went in both BYEs' `Reason`). */
    endedBy?: { side: LegSide; reason: string };
    /** Re-offers (hold/resume) mapped across the legs, and those refused (with the far leg's status, or 491 for glare). */
    reoffers: { mapped: number; local: number; refused: number };
  };
  endpoint: LegSummary;
  pbx: LegSummary;
  /** RTP relayed each way (RFC 7667 §3.2.1.3 translator counters). */
  relayed: { toPbx: TranslatorStats; toEndpoint: TranslatorStats };
}

export interface BridgeEvents {
  /** Both legs have ended; the summary is final. */
  ended: [BridgeSummary];
}

export interface BridgeLeg {
  phone: Phone;
  call: Call;
  side: LegSide;
}

function payloadsOf(call: Call): LegPayloads | undefined {
  return call.media?.negotiatedPayloads;
}

export class Bridge extends TypedEmitter<BridgeEvents> {
  private answered = false;
  private mappedStatus?: number;
  private endedBy?: { side: LegSide; reason: string };
  private readonly reoffers = { mapped: 0, local: 0, refused: 0 };
  /** A re-offer is being mapped from one leg to the other (a crossing one gets 491). */
  private mapping = false;
  private readonly toOutbound: RtpTranslator;
  private readonly toInbound: RtpTranslator;
  /** Resolves with the summary once both legs have ended and their media is released. */
  readonly finished: Promise<BridgeSummary>;

  /**
   * Joins `inbound` (ringing, not yet answered) to `outbound` (just placed). The caller must have
   * placed `outbound` with `bridgeMedia(...)` as its media endpoints, or call `useMedia` itself.
   */
  constructor(
    readonly inbound: BridgeLeg,
    readonly outbound: BridgeLeg,
    readonly target: string,
    options: { earlyMedia?: boolean } = {},
  ) {
    super();
    this.toOutbound = new RtpTranslator((p) => outbound.call.media?.sendRtp(p) ?? false, () => ({ from: payloadsOf(inbound.call), to: payloadsOf(outbound.call) }));
    this.toInbound = new RtpTranslator((p) => inbound.call.media?.sendRtp(p) ?? false, () => ({ from: payloadsOf(outbound.call), to: payloadsOf(inbound.call) }));
    inbound.call.useMedia({ passthrough: true, onRtp: (p) => this.toOutbound.relay(p) });
    outbound.call.useMedia({ passthrough: true, onRtp: (p) => this.toInbound.relay(p) });
    this.arm(inbound, outbound);
    this.arm(outbound, inbound);

    const out = outbound.call;
    const inn = inbound.call;
    // With connectivity preconditions the inbound leg's flow has already alerted (reliable 180).
    // An outbound leg with preconditions alerts only once they are met: its 'alerting' is the cue;
    // otherwise each provisional is (a 183 with SDP is early media when asked for).
    if (out.preconditions) out.on('alerting', () => { if (!inn.preconditions) void inbound.phone.ring(inn); });
    else {
      out.on('progress', (code, withSdp) => {
        if (inn.preconditions || (code !== 180 && code !== 183)) return;
        void inbound.phone.ring(inn, code === 183 && withSdp && options.earlyMedia ? 183 : 180);
      });
    }
    out.on('established', () => {
      this.answered = true;
      void inbound.phone.answer(inn, { provisional: 'none' });
    });
    out.on('ended', () => {
      if (this.answered) {
        void inn.hangup();
        return;
      }
      // RFC 7092 §3.1: the outbound leg's final response becomes the inbound leg's.
      const status = out.finalStatus !== undefined && out.finalStatus >= 300 && out.finalStatus <= 699 ? out.finalStatus : 480;
      this.mappedStatus = status;
      // A 401/407 the outbound Phone did not answer (it holds no credentials) goes back with its
      // challenge, so the caller, who owns the credentials, can retry (RFC 3261 §22.2-22.3).
      const challenge = out.challenge?.statusCode === status ? out.challenge.headers : undefined;
      if (inn.session.state === 'Initial' || inn.session.state === 'Establishing') void inbound.phone.reject(inn, status, challenge).catch(() => undefined);
      else void inn.hangup();
    });
    // The inbound leg ended (BYE, or CANCEL before the answer): end the outbound one (BYE or CANCEL).
    inn.on('ended', () => void out.hangup());
    this.finished = Promise.all([inn.finished, out.finished]).then(([i, o]) => {
      const s = this.summary(i, o);
      this.safeEmit('ended', s);
      return s;
    });
  }

  /** Maps `near`'s re-offers and media death to `far`, once `near`'s media session exists. */
  private arm(near: BridgeLeg, far: BridgeLeg): void {
    const attach = (m: MediaSession) => m.setReofferHandler(this.reofferHandler(near, far));
    if (near.call.media) attach(near.call.media);
    const onMedia = (call: Call, m: MediaSession) => { if (call === near.call) attach(m); };
    near.phone.on('media-created', onMedia);
    void near.call.finished.then(() => near.phone.off('media-created', onMedia));
    near.call.on('media-failed', (reason) => {
      if (this.endedBy) return;
      this.endedBy = { side: near.side, reason };
      // RFC 3326: the far leg's BYE says why, as the near leg's does (lib/sip/reason.ts).
      void far.call.hangup({ headers: [mediaFailureReason(reason)] });
    });
  }

  private reofferHandler(near: BridgeLeg, far: BridgeLeg): ReofferHandler {
    return async ({ via }) => {
      const nm = near.call.media!;
      const fm = far.call.media;
      const nearHolds = nm.holdState.remote;
      // Nothing SDP-visible to pass on (ICE restart, a=alt cycle, refresh): local to this leg.
      if (!fm || fm.holdState.local === nearHolds) {
        this.reoffers.local++;
        return;
      }
      if (this.mapping || fm.offerAnswerState !== 'stable') {
        this.reoffers.refused++;
        throw new RequestRefusedError(`the ${far.side} leg has an offer/answer exchange in progress (glare)`, 491);
      }
      this.mapping = true;
      try {
        try {
          await far.call.changeHoldVia(nearHolds, via === 'update' ? 'UPDATE' : 'INVITE');
        } catch (e) {
          // A far peer without UPDATE (RFC 3311 is optional; 405/501): the re-INVITE carries it.
          if (!(via === 'update' && e instanceof RequestRefusedError && (e.statusCode === 405 || e.statusCode === 501))) throw e;
          await far.call.changeHoldVia(nearHolds, 'INVITE');
        }
      } catch (e) {
        this.reoffers.refused++;
        if (e instanceof RequestRefusedError) throw e;
        // Not established yet, or the exchange could not be made: refused as a media problem.
        throw new RequestRefusedError(`the ${far.side} leg could not take the offer: ${errorMessage(e)}`, e instanceof StateError ? 491 : 488);
      } finally {
        this.mapping = false;
      }
      this.reoffers.mapped++;
      // The near leg's answer: what the far peer accepted (it holding us leaves the near leg held).
      nm.setLocalHold(fm.holdState.remote);
    };
  }

  private summary(inSummary: CallSummary, outSummary: CallSummary): BridgeSummary {
    const leg = (l: BridgeLeg, s: CallSummary): LegSummary => ({
      side: l.side,
      sipCallId: s.call.sipCallId,
      state: s.call.state,
      ...(s.call.reason ? { reason: s.call.reason } : {}),
      ice: { state: s.ice.state, format: s.ice.format, selectedPair: s.ice.selectedPair },
      codec: s.codec,
      rtp: s.rtp,
    });
    const legs = [leg(this.inbound, inSummary), leg(this.outbound, outSummary)];
    const endpoint = legs.find((l) => l.side === 'endpoint')!;
    const pbx = legs.find((l) => l.side === 'pbx')!;
    const fromEndpoint = this.inbound.side === 'endpoint';
    return {
      bridge: {
        direction: fromEndpoint ? 'endpoint-to-pbx' : 'pbx-to-endpoint',
        target: this.target,
        outcome: this.answered ? 'answered' : 'failed',
        ...(this.mappedStatus !== undefined ? { mappedStatus: this.mappedStatus } : {}),
        ...(this.endedBy ? { endedBy: { ...this.endedBy } } : {}),
        reoffers: { ...this.reoffers },
      },
      endpoint,
      pbx,
      relayed: fromEndpoint
        ? { toPbx: { ...this.toOutbound.stats }, toEndpoint: { ...this.toInbound.stats } }
        : { toPbx: { ...this.toInbound.stats }, toEndpoint: { ...this.toOutbound.stats } },
    };
  }
}
