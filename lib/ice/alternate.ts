/**
 * The draft's alternates as a model (draft-rosenberg-sipping-ice-01 §5.3, §5.5, §7): what one
 * `a=alt` line stands for, how alternates rank (qvalue, then peer derived, then order), and how
 * they become the ICE agent's candidates (RFC 8445 §5.1). The `a=alt` syntax itself is in
 * lib/sdp/alt-attributes.ts, the qvalue's spelling in lib/base/qvalue.ts; reading RFC 8839
 * candidates back as alternates (for `sdp convert --to alt`) is in lib/sdp/alt-candidates.ts.
 *
 * ## qvalue ↔ RFC 8445 priority (draft §5.3, §5.5, §2)
 * The draft ranks alternates by a qvalue in 0..1 (RFC 3261 §25.1 syntax, so at most three decimals:
 * 1001 levels), RECOMMENDING, from best to worst, local IPv6, local IPv4, STUN derived, TURN/RSIP/
 * TEREDO derived, and local VPN addresses (§5.3). Between equal qvalues a peer derived address wins
 * (§5.5: "between two transport addresses with the same q-value, a STUN derived address always has
 * higher priority"; §9.1.2: "a peer-derived address is always preferred"), and alternates "are
 * ordered in terms of preference" (§2), so document order breaks the remaining ties.
 *
 * RFC 8445 §5.1.2.1 computes `priority = 2^24 * type preference + 2^8 * local preference +
 * (256 - component ID)`. We read the top 24 bits (type preference 0..126 : local preference
 * 0..65535) as one preference number and fill it qvalue-first:
 * ```
 * preference      = qvalue*1000 * 8192 + (peer derived ? 4096 : 0) + (4095 - min(index, 4095))
 * type preference = preference >>> 16          (0..125)
 * local preference = preference & 0xffff
 * ```
 * so sorting candidates by priority sorts them exactly as the draft sorts alternates, and
 * `priorityToQvalue(p) = floor((p >>> 8) / 8192) / 1000` recovers the qvalue even when the `alt-q`
 * extension is lost. The price is RFC 8445 §5.1.2.2's rule that the type preference be "identical
 * for all candidates of the same type": no type-first scheme can reproduce the draft's order
 * (Figure 26 ranks a peer derived 1.0 above a STUN derived 0.8 above a peer derived 0.4, and §5.3
 * ranks VPN host addresses below relayed ones), and these priorities are the peer's own ranking of
 * its addresses, which is what a remote candidate's priority means in pair priority (§6.1.2.3).
 * Going the other way, an RFC 8445 priority maps to `min(1, floor((p >>> 8) / 8192) / 1000)`:
 * recommended host (126) → 1.0, prflx (110) → 0.880–0.887, srflx (100) → 0.800–0.807,
 * relay (0) → 0.0–0.007. The map is monotonic, so priority order is kept (ties may merge).
 *
 * ## Integer ranks, read liberally (draft §7 "qvalue … indicates the relative preference of this
 * address amongst any others conveyed in alt-attributes in this media stream")
 * Deployed endpoints wrote integer ranks instead of 0..1 qvalues (`2` above `1`). The reader
 * (lib/base/qvalue.ts `readQvalue`) keeps such a rank as the number it is, and this is the rule
 * for comparing it (`compareQvalues`): **every qvalue of one m-section is compared as a number**.
 * So a higher rank ranks higher, every rank (2, 3, …) ranks above every 0..1 qvalue of the same
 * m-section, and "1" is the qvalue 1.0, equal to "1.0" and below "2". Equal numbers are ties,
 * broken as always by peer derived, then document order (§5.5, §2). As the qvalue only orders the
 * alternates of one m-section, nothing compares across m-sections.
 *
 * What is written (our offers, `sdp convert`, the `alt-q` extension) and what the connectivity
 * engine ranks by stays on the 0..1 scale: `toQvalueScale` puts an m-section that has ranks on it
 * by order alone. Its k distinct values, lowest first, become the qvalues i/k (i = 1..k, rounded to
 * thousandths): the best becomes 1.0 and the order, ties included, is kept exactly (for up to 1000
 * distinct values; beyond, neighbours may merge and document order decides). An m-section without
 * ranks is left as it is. `alternatesToCandidates` does this itself; `qvalueToPriority` and
 * `alternateToCandidates`, which see one alternate, refuse a rank.
 *
 * ## derived-from ↔ peer reflexive, related address (draft §5.5, §7)
 * The draft's "peer derived transport address" is RFC 8445's peer reflexive candidate: the
 * MAPPED-ADDRESS learned from a check sent to the peer. `derived-from` is ":" for every other
 * alternate and otherwise the peer's alternate id the check was sent to; the draft requires media to
 * such an address to be sent *from* that peer alternate (§7), a pairing constraint for the agent.
 * This is not RFC 8839's `raddr`/`rport`, which is the candidate's own base (RFC 8445 §5.1.1.2) and
 * which the alt line does not carry. So: derived-from id → type `prflx` and extension
 * `alt-derived-from <id>`; ":" → no extension and, as the alt line does not say how an address was
 * obtained, type `host` unless the caller's `typeOf` knows better. For non-host types RFC 8839 §5.1
 * wants `raddr`/`rport`; we write the unspecified address of the same family and port 9 (the form
 * used when the related address is not disclosed) and ignore `raddr`/`rport` when reading back.
 *
 * ## Extension attributes carrying what `a=candidate` cannot (RFC 8839 §5.1 extension-att)
 * - `alt-id <id>`: the alternate's id (on both components' candidates).
 * - `alt-q <qvalue>`: the qvalue as written by `formatQvalue`.
 * - `alt-derived-from <id>`: present only for peer derived alternates.
 * - `alt-username <username>`, `alt-password <password>`: the per-alternate STUN credentials of
 *   draft §5.2/§7 (RFC 8839 has only one `ice-ufrag`/`ice-pwd` per media section, whose syntax the
 *   draft's values, such as `9kksj==`, do not even meet).
 * - `alt-rtcp implied`: on a component 2 candidate made from an alt line without an RTCP pair, whose
 *   RTCP address is implied to be the RTP address with port + 1 (§7, last paragraph).
 * With these, alt → candidates → alt gives back the same alternates (id, qvalue, derived-from,
 * credentials, RTCP pair or its absence); the order is kept by the priorities and by list order.
 */
