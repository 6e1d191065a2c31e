/**
 * The status of a refused re-INVITE (sip.js 0.21.2). sip.js answers every re-INVITE whose offer it
 * could not answer with 488 (`Session#onInviteRequest`, its catch branch), whatever the reason. A
 * B2BUA refuses a re-INVITE with the status its other leg got (RFC 7092 §3.2: a 491 on the far
 * leg is a 491 on the near one), so the session's `onInviteRequest` (a per-instance arrow passed
 * by Invitation/Inviter to the dialog delegate, listed in ./internals.ts) is wrapped: the
 * `reject` of that request takes the status `statusOf()` names, when it names one.
 */
import type { Core, Session } from 'sip.js';

const wrapped = Symbol('icephone.reinviteRefusalStatus');

interface ReinviteReceiver {
  onInviteRequest(request: Core.IncomingInviteRequest): void;
}

/**
 * Makes the re-INVITEs of `session` refused with `statusOf()` (300..699) instead of sip.js's 488;
 * undefined keeps 488. Installing twice on one session wraps once.
 */
export function useReinviteRefusalStatus(session: Session, statusOf: () => number | undefined): void {
  const s = session as unknown as ReinviteReceiver & { [wrapped]?: true };
  if (s[wrapped]) return;
  s[wrapped] = true;
  const original = s.onInviteRequest.bind(session);
  s.onInviteRequest = (request) => {
    const reject = request.reject.bind(request);
    request.reject = (options) => {
      const status = statusOf();
      return reject(status !== undefined && status >= 300 && status <= 699 ? { ...options, statusCode: status } : options);
    };
    original(request);
  };
}
