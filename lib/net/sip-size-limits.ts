/**
 * Size limits on SIP messages, applied before any parsing (issue 13: a 59 KB INVITE cost up to
 * 142 ms to parse, paid by whoever sends it, authenticated or not). Bytes over a limit are
 * counted as malformed and dropped.
 *
 * - UDP: one datagram is one message (RFC 3261 §18.3 frames by the datagram). RFC 3261 §18.1.1
 *   says a request "within 200 bytes of the path MTU, or ... larger than 1300 bytes" MUST go over
 *   a congestion-controlled transport; 16 KiB leaves room for fragmented datagrams of senders that
 *   ignore it (large SDPs with many candidates stay well under 8 KiB) and refuses the 64 KiB ones
 *   that only an attack needs.
 * - TCP/TLS: the header section (up to the blank line) at most 16 KiB, as for UDP; a body at most
 *   64 KiB (SDP has its own, tighter limit in lib/sdp/offer-answer.ts).
 */

/** Largest SIP-over-UDP datagram we parse, bytes. */
export const SIP_MAX_UDP_DATAGRAM_BYTES = 16 * 1024;

/** Largest SIP header section (start line and headers, up to the empty line) we parse, bytes, on any transport. */
export const SIP_MAX_HEADER_BYTES = 16 * 1024;

/** Largest Content-Length accepted on a stream transport (TCP/TLS), bytes. */
export const SIP_MAX_STREAM_BODY_BYTES = 64 * 1024;

/**
 * Why a received SIP datagram is too large to parse, or undefined when it is not.
 * Stream transports are bounded by their framer (tcp-framing.ts) instead.
 */
export function oversizeDatagramReason(data: Buffer, protocol: 'udp' | 'tcp' | 'tls'): string | undefined {
  if (protocol !== 'udp' || data.length <= SIP_MAX_UDP_DATAGRAM_BYTES) return undefined;
  return `datagram of ${data.length} bytes exceeds the ${SIP_MAX_UDP_DATAGRAM_BYTES}-byte limit for SIP over UDP`;
}
