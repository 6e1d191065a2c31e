/**
 * How one call's media reaches the peer, behind one interface with three implementations:
 *  - `IceConnectivity` (ice-connectivity.ts): the RFC 8445 agent and `a=candidate` (RFC 8839);
 *  - `AltConnectivity` (alt-connectivity.ts): the draft-rosenberg-sipping-ice-01 `a=alt` engine;
 *  - `PlainConnectivity` (plain-connectivity.ts): a peer without either, media to its m/c line
 *    (RFC 3264 §5, RFC 8839 §4.1), symmetric RTP latching (RFC 4961) in the agent's filter.
 * All three send and receive on the ICE agent's sockets (its bases, gathered before the offer or
 * answer is written), so switching format after the answer costs nothing. The media session picks
 * one when the format is negotiated (lib/sdp/format.ts) and talks only to this interface.
 */
import type { Candidate } from '../ice/candidate.js';
import type { RemoteDescription } from '../sdp/offer-answer.js';

export type ConnectivityFormat = 'ice' | 'alt' | 'none';

/** The path media uses, as a candidate pair; `nominated` false while ICE has not selected it yet. */
export interface MediaPath {
  local: Candidate;
  remote: Candidate;
  nominated: boolean;
}

/** What the `--json` summary reports of connectivity. */
export interface ConnectivityReport {
  /** undefined: still checking, nothing usable yet. */
  state: 'connected' | 'completed' | 'failed' | undefined;
  /** Why it failed (no valid pair, consent expired), when it did. */
  reason?: string;
  path?: MediaPath;
  remoteCandidates: Candidate[];
}

/** What a connectivity implementation tells its media session. */
export interface ConnectivityHost {
  /** Media can flow now (first valid pair, a verified alternate, or at once for a plain peer). */
  mediaReady(): void;
  /** The path is established (ICE connected, an alternate verified): the summary's connect time. */
  connected(): void;
  /** Media can no longer flow after it did (consent lost): the call should end. */
  mediaFailed(reason: string): void;
  /** The peer answered an authenticated check: it is there and wants our media (RTP no longer limited). */
  peerConfirmed(why: string): void;
}

export interface Connectivity {
  readonly format: ConnectivityFormat;
  /** Both descriptions are known (the first exchange completed): start checks, or media. */
  start(remote: RemoteDescription, components: number): void;
  /**
   * A later description from the peer (a re-offer or the answer to ours, INVITE or UPDATE): new
   * candidates or alternates are checked; for ICE new credentials mean a restart (RFC 8839 §4.4.1.1.1).
   */
  remoteUpdated(previous: RemoteDescription | undefined, remote: RemoteDescription): void;
  report(): ConnectivityReport;
  close(): void;
}
