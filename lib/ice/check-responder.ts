import type { Logger } from '../base/log.js';
import { formatAddress, type TransportAddress } from '../net/socket.js';
import type { ErrorResponseLimiter } from '../stun/error-response-limiter.js';
import type { StunMessage } from '../stun/message.js';
import type { Candidate } from './candidate.js';
import type { IceRole } from './candidate-pair.js';
import { encodeErrorResponse, encodeSuccessResponse, judgeIncomingCheck, resolveRoleConflict } from './connectivity-check.js';
import type { LocalBase } from './gatherer.js';

/**
 * The answering half of connectivity checks (RFC 8445 §7.3): authenticate the request (short-term
 * credentials, RFC 8489 §9.1.3), resolve role conflicts (§7.3.1.1), send the success response
 * (§7.3.1.2) and learn peer-reflexive remote candidates (§7.3.1.3). What the request means for
 * the check list (triggered check §7.3.1.4, nomination §7.3.1.5) is the agent's to decide.
 */

export interface ResponderContext {
  localUfrag: string;
  localPwd: string;
  /** Known once signalled (checks may arrive before the answer, RFC 8445 §7.3). */
  remoteUfrag?: string;
  role: IceRole;
  tieBreaker: bigint;
  /** Lite agents never change role (RFC 8445 §7.3.1.1 applies to full agents). */
  lite: boolean;
  /** Switches the agent's role (§7.3.1.1). */
  switchRole(role: IceRole): void;
  /** The remote candidate of `component` with this transport address, signalled or learned. */
  findRemote(component: number, from: TransportAddress): Candidate | undefined;
  /** Records a new peer-reflexive remote candidate. */
  addRemote(candidate: Candidate): void;
}

export type ResponderOutcome =
  /** Answered with a success response; `remote` is the source as a remote candidate. */
  | { kind: 'answered'; remote: Candidate; useCandidate: boolean; learned: boolean }
  /** Answered with an error (400/401/420/487) or dropped. */
  | { kind: 'refused' };

export interface CheckResponderStats {
  checksReceived: number;
  malformedDropped: number;
  integrityFailures: number;
  roleConflicts: number;
  unauthorized401Sent: number;
  /** Unauthenticated requests (400/401) left unanswered because the error response rate limit was reached. */
  errorResponsesSuppressed: number;
}

/** RFC 8489 §14.8 reason phrases, used for the errors we sign (the request authenticated). */
const STANDARD_REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthenticated', 420: 'Unknown Attribute', 487: 'Role Conflict' };

export class CheckResponder {
  private remotePrflxCount = 0;

  /**
   * @param limiter rate limit for error responses to requests that did not authenticate (400/401);
   *   absent: no limit. Authenticated errors (420, 487) are never limited.
   */
  constructor(private readonly stats: CheckResponderStats, private readonly log: Logger, private readonly limiter?: ErrorResponseLimiter) {}

  respond(base: LocalBase, msg: StunMessage, from: TransportAddress, ctx: ResponderContext): ResponderOutcome {
    this.stats.checksReceived++;
    const verdict = judgeIncomingCheck(msg, { localUfrag: ctx.localUfrag, localPwd: ctx.localPwd, remoteUfrag: ctx.remoteUfrag });
    if (verdict.kind === 'drop') {
      this.stats.malformedDropped++;
      this.log.debug(`dropped request from ${formatAddress(from)}: ${verdict.reason}`);
      return { kind: 'refused' };
    }
    if (verdict.kind === 'reject') {
      if (!verdict.authenticated && this.limiter && !this.limiter.allow(from)) {
        this.stats.errorResponsesSuppressed++;
        this.log.debug(`not answering ${verdict.code} to ${formatAddress(from)} (rate limit): ${verdict.reason}`);
        return { kind: 'refused' };
      }
      if (verdict.code === 401) this.stats.unauthorized401Sent++;
      if (verdict.integrityFailure) this.stats.integrityFailures++;
      this.log.debug(`answering ${verdict.code} to ${formatAddress(from)}: ${verdict.reason}`);
      // The long reason stays in the log; on the wire an unauthenticated request gets an empty
      // reason phrase (RFC 8489 §14.8 allows it), so the answer is no larger than it must be.
      base.socket.send(encodeErrorResponse(msg, verdict.code, verdict.authenticated ? STANDARD_REASON[verdict.code] : '', {
        localPwd: verdict.authenticated ? ctx.localPwd : undefined, unknownAttributes: verdict.unknownAttributes,
      }), from);
      return { kind: 'refused' };
    }
    const conflict = ctx.lite ? 'none' : resolveRoleConflict(ctx.role, ctx.tieBreaker, verdict);
    if (conflict !== 'none') {
      this.stats.roleConflicts++;
      if (conflict === 'reject-487') {
        this.log.debug(`role conflict with ${formatAddress(from)}: answering 487`);
        base.socket.send(encodeErrorResponse(msg, 487, 'Role Conflict', { localPwd: ctx.localPwd }), from);
        return { kind: 'refused' };
      }
      ctx.switchRole(conflict === 'switch-to-controlled' ? 'controlled' : 'controlling');
    }
    base.socket.send(encodeSuccessResponse(msg, from, ctx.localPwd), from);
    const component = base.candidate.component;
    let remote = ctx.findRemote(component, from);
    let learned = false;
    if (!remote) {
      // RFC 8445 §7.3.1.3: a peer-reflexive remote candidate, priority from PRIORITY, fresh foundation.
      remote = {
        foundation: `prflx${++this.remotePrflxCount}`,
        component, transport: 'udp', priority: verdict.priority, address: from.address, port: from.port, type: 'prflx',
      };
      ctx.addRemote(remote);
      learned = true;
    }
    return { kind: 'answered', remote, useCandidate: verdict.useCandidate, learned };
  }
}
