/**
 * The `Reason` header (RFC 3326) icephone puts on a BYE when it ends a call because the media died
 * (ICE failed after connecting, consent lost: RFC 7675 §5.1), on the Phone and on both legs of a
 * gateway bridge alike:
 *
 *   Reason: Q.850;cause=41;text="consent expired"
 *
 * Q.850 cause 41 is "Temporary failure" (ITU-T Q.850 §2.2.7: the network is not functioning
 * correctly and the condition is not likely to last long), the closest ISDN cause for a media path
 * that stopped answering; RFC 3326 §2 lets any listed protocol's cause appear in a BYE. The text is
 * the media layer's own reason (lib/ice/agent.ts `failureReason`), as a quoted-string.
 */

/** Q.850 cause of a call ended because its media path died. */
export const MEDIA_FAILURE_Q850_CAUSE = 41;

/** `text` as an RFC 3261 §25.1 quoted-string: backslash and quote escaped, controls dropped. */
function quoted(text: string): string {
  return `"${text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The header line for a BYE ending a call whose media failed because of `reason`, e.g. `Reason: Q.850;cause=41;text="consent expired"`. */
export function mediaFailureReason(reason: string): string {
  return `Reason: Q.850;cause=${MEDIA_FAILURE_Q850_CAUSE};text=${quoted(reason || 'media failed')}`;
}

/** The cause and text of a `Reason` header value (RFC 3326 §2), or undefined when it does not parse. */
export function parseReason(value: string): { protocol: string; cause?: number; text?: string } | undefined {
  const m = /^\s*([A-Za-z0-9.\-]+)\s*((?:;[^;"]*(?:"(?:[^"\\]|\\.)*")?)*)\s*$/.exec(value);
  if (!m) return undefined;
  const out: { protocol: string; cause?: number; text?: string } = { protocol: m[1]! };
  for (const p of m[2]!.matchAll(/;\s*([a-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)/gi)) {
    const name = p[1]!.toLowerCase();
    const v = p[2]!;
    if (name === 'cause' && /^\d+$/.test(v)) out.cause = Number(v);
    if (name === 'text') out.text = v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
  }
  return out;
}
