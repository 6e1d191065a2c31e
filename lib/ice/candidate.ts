/**
 * ICE candidates: the shared shape used by the ICE agent and by the SDP codecs
 * (RFC 8445 §5.1, RFC 8839 §5.1). Priorities follow RFC 8445 §5.1.2.
 */
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

export interface Candidate {
  /** RFC 8445 §5.1.1.3: same for candidates of the same type, base IP and server. 1-32 ice-chars. */
  foundation: string;
  /** 1 = RTP, 2 = RTCP. */
  component: number;
  transport: 'udp' | 'tcp';
  /** 32-bit unsigned priority, RFC 8445 §5.1.2.1. */
  priority: number;
  /** The candidate's transport address. */
  address: string;
  port: number;
  type: CandidateType;
  /** Base (host) or server-reflexive address a derived candidate came from (`raddr`/`rport`). */
  relatedAddress?: string;
  relatedPort?: number;
  /** RFC 6544 tcptype for TCP candidates. */
  tcpType?: 'active' | 'passive' | 'so';
  /** Extension attributes as name/value pairs, kept in order (RFC 8839 §5.1 extension-att). */
  extensions?: Array<[string, string]>;
}

/** RFC 8445 §5.1.2.2 recommended type preferences. */
export const TYPE_PREFERENCE: Record<CandidateType, number> = {
  host: 126,
  prflx: 110,
  srflx: 100,
  relay: 0,
};

/**
 * RFC 8445 §5.1.2.1: priority = 2^24 * type preference + 2^8 * local preference + (256 - component ID).
 * @param localPreference 0..65535
 * @throws RangeError on out-of-range inputs.
 */
export function computePriority(type: CandidateType, localPreference: number, component: number, typePreference = TYPE_PREFERENCE[type]): number {
  if (!Number.isInteger(localPreference) || localPreference < 0 || localPreference > 65535) throw new RangeError(`local preference ${localPreference} not in 0..65535`);
  if (!Number.isInteger(component) || component < 1 || component > 256) throw new RangeError(`component ${component} not in 1..256`);
  if (!Number.isInteger(typePreference) || typePreference < 0 || typePreference > 126) throw new RangeError(`type preference ${typePreference} not in 0..126`);
  return typePreference * 2 ** 24 + localPreference * 2 ** 8 + (256 - component);
}

/** "host 127.0.0.1:4000/udp" for logs. */
export function describeCandidate(c: Candidate): string {
  return `${c.type} ${c.address.includes(':') ? `[${c.address}]` : c.address}:${c.port}/${c.transport}`;
}
