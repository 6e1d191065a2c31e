/**
 * Fuzz targets for SDP from the peer (a SIP body, decoded as UTF-8 like sip.js hands it on):
 * the whole description as the session description handler reads it, and the attribute codecs
 * on their own with structured line generators (sdp-arbitraries.ts). Every parser here documents
 * `ParseError`; a line a parser accepted must also go through its own formatter and parse back
 * (an `InvariantError` otherwise: the project writes these values again, in answers and in
 * `icephone sdp convert`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Candidate } from '../../../lib/ice/candidate.js';
import { checkDerivedFrom, formatAltAttribute, parseAltAttribute, parseAltAttributes } from '../../../lib/sdp/alt-attributes.js';
import { alternatesToCandidates, toQvalueScale } from '../../../lib/ice/alternate.js';
import { altAttributes, describedFormat, readRemoteAlternates } from '../../../lib/sdp/format.js';
import { formatCandidateAttribute, formatRemoteCandidates, parseCandidateAttribute, parseRemoteCandidates } from '../../../lib/sdp/ice-attributes.js';
import { buildDescription, negotiateCodec, parseDescription, SUPPORTED_CODECS, type LocalDescriptionOptions } from '../../../lib/sdp/offer-answer.js';
import {
  answerTable, applyRemote, CONNECTIVITY_PRECONDITION, formatPreconditionAttribute, isPreconditionLine, newStatusTable, parsePreconditionAttribute,
  preconditionsFromSdp, tableFromRemote, tableToAttributes, unmetPreconditions, withPreconditions, type PreconditionAttribute,
} from '../../../lib/sdp/preconditions.js';
import { DRAFT_FIGURES } from '../../../test/fixtures/draft/figures.js';
import { sipCorpus } from '../../../test/fixtures/sip-corpus/index.js';
import { attempt, InvariantError, type FuzzTarget, type Verdict } from '../engine.js';
import { altLine, candidateLine, description, preconditionLine, remoteCandidatesLine } from './sdp-arbitraries.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures');
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

// ------------------------------------------------------------------------------------- seeds

const host1: Candidate = { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '192.0.2.10', port: 40000, type: 'host' };
const srflx1: Candidate = {
  foundation: '2', component: 1, transport: 'udp', priority: 1694498815, address: '198.51.100.10', port: 45664, type: 'srflx',
  relatedAddress: '192.0.2.10', relatedPort: 40000, extensions: [['generation', '0']],
};
const relay2: Candidate = { foundation: '3', component: 2, transport: 'udp', priority: 16777214, address: '2001:db8::7', port: 50001, type: 'relay', relatedAddress: '198.51.100.10', relatedPort: 45665 };
const tcp1: Candidate = { foundation: '4', component: 1, transport: 'tcp', priority: 1518280447, address: 'host.example.com', port: 9, type: 'host', tcpType: 'active' };

function built(): string[] {
  const base: LocalDescriptionOptions = {
    sessionId: '3912345678123', sessionVersion: 1, originAddress: '192.0.2.10', codecs: SUPPORTED_CODECS,
    defaultRtp: { address: '192.0.2.10', port: 40000 }, defaultRtcp: { address: '192.0.2.10', port: 40001 }, rtcpMux: true,
    ice: { ufrag: '8hhY', pwd: 'asd88fgpdd777uzjYhagZg', candidates: [host1, srflx1, relay2, tcp1], endOfCandidates: true, options: ['trickle'] },
  };
  const conn: PreconditionAttribute[] = [
    { kind: 'curr', type: CONNECTIVITY_PRECONDITION, statusType: 'e2e', direction: 'none' },
    { kind: 'des', type: CONNECTIVITY_PRECONDITION, strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' },
    { kind: 'conf', type: CONNECTIVITY_PRECONDITION, statusType: 'e2e', direction: 'recv' },
  ];
  const qos: PreconditionAttribute[] = [
    { kind: 'curr', type: 'qos', statusType: 'local', direction: 'send' },
    { kind: 'curr', type: 'qos', statusType: 'remote', direction: 'none' },
    { kind: 'des', type: 'qos', strength: 'optional', statusType: 'local', direction: 'sendrecv' },
    { kind: 'des', type: 'qos', strength: 'failure', statusType: 'remote', direction: 'send' },
  ];
  const out = [
    buildDescription(base),
    buildDescription({ ...base, direction: 'sendonly', ice: { ...base.ice!, sessionLevel: true, lite: true, remoteCandidates: [{ component: 1, address: '192.0.2.3', port: 45664 }] } }),
    buildDescription({ ...base, rtcpMux: false, direction: 'inactive', ice: undefined, extraMediaAttributes: altAttributes(DRAFT_FIGURES[0]!.alternates) }),
    buildDescription({ ...base, extraMediaAttributes: altAttributes(DRAFT_FIGURES[1]!.alternates) }),
  ];
  out.push(withPreconditions(out[0]!, [conn]), withPreconditions(out[2]!, [[...conn, ...qos]]));
  return out;
}

/** Every SDP the tests have: fixtures, the draft's figures, SIP corpus bodies, and descriptions built by buildDescription. */
export function sdpSeeds(): string[] {
  const files = (dir: string) => readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith('.sdp')).sort().map((f) => readFileSync(join(FIXTURES, dir, f), 'utf8'));
  const bodies = sipCorpus().map((m) => m.text.split('\r\n\r\n').slice(1).join('\r\n\r\n')).filter((b) => b.startsWith('v=0'));
  return [...files('sdp'), ...files('draft'), ...bodies, ...built()];
}

