/**
 * The `Warning` header icephone writes (RFC 3261 §20.43: `Warning: warn-code SP warn-agent SP
 * warn-text`, warn-text a quoted-string; code 399 "Miscellaneous warning"), and what may go in it.
 *
 * Only our own reasons go on the wire: a fixed phrase, or the message of a typed `ParseError` we
 * threw about the peer's input (lib/base/errors.ts). The message of any other exception (a
 * TypeError from a bug, a library's error) describes our internals, so it is logged with its stack
 * and the peer gets a fixed phrase instead.
 */
import { ParseError, errorMessage } from '../base/errors.js';

/** Longest warn-text we send, in characters. */
export const MAX_WARNING_TEXT = 200;

/**
 * `text` made safe for a quoted-string on one header line: only printable ASCII (U+0020 to
 * U+007E) survives, `"` and `\` become `'` and `/`, anything else (controls, CR, LF, non-ASCII)
 * a space; runs of spaces collapse; cut to `MAX_WARNING_TEXT`.
 */
export function sanitizeWarningText(text: string): string {
  const out = text.replace(/"/g, "'").replace(/\\/g, '/').replace(/[^\x20-\x7e]/g, ' ').replace(/ {2,}/g, ' ').trim();
  return (out || 'unspecified').slice(0, MAX_WARNING_TEXT);
}

/** `Warning: 399 icephone "<sanitized text>"` (RFC 3261 §20.43). */
export function warningHeader(text: string): string {
  return `Warning: 399 icephone "${sanitizeWarningText(text)}"`;
}

/** What the peer is told, and what we log, about an offer that could not be used. */
export interface OfferProblem {
  /** warn-text for the wire: ours only. */
  wire: string;
  /** For our logs and the `rejected` event: the full message. */
  detail: string;
  /** False when the exception was not one of ours (a bug): log it with its stack. */
  expected: boolean;
}

/** The fixed warn-text for an offer that failed for a reason that is not the peer's input's fault. */
export const UNEXPECTED_OFFER_PROBLEM = 'offer could not be processed';

/** Classifies an exception thrown while reading or negotiating an offer (RFC 3264 §6, 488). */
export function offerProblem(e: unknown): OfferProblem {
  if (e instanceof ParseError) return { wire: e.message, detail: e.message, expected: true };
  return { wire: UNEXPECTED_OFFER_PROBLEM, detail: `internal error: ${errorMessage(e)}`, expected: false };
}
