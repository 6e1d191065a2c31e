/**
 * Per-user-agent hooks on sip.js 0.21.2's `UserAgentCore#receiveIncomingRequestFromTransport`
 * (listed in ./internals.ts): each wraps the method of ONE core instance, never the prototype, so
 * a host application's own sip.js user agents are untouched. The last hook installed runs first.
 */
import type { Core, URI } from 'sip.js';

type UserAgentCore = Core.UserAgentCore;

/**
 * sip.js's core answers 404 to a request whose Request-URI user is not its own AOR's (RFC 3261
 * §8.2.2.1 makes that a SHOULD), which tells a scanner which user exists. With this hook every
 * user reaches the application (`icephone answer` accepts calls to any user, as SIPp's UAS does;
 * `--user` is checked on INVITEs only): for the synchronous dispatch of each request the core's AOR
 * carries the request's user. Nothing else reads the AOR during that dispatch (it only builds the
 * From of new requests).
 */
export function acceptAnyRequestUri(core: UserAgentCore): void {
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

/** A stateless final response in place of sip.js's own. */
export interface StatelessRefusal {
  statusCode: number;
  reasonPhrase: string;
  extraHeaders: string[];
}

/**
 * sip.js answers every OPTIONS with 200 (statelessly, in UserAgentCore). With this hook an
 * out-of-dialog OPTIONS (no To tag) gets `refusal()` instead when it returns one (a draining
 * instance's 503, lib/sip/admission.ts); in-dialog OPTIONS are untouched.
 */
export function refuseOutOfDialogOptions(core: UserAgentCore, refusal: () => StatelessRefusal | undefined): void {
  const next = core.receiveIncomingRequestFromTransport.bind(core);
  core.receiveIncomingRequestFromTransport = (message) => {
    const r = message.method === 'OPTIONS' && !message.toTag ? refusal() : undefined;
    if (!r) return next(message);
    core.replyStateless(message, { statusCode: r.statusCode, reasonPhrase: r.reasonPhrase, extraHeaders: r.extraHeaders });
  };
}
