/**
 * Every sip.js 0.21.2 internal (not in its public typings, or private/protected there) that
 * icephone reads or replaces, with where it is used. test/sip/sipjs-internals.test.ts checks each
 * against the installed sip.js and fails naming the one that moved, so a version bump is caught
 * before a call breaks. Instance fields (`Invitation#incomingInviteRequest`, `Invitation#_dialog`,
 * `UserAgentCore#userAgentClients`, `UserAgentCore#userAgentServers` (request-gate.ts, merged-request-index.ts), `Dialog#dialogState`, `UserAgentClient#credentials` (register-relay.ts)) have no prototype to check: the
 * interop and e2e calls exercise them.
 */
import { Core, Grammar, Invitation, Inviter, Session } from 'sip.js';
import { DigestAuthentication } from 'sip.js/lib/core/messages/digest-authentication.js';

export interface SipJsInternal {
  /** `Class#member` as written in sip.js's lib/. */
  name: string;
  /** Where icephone relies on it. */
  usedBy: string;
  /** True when the internal is present with the expected kind. */
  present(): boolean;
}

const isFunction = (v: unknown) => typeof v === 'function';

export const SIPJS_INTERNALS: readonly SipJsInternal[] = [
  { name: 'Invitation.prototype.onAckTimeout', usedBy: 'sipjs/ack-timeout-guard.ts', present: () => isFunction((Invitation.prototype as unknown as Record<string, unknown>).onAckTimeout) },
  { name: 'Inviter.prototype.notifyReferer', usedBy: 'sipjs/refer-notify.ts', present: () => isFunction((Inviter.prototype as unknown as Record<string, unknown>).notifyReferer) },
  { name: 'Session.prototype.onReferRequest', usedBy: 'sipjs/refer-request-guard.ts', present: () => isFunction((Session.prototype as unknown as Record<string, unknown>).onReferRequest) },
  { name: 'DigestAuthentication.prototype.authenticate', usedBy: 'sipjs/digest-sha256.ts', present: () => isFunction((DigestAuthentication.prototype as unknown as Record<string, unknown>).authenticate) },
  { name: 'Grammar.parse', usedBy: 'sipjs/fast-parser.ts', present: () => isFunction((Grammar as unknown as Record<string, unknown>).parse) },
  ...['addHeader', 'getHeader', 'getHeaders', 'hasHeader', 'parseHeader', 'setHeader'].map((m) => ({
    name: `Core.IncomingMessage.prototype.${m}`, usedBy: 'sipjs/header-names.ts', present: () => isFunction((Core.IncomingMessage.prototype as unknown as Record<string, unknown>)[m]),
  })),
  ...['getHeader', 'getHeaders', 'hasHeader', 'setHeader'].map((m) => ({
    name: `Core.OutgoingRequestMessage.prototype.${m}`, usedBy: 'sipjs/header-names.ts', present: () => isFunction((Core.OutgoingRequestMessage.prototype as unknown as Record<string, unknown>)[m]),
  })),
  { name: 'Core.Dialog.prototype.receiveRequest', usedBy: 'sipjs/update.ts', present: () => isFunction(Core.Dialog.prototype.receiveRequest) },
  { name: 'Core.Dialog#sequenceGuard', usedBy: 'sipjs/update.ts', present: () => isFunction((Core.Dialog.prototype as unknown as Record<string, unknown>).sequenceGuard) },
  { name: 'Core.UserAgentCore#receiveIncomingRequestFromTransport', usedBy: 'sipjs/core-request-hooks.ts', present: () => isFunction((Core.UserAgentCore.prototype as unknown as Record<string, unknown>).receiveIncomingRequestFromTransport) },
  { name: 'Core.UserAgentCore#receiveIncomingRequestFromTransport (auth gate)', usedBy: 'sipjs/request-gate.ts', present: () => isFunction((Core.UserAgentCore.prototype as unknown as Record<string, unknown>).receiveIncomingRequestFromTransport) },
  { name: 'Core.UserAgentCore#replyStateless', usedBy: 'sipjs/request-gate.ts', present: () => isFunction((Core.UserAgentCore.prototype as unknown as Record<string, unknown>).replyStateless) },
  { name: 'Core.UserAgentCore#receiveRequest', usedBy: 'sipjs/update.ts, sipjs/merged-request-index.ts', present: () => isFunction((Core.UserAgentCore.prototype as unknown as Record<string, unknown>).receiveRequest) },
  { name: 'Core.InviteClientTransaction', usedBy: 'sipjs/update.ts', present: () => isFunction(Core.InviteClientTransaction) },
  { name: 'Core.NameAddrHeader', usedBy: 'sipjs/update.ts', present: () => isFunction(Core.NameAddrHeader) },
  { name: 'Session.prototype.onInviteRequest', usedBy: 'sipjs/reinvite-refusal.ts', present: () => isFunction((Session.prototype as unknown as Record<string, unknown>).onInviteRequest) },
  { name: 'Session#generateResponseOfferAnswer', usedBy: 'sipjs/session-internals.ts (reliable 183)', present: () => isFunction((Session.prototype as unknown as Record<string, unknown>).generateResponseOfferAnswer) },
];

/** The internals missing from the installed sip.js (empty when all are there). */
export function missingSipJsInternals(): string[] {
  return SIPJS_INTERNALS.filter((i) => !i.present()).map((i) => `${i.name} (used by lib/sip/${i.usedBy})`);
}
