/**
 * The STUN server of draft-rosenberg-sipping-ice-01 §5.2, run on every local transport address of
 * a dialog's media: it answers Binding requests that authenticate with one of the
 * username/password pairs handed out in this dialog's `a=alt` lines and rejects every other one,
 * so a request meant for another dialog (the B/C collision of §5.2: two hosts in different private
 * networks with the same address and port) never looks like connectivity.
 *
 * Pure apart from the `send` callback: the alt engine feeds it the decoded requests of each socket.
 */
import { formatAddress, type TransportAddress } from '../net/socket.js';
import { encodeLegacyErrorResponse, encodeLegacySuccessResponse, judgeLegacyRequest } from './legacy.js';
import type { StunMessage } from './message.js';
import type { ErrorResponseLimiter } from './error-response-limiter.js';

/** One username/password handed out (one per alternate, draft §7 RECOMMENDS distinct ones). */
export interface StunServerCredential {
  username: string;
  password: string;
  /** What the credential was handed out for (the alternate's id). */
  id: string;
}

export interface StunServerStats {
  accepted: number;
  rejected: number;
  /** Rejections because the USERNAME is not one of this dialog's (another dialog's checks). */
  unknownUsername: number;
  /** Rejections left unanswered because the error response rate limit was reached (counted in `rejected` too). */
  rateLimited: number;
}

export type StunServerResult =
  | { kind: 'accepted'; credential: StunServerCredential }
  | { kind: 'rejected'; code: number; reason: string };

export class DialogStunServer {
  private readonly credentials = new Map<string, StunServerCredential>();
  readonly stats: StunServerStats = { accepted: 0, rejected: 0, unknownUsername: 0, rateLimited: 0 };

  /**
   * @param limiter rate limit for the error responses (every rejection here is of a request that did
   *   not authenticate, or named none of our credentials); absent: no limit.
   */
  constructor(private readonly limiter?: ErrorResponseLimiter) {}

  /** Hands out (or keeps) a credential; the same username always maps to one password. */
  add(credential: StunServerCredential): void {
    this.credentials.set(credential.username, { ...credential });
  }

  /** Withdraws a credential (its alternate was freed): later requests with it get 430. */
  remove(username: string): void {
    this.credentials.delete(username);
  }

  has(username: string): boolean {
    return this.credentials.has(username);
  }

  /**
   * Answers one Binding request that arrived on `receivedOn` from `from`, sending the response
   * through `send` (back to `from`, from the same socket, as RFC 3489 §8.2.1 requires).
   */
  handle(request: StunMessage, from: TransportAddress, receivedOn: { address: string; port: number }, send: (bytes: Buffer, to: TransportAddress) => void): StunServerResult {
    const verdict = judgeLegacyRequest(request, (username) => this.credentials.get(username));
    if (verdict.kind === 'reject') {
      this.stats.rejected++;
      if (verdict.code === 430) this.stats.unknownUsername++;
      if (this.limiter && !this.limiter.allow(from)) {
        this.stats.rateLimited++;
      } else {
        // The reason stays with the caller (logs); the wire gets an empty reason phrase (RFC 3489
        // §11.2.9 allows any multiple of 4 bytes, zero included), so the answer stays small.
        send(encodeLegacyErrorResponse(request, verdict.code, '', { unknownAttributes: verdict.unknownAttributes }), from);
      }
      return { kind: 'rejected', code: verdict.code, reason: `${verdict.reason} (request from ${formatAddress(from)})` };
    }
    this.stats.accepted++;
    send(encodeLegacySuccessResponse(request, from, receivedOn, verdict.credential.password), from);
    return { kind: 'accepted', credential: verdict.credential };
  }
}
