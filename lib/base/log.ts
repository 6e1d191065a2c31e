/**
 * Minimal leveled logger writing one line per record to stderr (or a sink given in tests).
 * Secrets registered with `redact()` are replaced by `***` in every line.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  /** A logger whose lines are prefixed `[scope]`. */
  child(scope: string): Logger;
}

/** Registered secrets, each with the number of holders that registered it and have not released it. */
const secrets = new Map<string, number>();

/**
 * Registers a secret (password, shared secret) that must never appear in log output.
 * Returns a release function: a per-call holder (an ICE agent's passwords, a TURN client's)
 * calls it when the call ends, so the process-wide set does not grow with every call handled.
 * A secret registered by several holders stays redacted until all have released it; releasing
 * twice is harmless. Secrets shorter than 3 characters are not registered.
 */
export function redact(secret: string | undefined): () => void {
  if (!secret || secret.length < 3) return () => {};
  secrets.set(secret, (secrets.get(secret) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const n = (secrets.get(secret) ?? 1) - 1;
    if (n <= 0) secrets.delete(secret);
    else secrets.set(secret, n);
  };
}

/** How many distinct secrets are registered (for tests and leak checks). */
export function redactedSecretCount(): number {
  return secrets.size;
}

/** Replaces every registered secret in `text` with `***`. */
export function scrub(text: string): string {
  let out = text;
  for (const s of secrets.keys()) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

export class StderrLogger implements Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly scope = '',
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {}

  private write(level: LogLevel, msg: string): void {
    if (ORDER[level] > ORDER[this.level]) return;
    this.sink(scrub(`${this.scope ? `[${this.scope}] ` : ''}${msg}`));
  }

  error(msg: string): void { this.write('error', msg); }
  warn(msg: string): void { this.write('warn', msg); }
  info(msg: string): void { this.write('info', msg); }
  debug(msg: string): void { this.write('debug', msg); }
  trace(msg: string): void { this.write('trace', msg); }

  child(scope: string): Logger {
    return new StderrLogger(this.level, this.scope ? `${this.scope}/${scope}` : scope, this.sink);
  }
}

/** A logger that discards everything. */
export const silentLogger: Logger = {
  error() {}, warn() {}, info() {}, debug() {}, trace() {},
  child() { return silentLogger; },
};
