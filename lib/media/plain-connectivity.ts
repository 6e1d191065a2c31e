/**
 * A peer that speaks neither `a=candidate` nor `a=alt` (RFC 8839 §4.1: not ICE-capable; the
 * draft's §5.4): media goes to the m/c line of its description (RFC 3264 §5), RTCP to its a=rtcp
 * (RFC 3605) or the next port, on the ICE agent's default candidate. Media can flow at once. The
 * agent's receive filter accepts media from that address, or latches to a source that proved
 * itself (RFC 4961 symmetric RTP, ice/agent.ts).
 */
import type { IceAgent } from '../ice/agent.js';
import type { RemoteDescription } from '../sdp/offer-answer.js';
import type { Connectivity, ConnectivityHost, ConnectivityReport } from './connectivity.js';

export class PlainConnectivity implements Connectivity {
  readonly format = 'none' as const;
  private started = false;

  constructor(private readonly agent: IceAgent, private readonly host: ConnectivityHost) {}

  start(remote: RemoteDescription, components: number): void {
    this.started = true;
    this.agent.setFallbackRemote(1, { address: remote.address, port: remote.port });
    if (components >= 2 && remote.rtcp) this.agent.setFallbackRemote(2, remote.rtcp);
    this.host.connected();
    this.host.mediaReady();
  }

  /** The m/c address stays as the first exchange set it (a hold's c=0.0.0.0 must not redirect media). */
  remoteUpdated(): void {}

  report(): ConnectivityReport {
    const pair = this.agent.mediaPair(1);
    return {
      state: this.started ? 'connected' : undefined,
      path: pair ? { local: pair.pair.local, remote: pair.pair.remote, nominated: pair.selected } : undefined,
      remoteCandidates: [],
    };
  }

  close(): void {}
}
