/**
 * The one place where icephone changes sip.js 0.21.2 process-wide (DESIGN.md "sip.js: what it
 * gives and what we add"). `installSipJsAdapter()` runs when the first Phone is made; importing
 * icephone changes nothing. What it installs, each idempotent:
 * - the ACK-timeout guard (./ack-timeout-guard.ts): `Invitation.prototype.onAckTimeout`;
 * - the fast parse path (./fast-parser.ts): `Grammar.parse`, equal in results to the stock one,
 *   unless `ICEPHONE_STOCK_SIP_PARSER=1`;
 * - `Inviter.prototype.notifyReferer` (./refer-notify.ts): REFER progress NOTIFYs say `active`
 *   until the final status (RFC 3515 §2.4.7);
 * - `Session.prototype.onReferRequest` (./refer-request-guard.ts): a REFER without exactly one
 *   Refer-To gets 400 with a Warning (sip.js answered 480);
 * - `DigestAuthentication.prototype.authenticate` (./digest-sha256.ts): SHA-256 challenges
 *   (RFC 8760) answered as well as MD5 ones;
 * - the header accessors of `IncomingMessage` and `OutgoingRequestMessage` (./header-names.ts):
 *   the same methods with sip.js's header-name normalisation memoised (issue 14).
 * sip.js's module-level `AllowedMethods` is left alone (a host application's UserAgents share it):
 * each Phone rewrites the Allow header of what it sends instead (./allow-header.ts).
 * Per-user-agent hooks (UPDATE dispatch, Allow, reliable provisionals, any-user Request-URI) are
 * installed on that user agent's own core objects by the Phone, not here.
 * The internals touched, here and in ./update.ts, ./reliable-provisional.ts, ./request-gate.ts,
 * ../precondition-call.ts and ../user-agent.ts, are listed in ./internals.ts and checked against the
 * pinned sip.js by test/sip/sipjs-internals.test.ts.
 */
import { installFastSipParser } from './fast-parser.js';
import { installAckTimeoutGuard } from './ack-timeout-guard.js';
import { installDigestSha256 } from './digest-sha256.js';
import { installHeaderNameMemo } from './header-names.js';
import { installReferNotifyFix } from './refer-notify.js';
import { installReferRequestGuard } from './refer-request-guard.js';

let installed = false;

/** Applies icephone's sip.js changes once per process. Safe to call repeatedly. */
export function installSipJsAdapter(): void {
  if (installed) return;
  installed = true;
  installAckTimeoutGuard();
  installReferNotifyFix();
  installReferRequestGuard();
  installDigestSha256();
  installHeaderNameMemo();
  if (process.env.ICEPHONE_STOCK_SIP_PARSER !== '1') installFastSipParser();
}

/** Whether `installSipJsAdapter()` has run in this process. */
export function sipJsAdapterInstalled(): boolean {
  return installed;
}
