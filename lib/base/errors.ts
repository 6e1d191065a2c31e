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

/** Message of any thrown value, for logs. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
