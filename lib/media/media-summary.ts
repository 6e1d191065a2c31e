/**
 * What the `--json` summary reports of one call's media (DESIGN.md's contract), and the helpers
 * that turn candidates into its pair ends.
 */
import type { Candidate } from '../ice/candidate.js';
import type { IceRole } from '../ice/agent.js';
import type { RtpStats } from '../rtp/session.js';

/** What `--json` reports of the media of one call (see DESIGN.md's contract). */
export interface MediaSummary {
  ice: {
    state: 'connected' | 'completed' | 'failed';
    /** Why ICE failed (no valid pair, consent expired), when it did. */
    reason?: string;
    role: IceRole;
    format: 'ice' | 'alt' | 'none';
    localCandidates: Candidate[];
    remoteCandidates: Candidate[];
    /** The pair media used; `nominated` false when ICE had not selected one yet (media on the best valid pair). */
    selectedPair: { local: PairEnd; remote: PairEnd; nominated: boolean } | null;
    connectedMs: number | null;
  };
  rtp: { packetsSent: number; packetsReceived: number; packetsLost: number; jitterMs: number; rtcpSent: number; rtcpReceived: number };
  rtpStats: RtpStats | null;
  codec: string | null;
  /** The SRTP suite in use (RFC 4568 §6.2 name), or null for plain RTP. */
  srtp: { suite: string } | null;
  malformedSdpLines: number;
  dropped: { mediaMalformed: number; stunUnauthorized: number; stunRateLimited: number; rtpMalformed: number; srtp: number; mediaFromStrangers: number; rtpUnconfirmed: number };
}

export interface PairEnd {
  type: Candidate['type'];
  address: string;
  port: number;
  protocol: Candidate['transport'];
}

/** A candidate as the summary shows one end of a pair. */
export function pairEnd(c: Candidate): PairEnd {
  return { type: c.type, address: c.address, port: c.port, protocol: c.transport };
}
