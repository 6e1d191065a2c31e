/**
 * The body of a trickle-ice INFO request (RFC 8840 §4.3, §9.2): an `application/trickle-ice-sdpfrag`
 * SDP fragment (RFC 8840 §9 "sdpfrag"): the ICE credentials of the generation the candidates belong
 * to (`a=ice-ufrag`, `a=ice-pwd`), then per media section an `m=` line (port 9, as RFC 8840 §4.4 and
 * RFC 8839 §4.3.1 use for a section whose transport is still being found) with `a=mid` when the
 * session uses it, its `a=candidate` lines and `a=end-of-candidates` once the sender gathered all.
 * icephone has one audio section. Syntax only: what it means is the media session's business.
 */
import { ParseError } from '../base/errors.js';
import type { Candidate } from '../ice/candidate.js';
import { formatCandidateAttribute, isValidPwd, isValidUfrag, parseCandidateAttribute } from './ice-attributes.js';

/** RFC 8840 §10.1: the Info Package name. */
export const TRICKLE_INFO_PACKAGE = 'trickle-ice';
/** RFC 8840 §10.3: the body's media type. */
export const TRICKLE_SDPFRAG_CONTENT_TYPE = 'application/trickle-ice-sdpfrag';

export interface TrickleFragment {
  ufrag: string;
  pwd: string;
  /** The media section's `a=mid` (RFC 5888), when the session uses one. */
  mid?: string;
  candidates: Candidate[];
  /** `a=end-of-candidates` (RFC 8840 §4.3, RFC 8838 §13). */
  endOfCandidates: boolean;
}

/**
 * Writes the fragment (CRLF line ends). `media` is the `m=` line's media, profile and formats,
 * e.g. `{ media: 'audio', profile: 'RTP/AVP', formats: [0] }`.
 * @throws RangeError on credentials that are not ice-chars of the RFC 8839 §5.4 lengths.
 */
export function formatTrickleFragment(f: TrickleFragment, media: { media: string; profile: string; formats: number[] }): string {
  if (!isValidUfrag(f.ufrag)) throw new RangeError('ufrag is not 4-256 ice-chars (RFC 8839 §5.4)');
  if (!isValidPwd(f.pwd)) throw new RangeError('pwd is not 22-256 ice-chars (RFC 8839 §5.4)');
  const lines = [`a=ice-ufrag:${f.ufrag}`, `a=ice-pwd:${f.pwd}`, `m=${media.media} 9 ${media.profile} ${media.formats.join(' ')}`];
  if (f.mid !== undefined) lines.push(`a=mid:${f.mid}`);
  for (const c of f.candidates) lines.push(`a=${formatCandidateAttribute(c)}`);
  if (f.endOfCandidates) lines.push('a=end-of-candidates');
  return lines.join('\r\n') + '\r\n';
}

/** A parsed fragment, with the lines that could not be read (counted and dropped by the caller). */
export interface ParsedTrickleFragment extends TrickleFragment {
  invalidLines: string[];
}

/**
 * Reads a fragment: credentials at session or media level (the media level wins), the first media
 * section's candidates and end-of-candidates (`a=end-of-candidates` at session level applies to
 * every section, RFC 8840 §4.3). A candidate line that does not parse goes to `invalidLines`;
 * unknown lines are ignored.
 * @throws ParseError when the fragment has no usable ufrag/pwd, or more than 64 KiB of text.
 */
export function parseTrickleFragment(body: string): ParsedTrickleFragment {
  if (typeof body !== 'string') throw new ParseError('sdpfrag body is not text', 'body');
  if (body.length > 65536) throw new ParseError(`sdpfrag body of ${body.length} characters (limit 65536)`, 'body');
  let ufrag: string | undefined;
  let pwd: string | undefined;
  let mid: string | undefined;
  let sections = 0;
  let endOfCandidates = false;
  const candidates: Candidate[] = [];
  const invalidLines: string[] = [];
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('m=')) {
      sections++;
      continue;
    }
    if (sections > 1) continue; // one audio section: later ones are not ours
    const m = /^a=([^:]+)(?::(.*))?$/.exec(line);
    if (!m) continue;
    const [, name, value = ''] = m;
    switch (name.toLowerCase()) {
      case 'ice-ufrag': ufrag = value.trim(); break;
      case 'ice-pwd': pwd = value.trim(); break;
      case 'mid': if (sections === 1) mid = value.trim(); break;
      case 'end-of-candidates': endOfCandidates = true; break;
      case 'candidate':
        try {
          candidates.push(parseCandidateAttribute(value));
        } catch {
          invalidLines.push(line);
        }
        break;
      default: break;
    }
  }
  if (ufrag === undefined || !isValidUfrag(ufrag)) throw new ParseError('sdpfrag without a valid a=ice-ufrag', 'ice-ufrag');
  if (pwd === undefined || !isValidPwd(pwd)) throw new ParseError('sdpfrag without a valid a=ice-pwd', 'ice-pwd');
  return { ufrag, pwd, ...(mid !== undefined ? { mid } : {}), candidates, endOfCandidates, invalidLines };
}
