/**
 * Minimal leveled logger writing one line per record to stderr (or a sink given in tests).
 * Secrets registered with `redact()` are replaced by `***` in every line, and control characters
 * (ESC, other C0/C1, DEL, bidi controls, CR, LF) are escaped (`escapeControls`), so bytes quoted
 * from the wire can neither drive the terminal nor forge a log line.
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

/**
 * Characters that must never reach a terminal or a log file raw, whoever wrote them (they often come
 * off the wire: SDP lines, SIP header values, error messages quoting input): C0 controls (U+0000 to
 * U+001F) except HT, DEL (U+007F), C1 controls (U+0080 to U+009F, e.g. CSI U+009B), and the Unicode
 * bidirectional formatting characters (U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069) that
 * reorder what a reader sees. LF is in the set unless `keepNewlines`.
 */
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LF = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character (see above) written as an escape: `\r`, `\n`, `\t`-style for
 * CR and LF, `\xNN` for the other C0/C1 controls and DEL (ESC is `\x1b`), `\u{NNNN}` for the bidi
 * controls; a backslash stays as it is. `keepNewlines`: LF passes (multi-line text such as a SIP
 * trace or a stack), CR is escaped all the same.
 */
export function escapeControls(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? CONTROLS_BUT_LF : CONTROLS, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** The stack of an Error (its message when it has none), or the thrown value as text. */
export function errorStack(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}

export class StderrLogger implements Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly scope = '',
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {}

  private write(level: LogLevel, msg: string): void {
    if (ORDER[level] > ORDER[this.level]) return;
    // One record, one line: control bytes quoted from the wire are escaped here, centrally.
    this.sink(escapeControls(scrub(`${this.scope ? `[${this.scope}] ` : ''}${msg}`)));
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
