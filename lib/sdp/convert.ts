/**
 * Translates an SDP body between the two candidate formats icephone speaks: RFC 8839 §5.1
 * `a=candidate` lines and the legacy `a=alt` lines of draft-rosenberg-sipping-ice-01 §7 (see
 * lib/ice/alternate.ts for the field mapping). Used by `icephone sdp convert --to ice|alt|both`.
 *
 * Only candidate attributes change. Every other line, the order of lines and each line's ending
 * (CRLF as RFC 4566 §5 requires, or bare LF as some peers send) are kept byte for byte, so
 * malformed lines elsewhere (the draft's figures all have an empty `s=`, which RFC 2327 §6 does not
 * allow) pass through untouched. Every media section with candidate attributes is converted (a
 * draft-era phone has one, the audio section); session-level lines are never rewritten (§7: "The
 * alt attribute MUST be present within a media block").
 */
import { ParseError } from '../base/errors.js';
import type { Candidate } from '../ice/candidate.js';
import { formatCandidateAttribute, parseCandidateAttribute } from './ice-attributes.js';
import { ALT_EXTENSION, alternatesToCandidates, type AltCandidate } from '../ice/alternate.js';
import { formatAltAttribute, isNonWsString, parseAltAttributes, type AltWarning } from './alt-attributes.js';
import { candidatesToAlternates } from './alt-candidates.js';

/** Which candidate attributes an SDP carries. */
export type CandidateFormat = 'ice' | 'alt' | 'both' | 'none';
export type ConvertTarget = 'ice' | 'alt' | 'both';

/** Something accepted but worth telling the user (the CLI prints these to stderr). */
export interface ConvertWarning {
  /** 1-based line number in the input SDP. */
  line: number;
  message: string;
  /** The alt parser's warning code, or `skipped-candidate` for a candidate with no alt form. */
  code: AltWarning['code'] | 'skipped-candidate';
}

export interface ConvertOptions {
  onWarning?: (warning: ConvertWarning) => void;
}

interface Line {
  text: string;
  /** "\r\n", "\n" or "" (last line without an ending). */
  eol: string;
}

interface MediaSection {
  /** Index of the m= line. */
  start: number;
  /** Index one past the section's last line. */
  end: number;
  /** Indices of `a=alt:` and `a=candidate:` lines. */
  alt: number[];
  candidate: number[];
}

const ALT_LINE = /^a=alt:/;
const CANDIDATE_LINE = /^a=candidate:/;

function splitLines(sdp: string): Line[] {
  const lines: Line[] = [];
  let at = 0;
  while (at < sdp.length) {
    const nl = sdp.indexOf('\n', at);
    if (nl === -1) {
      lines.push({ text: sdp.slice(at), eol: '' });
      break;
    }
    const crlf = nl > at && sdp[nl - 1] === '\r';
    lines.push({ text: sdp.slice(at, crlf ? nl - 1 : nl), eol: crlf ? '\r\n' : '\n' });
    at = nl + 1;
  }
  return lines;
}

function mediaSections(lines: Line[]): MediaSection[] {
  const sections: MediaSection[] = [];
  lines.forEach((line, i) => {
    if (line.text.startsWith('m=')) {
      const previous = sections.at(-1);
      if (previous) previous.end = i;
      sections.push({ start: i, end: lines.length, alt: [], candidate: [] });
    } else {
      const current = sections.at(-1);
      if (current === undefined) return;
      if (ALT_LINE.test(line.text)) current.alt.push(i);
      else if (CANDIDATE_LINE.test(line.text)) current.candidate.push(i);
    }
  });
  return sections;
}

function formatOf(hasAlt: boolean, hasCandidate: boolean): CandidateFormat {
  return hasAlt ? (hasCandidate ? 'both' : 'alt') : hasCandidate ? 'ice' : 'none';
}

/** Which candidate attributes the SDP's media sections carry ('both' if any has both kinds). */
export function detectCandidateFormat(sdp: string): CandidateFormat {
  const sections = mediaSections(splitLines(sdp));
  return formatOf(
    sections.some((s) => s.alt.length > 0),
    sections.some((s) => s.candidate.length > 0),
  );
}

