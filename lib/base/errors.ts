/** Typed errors used across icephone. Messages are never empty. */

/** Input that does not follow its grammar. `where` names the field or offset that failed. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(message: string, readonly where?: string | number) {
    super(where === undefined ? message : `${message} (at ${where})`);
  }
}

/** An operation asked of a state machine in a state that does not allow it. */
export class StateError extends Error {
  override readonly name = 'StateError';
}

/** A transaction or procedure that ran out of time. `afterMs` is how long it waited. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(message: string, readonly afterMs?: number) {
    super(message);
  }
}

/** A bad command-line flag, URI or option: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A SIP request refused by the peer with a final 3xx-6xx `statusCode` (e.g. a re-INVITE answered
 * 491 Request Pending or 488 Not Acceptable Here). A B2BUA maps the status to its other leg.
 */
export class RequestRefusedError extends Error {
  override readonly name = 'RequestRefusedError';
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/** Message of any thrown value, for logs. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
