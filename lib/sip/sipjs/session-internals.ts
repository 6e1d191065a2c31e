/**
 * Typed access to the sip.js 0.21.2 session internals icephone reads (each listed in
 * ./internals.ts and checked against the pinned sip.js by test/sip/sipjs-internals.test.ts):
 * nowhere else in lib/ is a sip.js object cast to what its typings do not say.
 */
import type { Core, Invitation, Session } from 'sip.js';

/** The SIP dialog of a session (`Session#dialog` is typed as the API's Dialog; it is the core's SessionDialog). */
export function sessionDialogOf(session: Session): Core.SessionDialog | undefined {
  return session.dialog as unknown as Core.SessionDialog | undefined;
}

/** The early or confirmed dialog a provisional or 2xx response created (`IncomingResponse#session`, present for dialog-creating responses). */
export function responseDialogOf(response: object): Core.SessionDialog | undefined {
  return (response as { session?: Core.SessionDialog }).session;
}

/** The Call-ID of a session: `Invitation#request` or `Inviter#outgoingRequestMessage`. */
export function sessionCallId(session: Session): string {
  const s = session as unknown as { request?: { callId?: string }; outgoingRequestMessage?: { callId?: string } };
  return s.request?.callId ?? s.outgoingRequestMessage?.callId ?? '';
}

/**
 * Our SDP answer (or offer) for a response to the INVITE, made the way sip.js makes it for its own
 * responses (`Session#generateResponseOfferAnswer`, protected): used for the reliable 183 that
 * sip.js cannot send itself.
 */
export function generateResponseBody(invitation: Invitation, request: Core.IncomingInviteRequest): Promise<Core.Body | undefined> {
  const i = invitation as unknown as { generateResponseOfferAnswer(r: Core.IncomingInviteRequest, o: object): Promise<Core.Body | undefined> };
  return i.generateResponseOfferAnswer(request, {});
}

/** Whether a BYE of ours is still in its client transaction (`UserAgentCore#userAgentClients`, private). */
export function byeInProgress(core: Core.UserAgentCore): boolean {
  const clients = (core as unknown as { userAgentClients: Map<string, { message: { method: string }; transaction: { state: string } }> }).userAgentClients;
  return [...clients.values()].some((u) => u.message.method === 'BYE' && (u.transaction.state === 'Trying' || u.transaction.state === 'Proceeding'));
}
