/**
 * A user agent that never answers a digest challenge itself (the PBX gateway's PBX side, a B2BUA
 * holding nobody's credentials): sip.js 0.21.2 otherwise retries every request challenged with
 * 401/407 once, with the UserAgent's `authorizationUsername` (default its URI's user) and an empty
 * password (RFC 3261 §8.1.3.5 makes the retry a SHOULD for a UA that has credentials). With the
 * core's authentication factory returning none, `UserAgentClient.authenticationGuard` hands the
 * 401/407 to the request's delegate (`onReject`) as a final response, so the caller can pass the
 * challenge on to whoever owns the credentials.
 *
 * sip.js API used: `UserAgent.userAgentCore.configuration.authenticationFactory` (public in its
 * typings; the configuration object is read on each challenge).
 */
import type { UserAgent } from 'sip.js';

/** Makes every 401/407 to a request of `ua` final (no automatic retry with credentials). */
export function disableDigestRetry(ua: UserAgent): void {
  ua.userAgentCore.configuration.authenticationFactory = () => undefined;
}
