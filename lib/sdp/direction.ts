/**
 * Media direction in offer/answer (RFC 3264 §5.1, §6.1, §8.4; RFC 6337 §5 for hold). Pure.
 * Directions are from the writer's point of view: `sendonly` in the peer's SDP means the peer
 * sends and does not want to receive.
 */
import type { MediaDirection } from './offer-answer.js';

export type { MediaDirection } from './offer-answer.js';

const SENDS: Record<MediaDirection, boolean> = { sendrecv: true, sendonly: true, recvonly: false, inactive: false };
const RECEIVES: Record<MediaDirection, boolean> = { sendrecv: true, sendonly: false, recvonly: true, inactive: false };

export function sends(d: MediaDirection): boolean { return SENDS[d]; }
export function receives(d: MediaDirection): boolean { return RECEIVES[d]; }

function fromFlags(send: boolean, recv: boolean): MediaDirection {
  return send ? (recv ? 'sendrecv' : 'sendonly') : recv ? 'recvonly' : 'inactive';
}

/**
 * The direction a peer's description really asks for. RFC 3264 §8.4 (and RFC 2543 before it): a
 * connection address of 0.0.0.0 (or `::`) on a stream that is not rejected means "do not send to
 * me", the old form of hold; read as the stated direction without its receive part.
 */
export function effectiveDirection(description: { direction: MediaDirection; address: string; port: number }): MediaDirection {
  const nullAddress = description.address === '0.0.0.0' || description.address === '::';
  if (!nullAddress || description.port === 0) return description.direction;
  return fromFlags(sends(description.direction), false);
}

/**
 * RFC 3264 §6.1: the answer's direction for an offered one, given what we want (`wanted`:
 * `sendrecv` normally, `sendonly` while we hold). "If a stream is offered as sendonly, the
 * corresponding stream MUST be marked as recvonly or inactive in the answer"; recvonly → sendonly
 * or inactive; inactive → inactive; sendrecv → any of the four.
 */
export function answerDirection(offered: MediaDirection, wanted: MediaDirection): MediaDirection {
  return fromFlags(receives(offered) && sends(wanted), sends(offered) && receives(wanted));
}

/**
 * The direction of our offer (RFC 6337 §5.1-§5.3): `sendrecv`; `sendonly` to put the peer on hold;
 * while the peer holds us (its last offer was sendonly or inactive) `recvonly`, or `inactive` when
 * both hold.
 */
export function offerDirection(localHold: boolean, peerHolds: boolean): MediaDirection {
  return fromFlags(true, !localHold) === 'sendrecv' && peerHolds ? 'recvonly' : peerHolds ? 'inactive' : localHold ? 'sendonly' : 'sendrecv';
}

/** Whether RTP may be sent once both sides wrote these directions (ours, the peer's effective one). */
export function mediaFlows(ours: MediaDirection, theirs: MediaDirection): { send: boolean; receive: boolean } {
  return { send: sends(ours) && receives(theirs), receive: receives(ours) && sends(theirs) };
}
