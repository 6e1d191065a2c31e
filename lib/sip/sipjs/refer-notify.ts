/**
 * sip.js 0.21.2's `Inviter#notifyReferer` (api/inviter.js) reports the progress of an INVITE that a
 * REFER asked for with NOTIFYs that all say `Subscription-State: terminated`, 100 Trying included.
 * RFC 3515 §2.4.7 / RFC 6665 §4.1.3: the subscription is `active` until the final response, then
 * `terminated`. This replacement sends the same sipfrag with the right state. Installed by
 * `installSipJsAdapter()` (./install.ts).
 */
import { Inviter, Session } from 'sip.js';

interface InviterInternals {
  _referred?: Session & { dialog?: { notify(delegate: unknown, options: unknown): { delegate?: unknown } } };
  notifyReferer(response: { message: { statusCode?: number; reasonPhrase?: string } }): void;
}

let installed = false;

export function installReferNotifyFix(): void {
  if (installed) return;
  installed = true;
  const proto = Inviter.prototype as unknown as InviterInternals;
  proto.notifyReferer = function (this: InviterInternals, response) {
    const referred = this._referred;
    if (!referred || !(referred instanceof Session) || !referred.dialog) return;
    const statusCode = response.message.statusCode;
    if (!statusCode) return;
    const body = `SIP/2.0 ${statusCode} ${response.message.reasonPhrase ?? ''}`.trim();
    const state = statusCode < 200 ? 'active;expires=60' : 'terminated;reason=noresource';
    const request = referred.dialog.notify(undefined, {
      extraHeaders: ['Event: refer', `Subscription-State: ${state}`],
      body: { contentDisposition: 'render', contentType: 'message/sipfrag', content: body },
    });
    // As sip.js does: a rejected NOTIFY ends the reports (RFC 3515 §2.4.4).
    request.delegate = { onReject: () => { this._referred = undefined; } };
  };
}
