/**
 * Which candidate format an offer carries and an answer uses: RFC 8839 `a=candidate` (with
 * `a=ice-ufrag`/`a=ice-pwd`), the legacy `a=alt` of draft-rosenberg-sipping-ice-01 §7, or neither.
 *
 * ## The rules (`--sdp ice|alt|both`)
 * Offers (`offerFormat`): the setting says what our offers carry.
 * - `ice`: `a=ice-ufrag`, `a=ice-pwd` and `a=candidate` lines; no `a=alt`.
 * - `alt`: `a=alt` lines only (one per alternate, each with its own STUN username/password); no
 *   `a=ice-ufrag`, `a=ice-pwd` or `a=candidate`.
 * - `both` (default): both sets in the same m-section, describing the same transport addresses.
 * In every case the m/c line carries the address most likely to work with any peer: the relayed
 * one when there is one, else server reflexive, else host (draft §5.4, RFC 8445 §5.1.4), and with
 * `a=alt` it also appears as an alternate (§5.4: "including the one that was just placed into the
 * m and c lines").
 *
 * Answers (`answerFormat`) mirror the offer, whatever the setting (the setting is about offers),
 * except for the library-only setting `none`, which answers every offer plain (next list's last case):
 * - an offer with `a=candidate` only → `ice`; with `a=alt` only → `alt`;
 * - an offer with both → exactly one of them: `ice` when we speak it (setting `ice` or `both`),
 *   `alt` when the setting is `alt`;
 * - an offer with neither → `none`: a plain RFC 3264 answer, media to the m/c line.
 * The offerer follows the answer (`followAnswer`): `a=candidate` → RFC 8445; `a=alt` → the
 * draft's procedures; neither → plain media to the answer's m/c line. An answer that carries both
 * (from a peer not following these rules) is taken as `ice` if we offered it, else `alt`.
 * The format in use is what the `--json` summary reports as `ice.format`.
 *
 * ## `a=alt` that does not include the m/c address is ignored (alt mismatch)
 * The draft-era equivalent of an ICE mismatch (RFC 8839 §4.2.5): `a=alt` lines of which none is
 * the m/c line's address and port (draft §5.4 and §7 put the m/c address among the alternates)
 * were left behind by a middlebox that rewrote m/c, typically a media proxy that strips the ICE
 * attributes but not `a=alt`. Such a description counts as having no `a=alt`
 * (`RemoteDescription.alt.mismatch`, lib/sdp/offer-answer.ts): with the default `--sdp both` an
 * offer through such a proxy is answered plain and media goes to the m/c line, i.e. through the
 * proxy, instead of straight to the caller's private addresses; an answer through it is followed
 * the same way (`followAnswer` of `none`). The `a=alt` lines are not otherwise used.
 */
import type { AltCandidate } from '../ice/alternate.js';
import { formatAltAttribute, type AltWarning } from './alt-attributes.js';
import type { RemoteDescription, SdpAttribute } from './offer-answer.js';

/**
 * The `--sdp` setting: what our offers carry. `none` (library only, not a `--sdp` value): a plain
 * RFC 3264 offer with neither `a=candidate`/`a=ice-*` nor `a=alt`, media to the m/c line (the PBX
 * leg of lib/gateway/).
 */
export type SdpFormatSetting = 'ice' | 'alt' | 'both' | 'none';
/** What a peer's SDP carries. */
export type OfferedFormat = 'ice' | 'alt' | 'both' | 'none';
/** What a call uses once offer/answer is done (`ice.format` in the summary). */
export type NegotiatedFormat = 'ice' | 'alt' | 'none';

export const SDP_FORMAT_SETTINGS: readonly SdpFormatSetting[] = ['ice', 'alt', 'both'];

/** True for a `--sdp` value (ice, alt, both; `none` is for the library only). */
export function isSdpFormatSetting(value: unknown): value is SdpFormatSetting {
  return value === 'ice' || value === 'alt' || value === 'both';
}

/** What our offer carries for a setting. */
export function offerFormat(setting: SdpFormatSetting): { ice: boolean; alt: boolean } {
  if (setting === 'none') return { ice: false, alt: false };
  return { ice: setting !== 'alt', alt: setting !== 'ice' };
}

/**
 * Which formats a parsed peer SDP carries: ICE counts when it has usable ice-ufrag/ice-pwd; `a=alt`
 * when at least one line could be read (lib/sdp/offer-answer.ts drops and counts the others) and
 * one of them is the m/c address (the alt mismatch rule, see the module comment).
 */
export function describedFormat(remote: RemoteDescription): OfferedFormat {
  // RFC 8839 §4.2.5: when the default destination is not among the candidates a middlebox
  // rewrote the SDP; ICE is not used for that description (our answer says a=ice-mismatch).
  const ice = remote.ice !== undefined && !remote.ice.mismatch;
  const alt = remote.alt !== undefined && !remote.alt.mismatch;
  return ice ? (alt ? 'both' : 'ice') : alt ? 'alt' : 'none';
}

/**
 * The answer's format for an offer (see the module comment). The setting `none` (the gateway's PBX
 * leg) answers plain whatever the offer carries: RFC 8839 §3.2.1.1 lets an answerer that does not
 * use ICE answer without it, and the draft's offerer falls back to m/c when the answer has no
 * `a=alt` (§5.4); media then goes to the offer's m/c line.
 */
export function answerFormat(offered: OfferedFormat, setting: SdpFormatSetting): NegotiatedFormat {
  if (setting === 'none') return 'none';
  switch (offered) {
    case 'ice':
    case 'alt':
    case 'none':
      return offered;
    case 'both':
      return setting === 'alt' ? 'alt' : 'ice';
  }
}

/** The format the offerer uses after the answer (see the module comment). */
export function followAnswer(answered: OfferedFormat, offered: { ice: boolean; alt: boolean }): NegotiatedFormat {
  if (answered === 'both') return offered.ice ? 'ice' : 'alt';
  if (answered === 'ice' && !offered.ice) return 'none';
  if (answered === 'alt' && !offered.alt) return 'none';
  return answered;
}

export interface RemoteAlternates {
  alternates: AltCandidate[];
  warnings: AltWarning[];
}

/**
 * The peer's alternates (draft §7) from the audio m-section, as `parseDescription` read them
 * (integer ranks as read; lines it could not read are in `remote.invalidLines`); none when they
 * mismatch the m/c line (see the module comment). Never throws.
 */
export function readRemoteAlternates(remote: RemoteDescription): RemoteAlternates {
  return remote.alt && !remote.alt.mismatch ? { alternates: remote.alt.alternates.map((a) => ({ ...a })), warnings: [...remote.alt.warnings] } : { alternates: [], warnings: [] };
}

/** Our alternates as extra media attributes for `buildDescription`. */
export function altAttributes(alternates: AltCandidate[]): SdpAttribute[] {
  return alternates.map((alt) => {
    const line = formatAltAttribute(alt);
    return { name: 'alt', value: line.slice('alt:'.length) };
  });
}
