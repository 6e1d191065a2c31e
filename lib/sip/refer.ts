/**
 * Call transfer by REFER (RFC 3515; blind transfer as RFC 5589 §6 describes): the transferor sends
 * REFER with Refer-To and follows the implicit subscription's NOTIFYs, whose `message/sipfrag`
 * bodies carry the status line of the transferee's INVITE to the target (RFC 3515 §2.4.5). Pure
 * helpers here; the Phone wires them to sip.js sessions.
 */
import { ParseError } from '../base/errors.js';

/** What became of a transfer we asked for. */
export interface TransferOutcome {
  /** The Refer-To target. */
  target: string;
  /** The REFER's response: 202 when the transferee accepted to try. */
  referStatus: number;
  /** The last status the transferee reported (sipfrag of its INVITE to the target), if any. */
  finalStatus?: number;
  /** True when the transferee reached the target (a 2xx in a sipfrag). */
  succeeded: boolean;
}

/**
 * The status code of a `message/sipfrag` NOTIFY body (RFC 3420; RFC 3515 §2.4.5: "the body of a
 * NOTIFY MUST begin with a SIP Response Status-Line").
 * @throws ParseError when the body does not start with a status line.
 */
export function sipfragStatus(body: string): number {
  const m = /^SIP\/2\.0 (\d{3})(?: [^\r\n]*)?(?:\r?\n|$)/.exec(body.trimStart());
  if (!m) throw new ParseError(`sipfrag does not start with a SIP status line: ${JSON.stringify(body.slice(0, 40))}`, 'NOTIFY body');
  return Number(m[1]);
}

/**
 * Whether a NOTIFY reports the end of the transfer: its sipfrag is a final response (RFC 3515
 * §2.4.5). A `Subscription-State: terminated` on a provisional one does not count: sip.js 0.21
 * writes `terminated` on every NOTIFY, 100 Trying included (RFC 3515 §2.4.7 wants `active` until
 * the final one), so the transferor waits for a final status (bounded by the caller's timer).
 */
export function notifyIsFinal(_subscriptionState: string | undefined, status: number | undefined): boolean {
  return status !== undefined && status >= 200;
}

/** How long a transferor waits for a final NOTIFY after the REFER was accepted: Timer B/F, 64*T1 (RFC 3261 §17.1.1.2). */
export const TRANSFER_FINAL_TIMEOUT_MS = 32_000;
