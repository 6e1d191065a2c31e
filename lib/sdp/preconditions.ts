/**
 * SDP preconditions (RFC 3312 as updated by RFC 4032): the `curr`, `des` and `conf` attributes,
 * the per-stream status tables they describe, and the offer/answer rules that move values
 * between a UA's table and the SDP it sends or receives.
 *
 * Grammar (RFC 3312 §5):
 * ```
 * current-status    = "a=curr:" precondition-type SP status-type SP direction-tag
 * desired-status    = "a=des:"  precondition-type SP strength-tag SP status-type SP direction-tag
 * confirm-status    = "a=conf:" precondition-type SP status-type SP direction-tag
 * precondition-type = "qos" | token
 * strength-tag      = "mandatory" | "optional" | "none" | "failure" | "unknown"
 * status-type       = "e2e" | "local" | "remote"
 * direction-tag     = "none" | "send" | "recv" | "sendrecv"
 * ```
 *
 * Precondition types: `qos` (RFC 3312) and `conn`, the connectivity precondition of RFC 5898.
 * draft-rosenberg-sipping-ice-01 §8 calls its type "connected" (and registers "connectivity" in
 * its §11.1); both are read as aliases of `conn` and we always write `conn`.
 *
 * Directions are always from the point of view of the UA that wrote the SDP: "send" is from the
 * writer to its peer. Segments likewise: "local" is the writer's own access network. So a UA that
 * reads its peer's SDP mirrors every line (RFC 3312 §5.1): `local` ↔ `remote` and `send` ↔ `recv`;
 * `e2e`, `none` and `sendrecv` stay as they are.
 *
 * A status table (RFC 3312 §5.1, "local status table") has, per segment, one row per direction
 * (send, recv) with: the current status (is the resource/connectivity there?), the desired strength,
 * whether WE ask the peer to confirm that row (our `a=conf`), and whether the PEER asked us to
 * confirm it (its `a=conf`, mirrored).
 */
import { ParseError } from '../base/errors.js';

export type PreconditionStrength = 'mandatory' | 'optional' | 'none' | 'failure' | 'unknown';
export type PreconditionStatusType = 'e2e' | 'local' | 'remote';
export type PreconditionDirection = 'none' | 'send' | 'recv' | 'sendrecv';

/** RFC 5898 §4: the connectivity precondition type. */
export const CONNECTIVITY_PRECONDITION = 'conn';
/** Names other documents gave the connectivity type, read as `conn` (draft-rosenberg-sipping-ice-01 §8, §11.1). */
export const CONNECTIVITY_ALIASES: readonly string[] = ['connected', 'connectivity'];

export interface CurrentStatus {
  kind: 'curr';
  type: string;
  statusType: PreconditionStatusType;
  direction: PreconditionDirection;
}
export interface DesiredStatus {
  kind: 'des';
  type: string;
  strength: PreconditionStrength;
  statusType: PreconditionStatusType;
  direction: PreconditionDirection;
}
export interface ConfirmStatus {
  kind: 'conf';
  type: string;
  statusType: PreconditionStatusType;
  direction: PreconditionDirection;
}
export type PreconditionAttribute = CurrentStatus | DesiredStatus | ConfirmStatus;

const STRENGTHS: readonly PreconditionStrength[] = ['mandatory', 'optional', 'none', 'failure', 'unknown'];
const STATUS_TYPES: readonly PreconditionStatusType[] = ['e2e', 'local', 'remote'];
const DIRECTIONS: readonly PreconditionDirection[] = ['none', 'send', 'recv', 'sendrecv'];
/** RFC 4566 token. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;

/** `conn` for the connectivity aliases (case-insensitive), the token itself otherwise. */
export function canonicalPreconditionType(type: string): string {
  const lower = type.toLowerCase();
  if (lower === CONNECTIVITY_PRECONDITION || CONNECTIVITY_ALIASES.includes(lower)) return CONNECTIVITY_PRECONDITION;
  return type;
}

function pick<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T {
  const v = value?.toLowerCase();
  if (v === undefined || !(allowed as readonly string[]).includes(v)) {
    throw new ParseError(`bad ${field} '${value ?? ''}' (expected ${allowed.join('|')})`, field);
  }
  return v as T;
}

