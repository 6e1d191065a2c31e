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
 *
 * Read liberally (`readQvalue`): deployed `a=alt` endpoints wrote integer ranks (`2` above `1`)
 * where the grammar allows only 0..1. An integer above 1 is read as such a rank; what a rank means
 * beside 0..1 qvalues is the ranking model's rule (lib/ice/alternate.ts, `compareQvalues`).
 * Writing stays strict: `formatQvalue` refuses a rank.
 */
import { ParseError } from './errors.js';

/** RFC 3261 §20.10 `qvalue`. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
/** A deployed endpoint's integer rank: 2, 3, … (no sign, no leading zero, no decimals). */
const RANK = /^[1-9]\d{0,9}$/;
/** Largest rank read (32 bits): ranks only order alternates, and beyond this they are garbage. */
export const MAX_QVALUE_RANK = 0xffffffff;

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

/**
 * Reads a qvalue liberally: an RFC 3261 §20.10 qvalue (0..1), or an integer rank above 1 as
 * deployed `a=alt` endpoints (draft-rosenberg-sipping-ice-01 §7) wrote them (module comment). "1" is the qvalue 1.0, not a rank.
 * @returns the number and whether it was a rank.
 * @throws ParseError at `field` for anything else: "1.5", "-1", "02", "2.0", a rank above
 *   `MAX_QVALUE_RANK`.
 */
export function readQvalue(text: string | undefined, field = 'qvalue'): { value: number; rank: boolean } {
  if (text !== undefined && RANK.test(text) && text !== '1') {
    const rank = Number(text);
    if (rank > MAX_QVALUE_RANK) throw new ParseError(`qvalue rank ${quote(text)} above ${MAX_QVALUE_RANK}`, field);
    return { value: rank, rank: true };
  }
  try {
    return { value: parseQvalueMilli(text, field) / 1000, rank: false };
  } catch (e) {
    // Say that ranks were considered, so "1.5" does not read as a plain range error.
    if (e instanceof ParseError && text !== undefined && /^[\d.]+$/.test(text) && Number(text) > 1) {
      throw new ParseError(`qvalue ${quote(text)} is neither in 0..1 (RFC 3261) nor an integer rank above 1`, field);
    }
    throw e;
  }
}

/** True for a number `readQvalue` gives for a rank (an integer above 1, draft §7 read liberally). */
export function isQvalueRank(value: number): boolean {
  return Number.isInteger(value) && value > 1 && value <= MAX_QVALUE_RANK;
}

/** For messages and logs: a qvalue as `formatQvalue` writes it (RFC 3261 §20.10), a rank as its digits. Never throws. */
export function qvalueText(value: number): string {
  if (isQvalueRank(value)) return String(value);
  try {
    return formatQvalue(value);
  } catch {
    return String(value);
  }
}

/** Parses a qvalue ("0.8", "1.0", "0.125") to a number, strictly (no ranks). @throws ParseError at `qvalue`. */
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
