/**
 * The two SRTP contexts of one media stream: outbound (our key, what we send) and inbound (the
 * peer's key, what we receive). With SDES (RFC 4568) each side sends under the key it put in its
 * own a=crypto line, so the two keys normally differ; one master key for both directions is
 * allowed (RFC 3711 §9.1 only asks that no SSRC sends twice under the same key and index, so the
 * two ends must then use different SSRCs).
 */
import { SrtpContext, type SrtpResult } from './srtp-context.js';
import type { SrtpSuiteName } from './suites.js';

/** Master key material of one direction. */
export interface SrtpMasterKey {
  /** 16 octets for both implemented suites. */
  masterKey: Buffer;
  /** 14 octets for both implemented suites. */
  masterSalt: Buffer;
  /** Optional MKI (1..128 octets) carried in every packet of that direction. */
  mki?: Buffer;
}

export interface SrtpSessionOptions {
  suite: SrtpSuiteName;
  /** Key we protect with (ours: in our a=crypto line). */
  outbound: SrtpMasterKey;
  /** Key we unprotect with (the peer's). Defaults to `outbound` (one master key for both directions). */
  inbound?: SrtpMasterKey;
  /** Inbound replay window in packets, 64..32768 (default 128). */
  replayWindowSize?: number;
  /** Most SSRCs per direction (default 64). */
  maxSsrcs?: number;
}

export class SrtpSession {
  readonly outbound: SrtpContext;
  readonly inbound: SrtpContext;

  /** @throws RangeError as SrtpContext does (suite, key/salt/MKI lengths, window, limit). */
  constructor(options: SrtpSessionOptions) {
    const common = { suite: options.suite, replayWindowSize: options.replayWindowSize, maxSsrcs: options.maxSsrcs };
    const inbound = options.inbound ?? options.outbound;
    this.outbound = new SrtpContext({ ...common, direction: 'outbound', ...options.outbound });
    this.inbound = new SrtpContext({ ...common, direction: 'inbound', ...inbound });
  }

  /** RTP → SRTP with the outbound context (see SrtpContext.protectRtp). */
  protectRtp(packet: Buffer): SrtpResult {
    return this.outbound.protectRtp(packet);
  }

  /** SRTP → RTP with the inbound context (see SrtpContext.unprotectRtp). */
  unprotectRtp(packet: Buffer): SrtpResult {
    return this.inbound.unprotectRtp(packet);
  }

  /** RTCP → SRTCP with the outbound context. */
  protectRtcp(packet: Buffer): SrtpResult {
    return this.outbound.protectRtcp(packet);
  }

  /** SRTCP → RTCP with the inbound context. */
  unprotectRtcp(packet: Buffer): SrtpResult {
    return this.inbound.unprotectRtcp(packet);
  }
}
