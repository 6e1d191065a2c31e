/**
 * Guards around sip.js 0.21.2 behaviour that would crash the process. Installed once by
 * `installSipJsAdapter()` (./install.ts) when the first Phone starts, never on import. Each fix
 * names the sip.js code it wraps, so upgrading the pinned version means re-checking this file.
 */
import { Invitation, SessionState } from 'sip.js';

interface InvitationInternals {
  onAckTimeout(): void;
  state: SessionState;
}

let installed = false;

export function installAckTimeoutGuard(): void {
  if (installed) return;
  installed = true;
  const proto = Invitation.prototype as unknown as InvitationInternals;
  const onAckTimeout = proto.onAckTimeout;
  // api/invitation.js onAckTimeout(): when the ACK for our 2xx never came but the session already
  // ended (a BYE arrived first, as happens when the ACK is lost on UDP), sip.js sends a BYE on the
  // dead dialog and throws "Invalid state transition from Terminated to Terminated" from a timer,
  // an uncaught exception. RFC 3261 §13.3.1.4 only asks to end a session still alive.
  proto.onAckTimeout = function (this: InvitationInternals) {
    if (this.state === SessionState.Terminated || this.state === SessionState.Terminating) return;
    onAckTimeout.call(this);
  };
}

