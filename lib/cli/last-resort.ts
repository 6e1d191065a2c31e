/**
 * The CLI's last line of defence: an exception nobody caught (`uncaughtException`) or a rejected
 * promise nobody awaited (`unhandledRejection`) must not take a live call down, and must not vanish
 * either. Each is counted and reported on stderr with its stack (the frames say where the bug is),
 * control characters escaped (lib/base/log.ts `escapeControls`: an error message may quote bytes
 * off the wire), secrets scrubbed; the process carries on. Protocol code already counts and drops
 * bad input itself: reaching this handler is a bug in icephone.
 */
import { errorStack, escapeControls, scrub } from '../base/log.js';

export interface LastResortCounters {
  /** Exceptions and rejections reported so far. */
  internalErrors: number;
}

/**
 * Installs both handlers on `proc` (default: `process`) writing to `write` (default: stderr).
 * Returns the live counters. Installing twice on the same process adds a second pair.
 */
export function installLastResortHandlers(
  proc: NodeJS.EventEmitter = process,
  write: (text: string) => void = (t) => process.stderr.write(t),
): LastResortCounters {
  const counters: LastResortCounters = { internalErrors: 0 };
  const report = (kind: string, e: unknown) => {
    counters.internalErrors++;
    write(`icephone: internal error #${counters.internalErrors} (${kind}; continuing): ${escapeControls(scrub(errorStack(e)), true)}\n`);
  };
  proc.on('uncaughtException', (e: unknown) => report('uncaught exception', e));
  proc.on('unhandledRejection', (reason: unknown) => report('unhandled rejection', reason));
  return counters;
}