function linesOf(sdps: string[], test: (line: string) => boolean): string[] {
  const out = new Set<string>();
  for (const s of sdps) for (const l of s.split(/\r?\n/)) if (test(l)) out.add(l);
  return [...out];
}

const SDP_TOKENS = [
  'v=0\r\n', 'm=audio ', 'm=video 0 RTP/AVP 31\r\n', 'c=IN IP4 ', 'c=IN IP6 ', 'a=candidate:', ' typ host', ' typ srflx', ' raddr ', ' rport ', ' tcptype ',
  'a=alt:', 'a=curr:', 'a=des:', 'a=conf:', ' conn ', ' qos ', ' e2e ', ' local ', ' remote ', ' mandatory ', ' optional ', ' sendrecv', ' send', ' recv',
  'a=ice-ufrag:', 'a=ice-pwd:', 'a=ice-lite\r\n', 'a=rtcp-mux\r\n', 'a=rtcp:', 'a=rtpmap:', 'a=ptime:', 'a=sendonly\r\n', 'a=inactive\r\n',
  'a=remote-candidates:', 'a=end-of-candidates\r\n', ' UDP ', ' TCP ', ' IN IP4 ', ' : ', ' 1.0 ', ' 0.8 ',
];

// ------------------------------------------------------------------------------------- whole description

/** One conn precondition table of ours, as the preconditions flow keeps it. */
const LOCAL_TABLE = newStatusTable(CONNECTIVITY_PRECONDITION, 'mandatory');

/** Precondition tables from each media section (lib/sip/preconditions-flow.ts reads the first). */
function preconditionTables(sdp: string): void {
  for (const media of preconditionsFromSdp(sdp)) {
    const attrs = media.attributes;
    for (const type of [CONNECTIVITY_PRECONDITION, 'qos']) {
      const t = tableFromRemote(type, attrs);
      if (t) {
        unmetPreconditions(t);
        tableToAttributes(t).map(formatPreconditionAttribute).forEach(parsePreconditionAttribute);
      }
    }
    const answer = answerTable(attrs, CONNECTIVITY_PRECONDITION, { strength: 'mandatory', confirm: 'recv' });
    if (answer) tableToAttributes(answer);
    tableToAttributes(applyRemote(LOCAL_TABLE, attrs));
  }
}

/**
 * A remote SDP as lib/media/media-session.ts reads it: parseDescription (ParseError),
 * codec choice, candidate format, the peer's alternates (ParseError) and their candidates, and the
 * precondition tables of lib/sip/preconditions-flow.ts (which read the SDP whatever parseDescription said).
 */
function runDescription(input: Buffer): Verdict {
  const sdp = input.toString('utf8');
  preconditionTables(sdp);
  const remote = parseDescription(sdp);
  negotiateCodec(remote.codecs);
  describedFormat(remote);
  const alternates = attempt(() => readRemoteAlternates(remote));
  if (alternates) alternatesToCandidates(alternates.alternates, { impliedRtcp: !remote.rtcpMux });
  for (const c of remote.ice?.candidates ?? []) formatCandidateAttribute(c);
  return 'accepted';
}

export const sdpDescriptionTarget: FuzzTarget = {
  name: 'sdp-description',
  about: 'lib/sdp/offer-answer.ts parseDescription, lib/sdp/format.ts readRemoteAlternates, lib/sdp/preconditions.ts tables: ParseError',
  kind: 'text',
  seeds: () => sdpSeeds().map(utf8),
  structured: () => description.map(utf8),
  dictionary: SDP_TOKENS,
  run: runDescription,
};

// ------------------------------------------------------------------------------------- a=candidate

/** Each line: parse; an accepted candidate must format and parse back (ICE agent and convert write them again). */
function runCandidates(input: Buffer): Verdict {
  let rejected = false;
  for (const line of input.toString('utf8').split(/\r?\n/)) {
    if (/^(a=)?remote-candidates:/i.test(line.trim())) {
      const list = attempt(() => parseRemoteCandidates(line));
      if (!list) {
        rejected = true;
        continue;
      }
      const again = attempt(() => parseRemoteCandidates(formatRemoteCandidates(list)));
      if (!again) throw new InvariantError(`remote-candidates accepted but its formatted form is refused: ${JSON.stringify(line)}`);
      continue;
    }
    const c = attempt(() => parseCandidateAttribute(line));
    if (!c) {
      rejected = true;
      continue;
    }
    const written = formatCandidateAttribute(c);
    if (!attempt(() => parseCandidateAttribute(written))) throw new InvariantError(`candidate accepted but its formatted form is refused: ${JSON.stringify(written)}`);
  }
  return rejected ? 'rejected' : 'accepted';
}