export interface SdpAltSection {
  /** 0-based index of the media section. */
  mediaIndex: number;
  /** The m= line's media type (`audio`). */
  media: string;
  alternates: AltCandidate[];
  /** Accepted deviations, with `line` as the 1-based SDP line number. */
  warnings: AltWarning[];
}

/**
 * The alternates of every media section that has `a=alt` lines.
 * @throws ParseError naming the field, with the SDP line number in the message.
 */
export function parseSdpAlternates(sdp: string): SdpAltSection[] {
  const lines = splitLines(sdp);
  return mediaSections(lines).flatMap((section, mediaIndex) => {
    if (section.alt.length === 0) return [];
    const { alternates, warnings } = readAlternates(lines, section);
    return [{ mediaIndex, media: mediaType(lines[section.start]!.text), alternates, warnings }];
  });
}

function mediaType(mLine: string): string {
  return mLine.slice(2).split(' ')[0] ?? '';
}

/** RTP profiles (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF…) have an RTCP component. */
function isRtp(mLine: string): boolean {
  const proto = mLine.slice(2).split(/[ \t]+/)[2] ?? '';
  return /(^|\/)RTP\//i.test(proto);
}

function readAlternates(lines: Line[], section: MediaSection): { alternates: AltCandidate[]; warnings: AltWarning[] } {
  try {
    const result = parseAltAttributes(section.alt.map((i) => lines[i]!.text));
    return { alternates: result.alternates, warnings: result.warnings.map((w) => ({ ...w, line: section.alt[w.line ?? 0]! + 1 })) };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    // Re-number "alt line k" as the SDP line.
    const m = /^alt line (\d+): (.*?)(?: \(at [^)]*\))?$/.exec(e.message);
    if (m === null) throw e;
    throw new ParseError(`line ${section.alt[Number(m[1])]! + 1}: ${m[2]}`, e.where);
  }
}

function readCandidates(lines: Line[], section: MediaSection): Candidate[] {
  return section.candidate.map((i) => {
    try {
      return parseCandidateAttribute(lines[i]!.text);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      throw new ParseError(`line ${i + 1}: ${e.message.replace(/ \(at [^)]*\)$/, '')}`, e.where);
    }
  });
}

/** `a=<name>:<value>` in the media section, else at session level. */
function attribute(lines: Line[], section: MediaSection, name: string): { value: string; line: number } | undefined {
  const prefix = `a=${name}:`;
  const find = (from: number, to: number): { value: string; line: number } | undefined => {
    for (let i = from; i < to; i++) if (lines[i]!.text.startsWith(prefix)) return { value: lines[i]!.text.slice(prefix.length).trim(), line: i + 1 };
    return undefined;
  };
  const firstMedia = lines.findIndex((l) => l.text.startsWith('m='));
  return find(section.start + 1, section.end) ?? find(0, firstMedia === -1 ? lines.length : firstMedia);
}

function hasFlag(lines: Line[], section: MediaSection, name: string): boolean {
  for (let i = section.start + 1; i < section.end; i++) if (lines[i]!.text === `a=${name}`) return true;
  return false;
}

/**
 * Rewrites the candidate attributes of each media section into the `to` format:
 * - `ice`: `a=alt` lines become `a=candidate` lines (with the `alt-*` extensions) where the first
 *   `a=alt` line was; a section that already has `a=candidate` lines just loses its `a=alt` lines.
 * - `alt`: the reverse; credentials come from `alt-username`/`alt-password`, else from the
 *   section's (or session's) `a=ice-ufrag`/`a=ice-pwd`. TCP candidates have no alt form and are
 *   dropped (reported through `onWarning`).
 * - `both`: the missing format is added next to the present one (`a=alt` lines first); a section
 *   that has both is left alone.
 * Sections without candidate attributes, and all other lines, are unchanged.
 * An implied RTCP candidate (port + 1) is generated for alt lines without an RTCP pair unless the
 * section is not RTP or has `a=rtcp-mux`.
 * @throws ParseError naming the field (message starts with the SDP line number), e.g. when an
 *   alt line is malformed or an ICE section has no credentials to give its alternates.
 */
