/**
 * sip.js 0.21.2's `Session#onReferRequest` (api/session.js) answers a REFER without Refer-To with
 * its default rejection, 480 Temporarily Unavailable, which says nothing of the fault. RFC 3515
 * §2.4.1: "A REFER request MUST contain exactly one Refer-To header field value"; such a request
 * is a client error: 400 with a Warning saying why (RFC 3261 §20.43). One with several Refer-To
 * values likewise. Installed by `installSipJsAdapter()` (./install.ts).
 */
import { Session } from 'sip.js';
import { warningHeader } from '../warning.js';

interface IncomingReferLike {
  message: { hasHeader(name: string): boolean; getHeaders(name: string): string[] };
  reject(options: { statusCode: number; reasonPhrase?: string; extraHeaders?: string[] }): void;
}

interface SessionInternals {
  onReferRequest(request: IncomingReferLike): void;
}

let installed = false;
/** REFERs refused by this guard, process-wide (for tests and counters). */
export const referGuardStats = { refused: 0 };

export function installReferRequestGuard(): void {
  if (installed) return;
  installed = true;
  const proto = Session.prototype as unknown as SessionInternals;
  const original = proto.onReferRequest;
  proto.onReferRequest = function (this: SessionInternals, request: IncomingReferLike) {
    const values = request.message.getHeaders('refer-to').flatMap((v) => v.split(/,(?![^<]*>)/)).filter((v) => v.trim() !== '');
    if (values.length !== 1) {
      referGuardStats.refused++;
      const why = values.length === 0 ? 'REFER without Refer-To (RFC 3515 §2.4.1)' : 'REFER with several Refer-To values (RFC 3515 §2.4.1)';
      request.reject({ statusCode: 400, reasonPhrase: 'Bad Request', extraHeaders: [warningHeader(why)] });
      return;
    }
    original.call(this, request);
  };
}