/**
 * Parses one precondition attribute: `a=curr:…`, `curr:…` (the same without `a=`).
 * @throws ParseError naming the field that does not follow RFC 3312 §5.
 */
export function parsePreconditionAttribute(line: string): PreconditionAttribute {
  const text = line.trim().replace(/^a=/, '');
  const colon = text.indexOf(':');
  if (colon < 0) throw new ParseError(`not a precondition attribute: '${line}'`, 'attribute');
  const name = text.slice(0, colon).toLowerCase();
  const fields = text.slice(colon + 1).trim().split(/[ \t]+/);
  if (name !== 'curr' && name !== 'des' && name !== 'conf') throw new ParseError(`not a precondition attribute: '${name}'`, 'attribute');
  const expected = name === 'des' ? 4 : 3;
  if (fields.length !== expected || fields[0] === '') {
    throw new ParseError(`a=${name} needs ${expected} fields, got ${fields[0] === '' ? 0 : fields.length}`, name);
  }
  const rawType = fields[0]!;
  if (!TOKEN.test(rawType)) throw new ParseError(`bad precondition-type '${rawType}'`, 'precondition-type');
  const type = canonicalPreconditionType(rawType);
  if (name === 'des') {
    return {
      kind: 'des',
      type,
      strength: pick(fields[1], STRENGTHS, 'strength-tag'),
      statusType: pick(fields[2], STATUS_TYPES, 'status-type'),
      direction: pick(fields[3], DIRECTIONS, 'direction-tag'),
    };
  }
  return { kind: name, type, statusType: pick(fields[1], STATUS_TYPES, 'status-type'), direction: pick(fields[2], DIRECTIONS, 'direction-tag') };
}

/** Formats an attribute without the leading `a=` (like the other codecs in lib/sdp). */
export function formatPreconditionAttribute(a: PreconditionAttribute): string {
  if (a.kind === 'des') return `des:${a.type} ${a.strength} ${a.statusType} ${a.direction}`;
  return `${a.kind}:${a.type} ${a.statusType} ${a.direction}`;
}

/** True for a line (with or without `a=`) naming curr/des/conf. */
export function isPreconditionLine(line: string): boolean {
  return /^(a=)?(curr|des|conf):/i.test(line.trim());
}

// ------------------------------------------------------------------ SDP sections

/** The precondition attributes of each media section of an SDP, in m-line order. */
export interface MediaPreconditions {
  attributes: PreconditionAttribute[];
  /** Precondition lines that failed to parse (dropped, reported). */
  invalid: string[];
}

/** Reads curr/des/conf lines of every m= section (session-level ones are ignored: RFC 3312 §5 puts them in media). */
export function preconditionsFromSdp(sdp: string): MediaPreconditions[] {
  const out: MediaPreconditions[] = [];
  let current: MediaPreconditions | undefined;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      current = { attributes: [], invalid: [] };
      out.push(current);
      continue;
    }
    if (!current || !line.startsWith('a=') || !isPreconditionLine(line)) continue;
    try {
      current.attributes.push(parsePreconditionAttribute(line));
    } catch {
      current.invalid.push(line);
    }
  }
  return out;
}

/**
 * Returns `sdp` with the curr/des/conf lines of every media section replaced by `perMedia[i]`
 * (sections without an entry lose theirs). Lines go at the end of each section; CRLF line ends.
 */
export function withPreconditions(sdp: string, perMedia: PreconditionAttribute[][]): string {
  const lines = sdp.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  let index = -1;
  const flush = () => {
    if (index >= 0) for (const a of perMedia[index] ?? []) out.push(`a=${formatPreconditionAttribute(a)}`);
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      flush();
      index++;
    } else if (index >= 0 && isPreconditionLine(line)) {
      continue;
    }
    out.push(line);
  }
  flush();
  return `${out.join('\r\n')}\r\n`;
}

// ------------------------------------------------------------------ status tables

export interface StatusRow {
  /** Current status: the resource (for `conn`: verified connectivity) is there. */
  current: boolean;
  strength: PreconditionStrength;
  /** We ask the peer to confirm this row (we write `a=conf`). */
  confirm: boolean;
  /** The peer asked us to confirm this row (its `a=conf`, mirrored). */
  confirmRequested: boolean;
}

export interface SegmentRows {
  send: StatusRow;
  recv: StatusRow;
}

