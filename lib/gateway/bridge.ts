/**
 * One bridged call of the gateway (RFC 7092 terms: a B2BUA joining two dialogs): the inbound leg
 * (the call that reached the gateway, answered only once the outbound leg is) and the outbound leg
 * (the call the gateway placed). Signalling mapped across (RFC 7092 §3.1):
 * - 180/183 on the outbound leg → 180 on the inbound leg (no early media in this slice);
 * - 200 on the outbound leg → the inbound leg is answered;
 * - a 3xx-6xx final on the outbound leg → the same status on the inbound leg (486 → 486), 480 when
 *   the outbound leg failed without one (transport error, timeout);
 * - BYE on either leg → BYE on the other; CANCEL of the inbound leg → CANCEL of the outbound leg.
 * Media: both legs in pass-through, each leg's `onRtp` tap feeding an RtpTranslator to the other.
 */
import { TypedEmitter } from '../base/events.js';
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
  ) {
    super();
    this.toOutbound = new RtpTranslator((p) => outbound.call.media?.sendRtp(p) ?? false, () => ({ from: payloadsOf(inbound.call), to: payloadsOf(outbound.call) }));
    this.toInbound = new RtpTranslator((p) => inbound.call.media?.sendRtp(p) ?? false, () => ({ from: payloadsOf(outbound.call), to: payloadsOf(inbound.call) }));
    inbound.call.useMedia({ passthrough: true, onRtp: (p) => this.toOutbound.relay(p) });
    outbound.call.useMedia({ passthrough: true, onRtp: (p) => this.toInbound.relay(p) });

    const out = outbound.call;
    const inn = inbound.call;
    out.on('alerting', () => void inbound.phone.ring(inn));
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
      if (inn.session.state === 'Initial' || inn.session.state === 'Establishing') void inbound.phone.reject(inn, status).catch(() => undefined);
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
      },
      endpoint,
      pbx,
      relayed: fromEndpoint
        ? { toPbx: { ...this.toOutbound.stats }, toEndpoint: { ...this.toInbound.stats } }
        : { toPbx: { ...this.toInbound.stats }, toEndpoint: { ...this.toOutbound.stats } },
    };
  }
}