import { formatQvalue, isQvalueRank, qvalueToMilli } from '../base/qvalue.js';
import { computePriority, type Candidate, type CandidateType } from './candidate.js';

/** What one `a=alt` line stands for: an alternate transport address (pair, for RTP) of draft §7. */
export interface AltCandidate {
  /** `id = token`, unique among the alternates one agent sends in a dialog. */
  id: string;
  /**
   * Preference 0..1, three decimals at most (RFC 3261 qvalue); 1 is most preferred. As read from
   * a deployed endpoint it may instead be an integer rank above 1 (see "Integer ranks" above);
   * `toQvalueScale` brings a list back to 0..1.
   */
  qvalue: number;
  /** The peer's alternate id this address was learned through (peer derived), or null for ":". */
  derivedFrom: string | null;
  /** STUN USERNAME the recipient must use in checks to this alternate (non-ws-string). */
  username: string;
  /** STUN PASSWORD the recipient must use in checks to this alternate (non-ws-string). */
  password: string;
  /** RTP (or the stream's only) transport address. */
  address: string;
  port: number;
  /** Explicit RTCP transport address; absent means RTCP goes to `address`:`port + 1`. */
  rtcpAddress?: string;
  rtcpPort?: number;
}

/** The same thing under the draft's own name. */
export type Alternate = AltCandidate;

/** Names of the RFC 8839 extension attributes that carry alt fields on `a=candidate` lines. */
export const ALT_EXTENSION = {
  id: 'alt-id',
  qvalue: 'alt-q',
  derivedFrom: 'alt-derived-from',
  username: 'alt-username',
  password: 'alt-password',
  rtcp: 'alt-rtcp',
} as const;

/** RFC 8839 §5.1 foundation = 1*32 ice-char. */
const ICE_CHARS = /^[A-Za-z0-9+/]{1,32}$/;

// ---------------------------------------------------------------------------------------------
// ranking (see the module comment)

/**
 * draft §7 qvalue order, read liberally: negative when `a` ranks below `b`, 0 for a tie, positive
 * above. qvalues and integer ranks are compared as numbers: 0.4 < 1 = 1.0 < 2 < 3 (see "Integer
 * ranks" in the module comment).
 */