export const sdpCandidateTarget: FuzzTarget = {
  name: 'sdp-candidate',
  about: 'lib/sdp/ice-attributes.ts parseCandidateAttribute, parseRemoteCandidates (ParseError), and their formatters on what they accepted',
  kind: 'text',
  seeds: () => linesOf(sdpSeeds(), (l) => /^a=(candidate|remote-candidates):/.test(l)).map(utf8),
  structured: () => fc.oneof({ weight: 5, arbitrary: candidateLine }, { weight: 1, arbitrary: remoteCandidatesLine }).map(utf8),
  dictionary: SDP_TOKENS,
  maxLength: 4096,
  run: runCandidates,
};

// ------------------------------------------------------------------------------------- a=alt

/** Each line alone, then all lines as one list; accepted alternates format, parse back, and become candidates. */
function runAlt(input: Buffer): Verdict {
  const lines = input.toString('utf8').split(/\r?\n/).filter((l) => l.length > 0);
  for (const line of lines) {
    const one = attempt(() => parseAltAttribute(line));
    if (!one) continue;
    // Integer ranks are read liberally but written on the draft's 0..1 scale (lib/ice/alternate.ts).
    const written = formatAltAttribute(toQvalueScale([one.alternate])[0]!);
    if (!attempt(() => parseAltAttribute(written))) throw new InvariantError(`alt accepted but its formatted form is refused: ${JSON.stringify(written)}`);
  }
  const list = parseAltAttributes(lines);
  checkDerivedFrom(list.alternates, list.alternates);
  alternatesToCandidates(list.alternates);
  alternatesToCandidates(list.alternates, { impliedRtcp: false });
  return 'accepted';
}

export const sdpAltTarget: FuzzTarget = {
  name: 'sdp-alt',
  about: 'lib/sdp/alt-attributes.ts parseAltAttribute, parseAltAttributes (ParseError), formatAltAttribute and alternatesToCandidates on what they accepted',
  kind: 'text',
  seeds: () => {
    const sdps = sdpSeeds();
    const perSdp = sdps.map((s) => s.split(/\r?\n/).filter((l) => l.startsWith('a=alt:')).join('\r\n')).filter((s) => s.length > 0);
    return [...linesOf(sdps, (l) => l.startsWith('a=alt:')), ...perSdp].map(utf8);
  },
  structured: () => fc.array(altLine, { minLength: 1, maxLength: 4 }).map((ls) => utf8(ls.join('\r\n'))),
  dictionary: SDP_TOKENS,
  maxLength: 4096,
  run: runAlt,
};

// ------------------------------------------------------------------------------------- preconditions

/** Each precondition line alone (and formatted back), then the lines as an SDP into the tables. */
function runPreconditions(input: Buffer): Verdict {
  const text = input.toString('utf8');
  let rejected = false;
  for (const line of text.split(/\r?\n/)) {
    if (!isPreconditionLine(line)) continue;
    const a = attempt(() => parsePreconditionAttribute(line));
    if (!a) {
      rejected = true;
      continue;
    }
    if (!attempt(() => parsePreconditionAttribute(formatPreconditionAttribute(a)))) {
      throw new InvariantError(`precondition accepted but its formatted form is refused: ${JSON.stringify(formatPreconditionAttribute(a))}`);
    }
  }
  preconditionTables(text.startsWith('m=') ? text : `m=audio 9 RTP/AVP 0\r\n${text}`);
  return rejected ? 'rejected' : 'accepted';
}

export const sdpPreconditionsTarget: FuzzTarget = {
  name: 'sdp-preconditions',
  about: 'lib/sdp/preconditions.ts parsePreconditionAttribute (ParseError), preconditionsFromSdp and the status tables (strength, status type, direction)',
  kind: 'text',
  seeds: () => {
    const sdps = sdpSeeds();
    const lines = linesOf(sdps, (l) => isPreconditionLine(l));
    return [...lines, lines.join('\r\n'), ...sdps.filter((s) => /a=(curr|des|conf):/.test(s))].map(utf8);
  },
  structured: () => fc.array(preconditionLine, { minLength: 1, maxLength: 6 }).map((ls) => utf8(ls.join('\r\n'))),
  dictionary: SDP_TOKENS,
  maxLength: 8192,
  run: runPreconditions,
};

// SRTP/SRTCP unprotect and a=crypto: targets/srtp.ts.

export const SDP_TARGETS: FuzzTarget[] = [sdpDescriptionTarget, sdpCandidateTarget, sdpAltTarget, sdpPreconditionsTarget];
