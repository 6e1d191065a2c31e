/**
 * Timing of TURN permission and channel upkeep (pure: no clock, no state).
 *
 * RFC 8656 §9: "permissions ... [have] a lifetime of 300 seconds"; §9.1 / §12.1: the client keeps
 * a permission or a channel binding by repeating CreatePermission or ChannelBind before it
 * lapses; §12: "A channel binding lasts for 10 minutes unless refreshed". Neither section says how
 * to retry a failed refresh, so the client derives a bounded back-off from the lifetime:
 *
 * - refresh one minute before expiry (at 4 minutes for a permission, 9 for a channel);
 * - after a failure, retry after lifetime/60 (5 s, 10 s), doubling per consecutive failure,
 *   never longer than lifetime/10 (30 s, 60 s);
 * - while the binding still holds, never later than half the time it has left (at least 1 s),
 *   so the last attempts land before it lapses;
 * - once it has lapsed the client stops using it (no ChannelData on a channel the server dropped)
 *   and binds again only when there is something to send, still no sooner than the back-off.
 */

export const PERMISSION_LIFETIME_MS = 300_000;
export const CHANNEL_LIFETIME_MS = 600_000;
/** How long before expiry a permission or channel is refreshed. */
export const REFRESH_MARGIN_MS = 60_000;
/** Shortest retry delay, however little time is left. */
export const MIN_RETRY_MS = 1000;

/** When to refresh a binding installed by a request first sent at `sentAt` (ms). */
export function refreshAt(sentAt: number, lifetimeMs: number): number {
  return sentAt + lifetimeMs - REFRESH_MARGIN_MS;
}

/**
 * Delay before the next attempt after `failures` (>= 1) consecutive failures of a binding of
 * `lifetimeMs`, with `remainingMs` left before it lapses (<= 0: already lapsed).
 */
export function retryDelay(lifetimeMs: number, failures: number, remainingMs: number): number {
  const first = lifetimeMs / 60;
  const cap = lifetimeMs / 10;
  const backoff = Math.min(cap, first * 2 ** Math.max(0, Math.min(failures - 1, 16)));
  if (remainingMs <= 0) return backoff;
  return Math.max(MIN_RETRY_MS, Math.min(backoff, remainingMs / 2));
}
