/**
 * The qvalue of RFC 3261 §20.10 as text: what draft-rosenberg-sipping-ice-01 §7 puts in an `a=alt`
 * line ("qvalue from RFC 3261") and what the `alt-q` candidate extension carries
 * (lib/ice/alternate.ts).
 *
 * ```
 * qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 * ```
 * So at most three decimals: 1001 levels, handled here as integer thousandths ("milli") so that
 * comparisons never meet floating point. Lives in `base` because both the SDP codec (lib/sdp) and
 * the draft's ranking model (lib/ice) need the one spelling, and neither may import the other.
 */
import { ParseError } from './errors.js';

/** RFC 3261 §20.10 `qvalue`. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** Short, single-line rendering of untrusted input for error messages. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/**
 * Parses an RFC 3261 §20.10 qvalue into thousandths ("0.8" → 800, "1" → 1000).
 * @throws ParseError at `field` when missing or not a qvalue.
 */
export function parseQvalueMilli(text: string | undefined, field = 'qvalue'): number {
  if (text === undefined || text === '') throw new ParseError('missing qvalue', field);
  if (!QVALUE.test(text)) {
    const n = Number(text);
    const why = Number.isFinite(n) && /^[\d.]+$/.test(text) && (n < 0 || n > 1) ? 'not in 0..1' : 'is not an RFC 3261 qvalue (0, 0.xyz or 1.000)';
    throw new ParseError(`qvalue ${quote(text)} ${why}`, field);
  }
  const [whole, fraction = ''] = text.split('.');
  return Number(whole) * 1000 + Number(fraction.padEnd(3, '0'));
}

/** Parses a qvalue ("0.8", "1.0", "0.125") to a number. @throws ParseError at `qvalue`. */
export function parseQvalue(text: string): number {
  return parseQvalueMilli(text) / 1000;
}

/**
 * A qvalue number as thousandths.
 * @throws RangeError outside 0..1 or with more than three decimals (RFC 3261 §20.10).
 */
export function qvalueToMilli(qvalue: number): number {
  if (typeof qvalue !== 'number' || !Number.isFinite(qvalue) || qvalue < 0 || qvalue > 1) throw new RangeError(`qvalue ${qvalue} not in 0..1`);
  const milli = Math.round(qvalue * 1000);
  if (Math.abs(milli - qvalue * 1000) > 1e-6) throw new RangeError(`qvalue ${qvalue} has more than three decimals`);
  return milli;
}

/**
 * Writes a qvalue with at least one and at most three decimals and no trailing zeros beyond the
 * first: 1 → "1.0", 0.8 → "0.8", 0.125 → "0.125" (the draft's §9 figures all read back unchanged).
 * @throws RangeError outside 0..1 or with more than three decimals.
 */
export function formatQvalue(qvalue: number): string {
  const milli = qvalueToMilli(qvalue);
  if (milli === 1000) return '1.0';
  const digits = String(milli).padStart(3, '0').replace(/0+$/, '');
  return `0.${digits === '' ? '0' : digits}`;
}
