/**
 * RFC 8839 §5.1 candidates read back as the alternates of draft-rosenberg-sipping-ice-01 §7, for
 * `icephone sdp convert --to alt|both` (lib/sdp/convert.ts). The other direction, and the meaning
 * of the `alt-*` extension attributes this reads, is lib/ice/alternate.ts.
 *
 * Layering: this is a translation between the two formats and needs the draft's ranking
 * (`priorityToQvalue`) to give a plain RFC 8445 candidate a qvalue, so it calls lib/ice/alternate.ts
 * (as convert.ts does); the codecs proper (alt-attributes.ts, ice-attributes.ts) use only types
 * from lib/ice.
 */
import { ParseError } from '../base/errors.js';
import { parseQvalueMilli } from '../base/qvalue.js';
import { ALT_EXTENSION, priorityToQvalue, type AltCandidate } from '../ice/alternate.js';
import type { Candidate } from '../ice/candidate.js';
import { isAltId, isNonWsString } from './alt-attributes.js';

/** Short, single-line rendering of untrusted input for error messages. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

export interface CandidateToAltOptions {
  /** Credentials for candidates without `alt-username`/`alt-password` (an RFC 8839 `ice-ufrag`). */
  username?: string;
  /** See `username` (an RFC 8839 `ice-pwd`). */
  password?: string;
}

export interface CandidateToAltResult {
  alternates: AltCandidate[];
  /**
   * Candidates with no alt form: TCP (the draft is UDP only), port 0, components other than 1 and
   * 2, and RTCP candidates without an RTP one.
   */
  skipped: Candidate[];
}

function extension(c: Candidate, name: string): string | undefined {
  return c.extensions?.find(([n]) => n === name)?.[1];
}

/**
 * RFC 8839 §5.1 candidates as draft §7 alternates. Groups candidates into alternates: by `alt-id` when present, else each RTP candidate is an
 * alternate and takes the next unused RTCP candidate of the same foundation. Alternates come out in
 * the order of their RTP candidates; ids are kept, and generated ("1", "2", …, skipping ids in use)
 * for candidates that have none. qvalue comes from `alt-q`, else from the priority
 * (`priorityToQvalue`); derived-from from `alt-derived-from`, else ":" (an RFC 8839 prflx
 * candidate does not say which peer address it came through); credentials from
 * `alt-username`/`alt-password`, else `options`. The RTCP pair is written unless it was implied
 * (`alt-rtcp implied`, or, for a candidate without `alt-id`, the RTP address with port + 1).
 * @throws ParseError naming `alt-q`, `alt-id`, `username` or `password` when a field is bad or
 *   missing (a username or password that is not a non-ws-string, e.g. with a NUL, included).
 *   Everything returned can be written by `formatAltAttribute`.
 */
export function candidatesToAlternates(candidates: Candidate[], options: CandidateToAltOptions = {}): CandidateToAltResult {
  const skipped: Candidate[] = [];
  const udp = candidates.filter((c) => {
    // draft §7 ports are 1..65535: a port 0 candidate cannot be checked, so it has no alt form.
    if (c.transport === 'udp' && (c.component === 1 || c.component === 2) && c.port > 0) return true;
    skipped.push(c);
    return false;
  });

  interface Group {
    rtp?: Candidate;
    rtcp?: Candidate;
    id?: string;
  }
  const groups: Group[] = [];
  const byAltId = new Map<string, Group>();
  const rtcpByFoundation = new Map<string, Candidate[]>();
  for (const c of udp) {
    const altId = extension(c, ALT_EXTENSION.id);
    if (altId !== undefined) {
      if (!isAltId(altId)) throw new ParseError(`alt-id ${quote(altId)} is not a token`, ALT_EXTENSION.id);
      let group = byAltId.get(altId);
      if (group === undefined) {
        group = { id: altId };
        byAltId.set(altId, group);
        groups.push(group);
      }
      const slot = c.component === 1 ? 'rtp' : 'rtcp';
      if (group[slot] !== undefined) throw new ParseError(`two component ${c.component} candidates with alt-id ${quote(altId)}`, ALT_EXTENSION.id);
      group[slot] = c;
    } else if (c.component === 1) {
      groups.push({ rtp: c });
    } else {
      const list = rtcpByFoundation.get(c.foundation) ?? [];
      list.push(c);
      rtcpByFoundation.set(c.foundation, list);
    }
  }
  for (const group of groups) {
    if (group.id === undefined && group.rtp !== undefined) group.rtcp = rtcpByFoundation.get(group.rtp.foundation)?.shift();
  }
  for (const list of rtcpByFoundation.values()) skipped.push(...list);

  const usedIds = new Set(byAltId.keys());
  let next = 1;
  const newId = (): string => {
    while (usedIds.has(String(next))) next++;
    usedIds.add(String(next));
    return String(next);
  };

  const alternates: AltCandidate[] = [];
  for (const group of groups) {
    const rtp = group.rtp;
    if (rtp === undefined) {
      if (group.rtcp !== undefined) skipped.push(group.rtcp);
      continue;
    }
    const qText = extension(rtp, ALT_EXTENSION.qvalue);
    const qvalue = qText !== undefined ? parseQvalueMilli(qText, ALT_EXTENSION.qvalue) / 1000 : priorityToQvalue(rtp.priority);
    const derivedFrom = extension(rtp, ALT_EXTENSION.derivedFrom) ?? null;
    if (derivedFrom !== null && !isAltId(derivedFrom)) throw new ParseError(`alt-derived-from ${quote(derivedFrom)} is not an id`, ALT_EXTENSION.derivedFrom);
    const username = extension(rtp, ALT_EXTENSION.username) ?? options.username;
    const password = extension(rtp, ALT_EXTENSION.password) ?? options.password;
    if (username === undefined) throw new ParseError(`no username for candidate ${rtp.address} ${rtp.port} (no alt-username and no ice-ufrag)`, 'username');
    if (password === undefined) throw new ParseError(`no password for candidate ${rtp.address} ${rtp.port} (no alt-password and no ice-pwd)`, 'password');
    // draft §7: username and password are non-ws-strings; a NUL or control character in an
    // ice-ufrag/ice-pwd (or a caller's option) has no a=alt form.
    for (const [field, value, from] of [['username', username, ALT_EXTENSION.username], ['password', password, ALT_EXTENSION.password]] as const) {
      if (!isNonWsString(value)) {
        const source = extension(rtp, from) !== undefined ? from : field === 'username' ? 'ice-ufrag' : 'ice-pwd';
        throw new ParseError(`${field} for candidate ${rtp.address} ${rtp.port} (from ${source}) ${quote(value)} is not a non-ws-string`, field);
      }
    }
    const alt: AltCandidate = { id: group.id ?? newId(), qvalue, derivedFrom, username, password, address: rtp.address, port: rtp.port };
    const rtcp = group.rtcp;
    if (rtcp !== undefined) {
      const implied =
        extension(rtcp, ALT_EXTENSION.rtcp) === 'implied' ||
        (group.id === undefined && rtcp.address === rtp.address && rtcp.port === rtp.port + 1);
      if (!implied) {
        alt.rtcpAddress = rtcp.address;
        alt.rtcpPort = rtcp.port;
      }
    }
    alternates.push(alt);
  }
  return { alternates, skipped };
}