/** A UA's status table for one precondition type of one media stream (RFC 3312 §5.1). */
export interface StatusTable {
  type: string;
  /** e2e tables have the `e2e` segment; segmented ones `local` and `remote`. */
  segments: Partial<Record<PreconditionStatusType, SegmentRows>>;
}

const row = (strength: PreconditionStrength = 'none'): StatusRow => ({ current: false, strength, confirm: false, confirmRequested: false });

/** Directions a direction-tag covers. */
export function directionRows(d: PreconditionDirection): Array<'send' | 'recv'> {
  return d === 'sendrecv' ? ['send', 'recv'] : d === 'none' ? [] : [d];
}

/** The direction-tag that says both/one/neither of the flags. */
export function directionOf(send: boolean, recv: boolean): PreconditionDirection {
  return send && recv ? 'sendrecv' : send ? 'send' : recv ? 'recv' : 'none';
}

/** Mirrors what a peer wrote into our point of view (RFC 3312 §5.1). */
export function mirrorDirection(d: PreconditionDirection): PreconditionDirection {
  return d === 'send' ? 'recv' : d === 'recv' ? 'send' : d;
}
export function mirrorStatusType(s: PreconditionStatusType): PreconditionStatusType {
  return s === 'local' ? 'remote' : s === 'remote' ? 'local' : s;
}
export function mirrorAttribute<T extends PreconditionAttribute>(a: T): T {
  return { ...a, statusType: mirrorStatusType(a.statusType), direction: mirrorDirection(a.direction) };
}

/**
 * Strength order for RFC 3312 §6: an answerer (and an offerer reading the answer) "MAY upgrade"
 * none → optional → mandatory but never downgrades; `failure` wins over everything (the peer
 * cannot meet it). `unknown` ranks lowest: it states no requirement.
 */
const RANK: Record<PreconditionStrength, number> = { unknown: 0, none: 1, optional: 2, mandatory: 3, failure: 4 };
export function strongerStrength(a: PreconditionStrength, b: PreconditionStrength): PreconditionStrength {
  return RANK[a] >= RANK[b] ? a : b;
}

/** A new table: desired `strength` in `direction`, nothing current (the usual initial offer). */
export function newStatusTable(
  type: string,
  strength: PreconditionStrength,
  options: { direction?: PreconditionDirection; statusType?: 'e2e' | 'segmented' } = {},
): StatusTable {
  const direction = options.direction ?? 'sendrecv';
  const wanted = directionRows(direction);
  const rows = (): SegmentRows => ({
    send: row(wanted.includes('send') ? strength : 'none'),
    recv: row(wanted.includes('recv') ? strength : 'none'),
  });
  const segments: StatusTable['segments'] = options.statusType === 'segmented' ? { local: rows(), remote: rows() } : { e2e: rows() };
  return { type: canonicalPreconditionType(type), segments };
}

export function cloneTable(t: StatusTable): StatusTable {
  const segments: StatusTable['segments'] = {};
  for (const [k, v] of Object.entries(t.segments) as Array<[PreconditionStatusType, SegmentRows]>) {
    segments[k] = { send: { ...v.send }, recv: { ...v.recv } };
  }
  return { type: t.type, segments };
}

function segmentOf(t: StatusTable, s: PreconditionStatusType): SegmentRows {
  let seg = t.segments[s];
  if (!seg) {
    seg = { send: row(), recv: row() };
    t.segments[s] = seg;
  }
  return seg;
}

/** Marks rows current (e.g. `conn` on ICE success: RFC 5898 §4 — a successful check verifies both directions). */
export function setCurrent(t: StatusTable, statusType: PreconditionStatusType, direction: PreconditionDirection, value = true): StatusTable {
  const out = cloneTable(t);
  const seg = segmentOf(out, statusType);
  for (const d of directionRows(direction)) seg[d].current = value;
  return out;
}

/** Sets the desired strength of every row that has a requirement (to `failure` when we cannot meet it). */
export function setStrength(t: StatusTable, strength: PreconditionStrength, direction: PreconditionDirection = 'sendrecv'): StatusTable {
  const out = cloneTable(t);
  for (const seg of Object.values(out.segments)) {
    for (const d of directionRows(direction)) seg[d].strength = strength;
  }
  return out;
}

