/**
 * Frees an ended incoming call's memory before sip.js 0.21.2 lets go of its INVITE transaction.
 *
 * sip.js keeps an incoming INVITE's user agent server (core/user-agents/user-agent-server.js) in
 * `UserAgentCore#userAgentServers` until its INVITE server transaction terminates; after a 2xx that
 * is Timer L, 64·T1 = 32 s (RFC 6026 §8.7: the Accepted state absorbs retransmitted INVITEs). The
 * server's `delegate` (set by `Invitation`: `onCancel`, `onTransportError`), and the delegate of the
 * dialog it keeps (`confirmedDialog`, `earlyDialog`: `onAck`, `onBye`, ...; the dialog itself is
 * disposed when the session ends) close over the Invitation, and through it over the Call, its MediaSession, RTP session, ICE agent and SDP. So
 * every answered call stayed in memory for 32 s after the answer, whatever its length: at 100
 * calls/s, about 3,200 ended calls at a time (issue 14, heap snapshots under SIPp load).
 *
 * Once the session has ended, none of these callbacks has anything left to do: a CANCEL after the
 * final response changes nothing (RFC 3261 §9.2), a transport error on a retransmission of the
 * final response concerns a session that is over, and the disposed dialog gets no more requests
 * (the core no longer routes to it). The transaction itself keeps running (it still absorbs
 * retransmitted INVITEs); only the link to the call is cut.
 *
 * Internals used (instance fields, so checked by the e2e and unit calls rather than a prototype):
 * `Invitation#incomingInviteRequest`, `UserAgentServer#delegate`, `InviteUserAgentServer#confirmedDialog`
 * and `#earlyDialog`, `Dialog#delegate`.
 */
import { Invitation, SessionState } from 'sip.js';

interface DialogInternals {
  delegate?: unknown;
}

interface InvitationInternals {
  incomingInviteRequest?: { delegate?: unknown; confirmedDialog?: DialogInternals; earlyDialog?: DialogInternals };
}

/**
 * Drops the ended `invitation`'s user agent server delegate (see the file comment).
 * @returns true when a delegate was dropped; false when the session has not ended or there was none.
 */
export function releaseEndedInvitation(invitation: Invitation): boolean {
  if (invitation.state !== SessionState.Terminated) return false;
  const server = (invitation as unknown as InvitationInternals).incomingInviteRequest;
  if (!server) return false;
  let dropped = false;
  // The server's own delegate, and that of the (disposed) dialog it keeps: Invitation set both.
  for (const holder of [server, server.confirmedDialog, server.earlyDialog]) {
    if (holder && holder.delegate !== undefined) {
      holder.delegate = undefined;
      dropped = true;
    }
  }
  return dropped;
}