export function compareQvalues(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The alternates of one m-section with their qvalues on the 0..1 scale of draft §7 (copies): unchanged
 * without integer ranks; with them, the k distinct values, in `compareQvalues` order, become i/k
 * (i = 1..k, three decimals), so the order and the ties are kept and the best is 1.0.
 */
export function toQvalueScale(alternates: readonly AltCandidate[]): AltCandidate[] {
  if (!alternates.some((a) => isQvalueRank(a.qvalue))) return alternates.map((a) => ({ ...a }));
  const distinct = [...new Set(alternates.map((a) => a.qvalue))].sort(compareQvalues);
  const scaled = new Map(distinct.map((value, i) => [value, Math.round((1000 * (i + 1)) / distinct.length) / 1000]));
  return alternates.map((a) => ({ ...a, qvalue: scaled.get(a.qvalue)! }));
}

// ---------------------------------------------------------------------------------------------
// qvalue ↔ priority (see the module comment)

const QVALUE_STEP = 8192;
const PEER_DERIVED_BIT = 4096;
const MAX_TIE_BREAK = 4095;

/**
 * RFC 8445 §5.1.2.1 priority for an alternate (draft §5.5 ranking): qvalue first, then peer derived, then position.
 * @param index position of the alternate in its list (earlier = preferred among equals).
 * @throws RangeError on a qvalue outside 0..1 (an integer rank included: see `toQvalueScale`) or
 *   with more than three decimals, or a bad component.
 */
export function qvalueToPriority(qvalue: number, options: { peerDerived?: boolean; index?: number; component?: number } = {}): number {
  const index = Math.max(0, Math.min(options.index ?? 0, MAX_TIE_BREAK));
  const preference = qvalueToMilli(qvalue) * QVALUE_STEP + (options.peerDerived ? PEER_DERIVED_BIT : 0) + (MAX_TIE_BREAK - index);
  const typePreference = Math.floor(preference / 65536);
  // The type argument only picks a default type preference, which typePreference overrides.
  return computePriority('host', preference % 65536, options.component ?? 1, typePreference);
}

/** The qvalue a priority stands for: exact for priorities from `qvalueToPriority`, monotonic for any. */
export function priorityToQvalue(priority: number): number {
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffffffff) throw new RangeError(`priority ${priority} not a 32-bit unsigned integer`);
  return Math.min(1000, Math.floor(Math.floor(priority / 256) / QVALUE_STEP)) / 1000;
}

// ---------------------------------------------------------------------------------------------
// alternates → candidates

export interface AltToCandidateOptions {
  /**
   * Add a component 2 candidate at port + 1 for alternates without an RTCP pair (draft §7: RTCP
   * "sent to the port one higher"). Default true; pass false for rtcp-mux or non-RTP streams.
   */
  impliedRtcp?: boolean;
  /** Candidate type for an alternate; default `prflx` if peer derived, else `host`. */
  typeOf?: (alt: AltCandidate) => CandidateType;
}

/** RFC 8839 foundation (1*32 ice-char) for an alternate: its id when that fits, else a hash of it. */
function foundationFor(id: string): string {
  if (ICE_CHARS.test(id)) return id;
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (const byte of Buffer.from(id, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `x${hash.toString(16).padStart(8, '0')}`;
}

/**
 * The candidates of one alternate: component 1 (RTP), then component 2 (RTCP) when the alternate has
 * an RTCP pair or `impliedRtcp` is on. Both carry the `alt-*` extensions (see the module comment).
 * @throws RangeError on an integer-rank qvalue (use `alternatesToCandidates` for a whole list).
 */
export function alternateToCandidates(alt: AltCandidate, index = 0, options: AltToCandidateOptions = {}): Candidate[] {
  const peerDerived = alt.derivedFrom !== null;
  const type = options.typeOf?.(alt) ?? (peerDerived ? 'prflx' : 'host');
  const extensions: Array<[string, string]> = [
    [ALT_EXTENSION.id, alt.id],
    [ALT_EXTENSION.qvalue, formatQvalue(alt.qvalue)],
  ];
  if (alt.derivedFrom !== null) extensions.push([ALT_EXTENSION.derivedFrom, alt.derivedFrom]);
  extensions.push([ALT_EXTENSION.username, alt.username], [ALT_EXTENSION.password, alt.password]);

  const make = (component: number, address: string, port: number, extra: Array<[string, string]> = []): Candidate => {
    const c: Candidate = {
      foundation: foundationFor(alt.id),
      component,
      transport: 'udp',
      priority: qvalueToPriority(alt.qvalue, { peerDerived, index, component }),
      address,
      port,
      type,
    };
    if (type !== 'host') {
      // RFC 8839 §5.1 wants rel-addr/rel-port here; the alt line has no base to put in them.
      c.relatedAddress = address.includes(':') ? '::' : '0.0.0.0';
      c.relatedPort = 9;
    }
    c.extensions = [...extensions, ...extra];
    return c;
  };

  const candidates = [make(1, alt.address, alt.port)];
  if (alt.rtcpAddress !== undefined && alt.rtcpPort !== undefined) {
    candidates.push(make(2, alt.rtcpAddress, alt.rtcpPort));
  } else if ((options.impliedRtcp ?? true) && alt.port < 65535) {
    candidates.push(make(2, alt.address, alt.port + 1, [[ALT_EXTENSION.rtcp, 'implied']]));
  }
  return candidates;
}

/**
 * All alternates' candidates, in alternate order (each alternate's RTP then RTCP candidate). The
 * list is one m-section's: integer ranks are put on the 0..1 scale first (`toQvalueScale`), so
 * `alt-q` and the priorities carry only draft-conforming qvalues.
 */
export function alternatesToCandidates(alternates: readonly AltCandidate[], options: AltToCandidateOptions = {}): Candidate[] {
  return toQvalueScale(alternates).flatMap((alt, index) => alternateToCandidates(alt, index, options));
}