/** Sets our own confirmation requests (what we write in `a=conf`). */
export function setConfirm(t: StatusTable, statusType: PreconditionStatusType, direction: PreconditionDirection): StatusTable {
  const out = cloneTable(t);
  const seg = segmentOf(out, statusType);
  for (const d of ['send', 'recv'] as const) seg[d].confirm = directionRows(direction).includes(d);
  return out;
}

/**
 * A table as the PEER wrote it, in our point of view: the peer's SDP lines of `type`, mirrored.
 * Rows the peer did not mention stay `none`/not current. Returns undefined when the peer wrote
 * no line of that type (it does not use that precondition).
 */
export function tableFromRemote(type: string, attributes: readonly PreconditionAttribute[]): StatusTable | undefined {
  const t = canonicalPreconditionType(type);
  const mine = attributes.filter((a) => a.type === t);
  if (mine.length === 0) return undefined;
  const table: StatusTable = { type: t, segments: {} };
  for (const raw of mine) {
    const a = mirrorAttribute(raw);
    const seg = segmentOf(table, a.statusType);
    for (const d of directionRows(a.direction)) {
      if (a.kind === 'curr') seg[d].current = true;
      else if (a.kind === 'des') seg[d].strength = strongerStrength(seg[d].strength, a.strength);
      else seg[d].confirmRequested = true;
    }
    // `a=curr:… none` and `a=des:… none`-direction lines still create the segment (done by segmentOf).
  }
  return table;
}

/**
 * RFC 3312 §6: a UA that receives an offer or answer updates its local table from it.
 *  - Desired strength: the stronger of ours and the peer's (upgrades only; `failure` wins).
 *  - Current status: for `e2e` either side may know a direction is up (each verifies what it can),
 *    so a row is current when we knew or the peer says so; the `remote` segment is what the peer
 *    reports of its own access (its `local`); our `local` segment is our own knowledge.
 *  - Confirmation: the peer's `a=conf` rows become `confirmRequested` (we must send an updated
 *    offer when they become current); each SDP states the full set, so earlier requests are replaced.
 */
export function applyRemote(local: StatusTable, remoteAttributes: readonly PreconditionAttribute[]): StatusTable {
  const out = cloneTable(local);
  const peer = tableFromRemote(local.type, remoteAttributes);
  if (!peer) return out;
  for (const s of STATUS_TYPES) {
    const theirs = peer.segments[s];
    const mineExisting = out.segments[s];
    if (!theirs && !mineExisting) continue;
    const mine = segmentOf(out, s);
    for (const d of ['send', 'recv'] as const) {
      const t = theirs?.[d] ?? row();
      mine[d].strength = strongerStrength(mine[d].strength, t.strength);
      if (s === 'e2e') mine[d].current = mine[d].current || t.current;
      else if (s === 'remote') mine[d].current = theirs ? t.current : mine[d].current;
      mine[d].confirmRequested = t.confirmRequested;
    }
  }
  return out;
}

/**
 * The table of an answerer that supports the type (RFC 3312 §6): start from the offer (mirrored),
 * upgrade to our own policy strength, add what we already know is current, and ask for the
 * confirmations in `confirm` (status type, direction).
 */
export function answerTable(
  offerAttributes: readonly PreconditionAttribute[],
  type: string,
  options: { strength?: PreconditionStrength; current?: PreconditionDirection; confirm?: PreconditionDirection } = {},
): StatusTable | undefined {
  const peer = tableFromRemote(type, offerAttributes);
  if (!peer) return undefined;
  let t: StatusTable = { type: peer.type, segments: {} };
  for (const [s, seg] of Object.entries(peer.segments) as Array<[PreconditionStatusType, SegmentRows]>) {
    t.segments[s] = {
      send: { current: s === 'e2e' ? seg.send.current : false, strength: seg.send.strength, confirm: false, confirmRequested: seg.send.confirmRequested },
      recv: { current: s === 'e2e' ? seg.recv.current : false, strength: seg.recv.strength, confirm: false, confirmRequested: seg.recv.confirmRequested },
    };
    if (s === 'remote') {
      t.segments[s]!.send.current = seg.send.current;
      t.segments[s]!.recv.current = seg.recv.current;
    }
  }
  if (options.strength) {
    for (const seg of Object.values(t.segments)) {
      for (const d of ['send', 'recv'] as const) {
        if (seg[d].strength !== 'failure' && RANK[seg[d].strength] >= RANK.none) seg[d].strength = strongerStrength(seg[d].strength, options.strength);
      }
    }
  }
  const mySegment: PreconditionStatusType = t.segments.e2e ? 'e2e' : 'local';
  if (options.current) t = setCurrent(t, mySegment, options.current);
  if (options.confirm) t = setConfirm(t, mySegment, options.confirm);
  return t;
}