export function convertSdp(sdp: string, to: ConvertTarget, options: ConvertOptions = {}): string {
  if (to !== 'ice' && to !== 'alt' && to !== 'both') throw new RangeError(`unknown candidate format ${JSON.stringify(to)}: expected ice, alt or both`);
  const lines = splitLines(sdp);
  const eol = lines.find((l) => l.eol !== '')?.eol ?? '\r\n';
  const drop = new Set<number>();
  const before = new Map<number, string[]>();
  const after = new Map<number, string[]>();

  for (const section of mediaSections(lines)) {
    const hasAlt = section.alt.length > 0;
    const hasCandidate = section.candidate.length > 0;
    if (!hasAlt && !hasCandidate) continue;
    const mLine = lines[section.start]!.text;

    const toCandidateLines = (): string[] => {
      const { alternates, warnings } = readAlternates(lines, section);
      for (const w of warnings) options.onWarning?.({ line: w.line ?? 0, code: w.code, message: w.message });
      const impliedRtcp = isRtp(mLine) && !hasFlag(lines, section, 'rtcp-mux');
      return alternatesToCandidates(alternates, { impliedRtcp }).map((c) => `a=${formatCandidateAttribute(c)}`);
    };
    const toAltLines = (): string[] => {
      let candidates = readCandidates(lines, section);
      const lineOf = new Map(candidates.map((c, k) => [c, section.candidate[k]! + 1]));
      if (!isRtp(mLine)) {
        // draft §7: "When used with a non-RTP stream, the second address and port MUST NOT be present."
        for (const c of candidates.filter((c) => c.component !== 1)) options.onWarning?.({ line: lineOf.get(c)!, code: 'skipped-candidate', message: `component ${c.component} of a non-RTP stream has no alt form` });
        candidates = candidates.filter((c) => c.component === 1);
      }
      const credentials = { username: attribute(lines, section, 'ice-ufrag'), password: attribute(lines, section, 'ice-pwd') };
      for (const field of ['username', 'password'] as const) {
        // draft §7: an a=alt username/password is a non-ws-string. Name the a=ice-ufrag/ice-pwd line
        // when one without it (a NUL, a control character) would have to stand in.
        const from = credentials[field];
        const extension = field === 'username' ? ALT_EXTENSION.username : ALT_EXTENSION.password;
        const needed = candidates.some((c) => !c.extensions?.some(([n]) => n === extension));
        if (from !== undefined && needed && !isNonWsString(from.value)) {
          const name = field === 'username' ? 'ice-ufrag' : 'ice-pwd';
          throw new ParseError(`line ${from.line}: a=${name} ${JSON.stringify(from.value.slice(0, 64))} is not a non-ws-string, so it cannot be an a=alt ${field}`, field);
        }
      }
      const { alternates, skipped } = candidatesToAlternates(candidates, { username: credentials.username?.value, password: credentials.password?.value });
      for (const c of skipped) {
        options.onWarning?.({ line: lineOf.get(c)!, code: 'skipped-candidate', message: `${c.transport} component ${c.component} candidate ${c.address} ${c.port} has no alt form` });
      }
      return alternates.map((alt) => `a=${formatAltAttribute(alt)}`);
    };

    if (to === 'ice' && hasAlt) {
      if (!hasCandidate) before.set(section.alt[0]!, toCandidateLines());
      for (const i of section.alt) drop.add(i);
    } else if (to === 'alt' && hasCandidate) {
      if (!hasAlt) before.set(section.candidate[0]!, toAltLines());
      for (const i of section.candidate) drop.add(i);
    } else if (to === 'both' && !(hasAlt && hasCandidate)) {
      if (hasAlt) after.set(section.alt.at(-1)!, toCandidateLines());
      else before.set(section.candidate[0]!, toAltLines());
    }
  }

  const out: Line[] = [];
  lines.forEach((line, i) => {
    for (const text of before.get(i) ?? []) out.push({ text, eol });
    if (!drop.has(i)) out.push(line);
    for (const text of after.get(i) ?? []) out.push({ text, eol });
  });
  // Inserted or dropped lines must not change whether the body ends with a line ending.
  const endsWithEol = lines.length > 0 && lines.at(-1)!.eol !== '';
  out.forEach((line, k) => {
    if (k < out.length - 1 && line.eol === '') line.eol = eol;
  });
  if (out.length > 0) {
    const last = out.at(-1)!;
    if (!endsWithEol) last.eol = '';
    else if (last.eol === '') last.eol = eol;
  }
  return out.map((l) => l.text + l.eol).join('');
}