/**
 * The SDP lines for a table (RFC 3312 §5.1: "the UA uses its local status table to fill the SDP"):
 * per segment one `curr`, `des` lines (one `sendrecv` line when both rows share a strength, else
 * one per direction), and a `conf` line when we ask for a confirmation.
 */
export function tableToAttributes(t: StatusTable): PreconditionAttribute[] {
  const out: PreconditionAttribute[] = [];
  for (const s of STATUS_TYPES) {
    const seg = t.segments[s];
    if (!seg) continue;
    out.push({ kind: 'curr', type: t.type, statusType: s, direction: directionOf(seg.send.current, seg.recv.current) });
    if (seg.send.strength === seg.recv.strength) {
      out.push({ kind: 'des', type: t.type, strength: seg.send.strength, statusType: s, direction: 'sendrecv' });
    } else {
      out.push({ kind: 'des', type: t.type, strength: seg.send.strength, statusType: s, direction: 'send' });
      out.push({ kind: 'des', type: t.type, strength: seg.recv.strength, statusType: s, direction: 'recv' });
    }
    const conf = directionOf(seg.send.confirm, seg.recv.confirm);
    if (conf !== 'none') out.push({ kind: 'conf', type: t.type, statusType: s, direction: conf });
  }
  return out;
}

/** One row that holds the session back. */
export interface UnmetPrecondition {
  statusType: PreconditionStatusType;
  direction: 'send' | 'recv';
  strength: PreconditionStrength;
}

/**
 * Rows whose desired strength is in `strengths` (default mandatory and optional) but whose current
 * status is not there yet. `failure` rows are always listed.
 */
export function unmetPreconditions(t: StatusTable, strengths: readonly PreconditionStrength[] = ['mandatory', 'optional']): UnmetPrecondition[] {
  const out: UnmetPrecondition[] = [];
  for (const s of STATUS_TYPES) {
    const seg = t.segments[s];
    if (!seg) continue;
    for (const d of ['send', 'recv'] as const) {
      const r = seg[d];
      if (r.strength === 'failure' || (strengths.includes(r.strength) && !r.current)) out.push({ statusType: s, direction: d, strength: r.strength });
    }
  }
  return out;
}

/**
 * RFC 3312 §6: the preconditions are met when every desired (mandatory and, by default, optional)
 * direction is satisfied by the current status. A table with a `failure` row is never met.
 */
export function preconditionsMet(t: StatusTable, strengths: readonly PreconditionStrength[] = ['mandatory', 'optional']): boolean {
  return unmetPreconditions(t, strengths).length === 0;
}

/** True when a row has strength `failure` (RFC 3312 §6: the peer cannot meet a precondition). */
export function preconditionsFailed(t: StatusTable): boolean {
  return Object.values(t.segments).some((seg) => seg.send.strength === 'failure' || seg.recv.strength === 'failure');
}

/** The strongest desired strength in the table. */
export function strongestStrength(t: StatusTable): PreconditionStrength {
  let s: PreconditionStrength = 'unknown';
  for (const seg of Object.values(t.segments)) s = strongerStrength(strongerStrength(s, seg.send.strength), seg.recv.strength);
  return s;
}

/** True when the peer asked us to confirm a row that is now current (we owe it an updated offer, RFC 3312 §6). */
export function confirmationDue(t: StatusTable): boolean {
  return Object.values(t.segments).some((seg) => (seg.send.confirmRequested && seg.send.current) || (seg.recv.confirmRequested && seg.recv.current));
}

/** Option-tag helpers (RFC 3312 §11, RFC 4032): does a Require/Supported header value list `tag`? */
export function hasOptionTag(headerValue: string | undefined, tag: string): boolean {
  if (!headerValue) return false;
  return headerValue.split(',').some((t) => t.trim().toLowerCase() === tag.toLowerCase());
}
