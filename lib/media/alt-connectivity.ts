/**
 * Connectivity by the draft-rosenberg-sipping-ice-01 `a=alt` engine (lib/ice/alt-agent.ts) on the
 * ICE agent's sockets: checks to every alternate of the peer (§5.5, §5.7), media once one answers;
 * with none verified, media goes to the m/c line (§5.5: "MAY"). Later descriptions carry new
 * alternates: a new cycle (§5.8). The engine exists from the moment our offer hands out alternates
 * (§5.2: STUN servers run from then on), before the answer says whether the peer uses them.
 */
import type { Logger } from '../base/log.js';
import type { Clock } from '../base/clock.js';
import type { IceAgent, CandidatePairInfo } from '../ice/agent.js';
import { AltAgent, type AltPath } from '../ice/alt-agent.js';
import { toQvalueScale, type AltCandidate } from '../ice/alternate.js';
import type { Candidate } from '../ice/candidate.js';
import type { RemoteDescription } from '../sdp/offer-answer.js';
import { describedFormat, readRemoteAlternates } from '../sdp/format.js';
import type { Connectivity, ConnectivityHost, ConnectivityReport } from './connectivity.js';

/** What the engine reports beyond the host's callbacks (progress for the CLI and the API). */
export interface AltConnectivityEvents {
  check(info: { pair: CandidatePairInfo; result: string }): void;
  selectedPair(component: number, pair: CandidatePairInfo): void;
  iceState(state: 'connected' | 'failed'): void;
  renegotiate(reason: string): void;
}

export interface AltConnectivityOptions {
  agent: IceAgent;
  components: number;
  clock: Clock;
  log: Logger;
  checkTimeoutMs?: number;
  /** TEST HOOK: alternates we advertise but do not serve (MediaOptions.testExtraAlternates). */
  extraAlternates?: AltCandidate[];
}

/** The alt engine's media path as a candidate pair: our sending base, the peer's alternate. */
export function altPathEnds(path: AltPath): { local: Candidate; remote: Candidate } {
  const remote: Candidate = {
    foundation: path.remote.id, component: path.component, transport: 'udp', priority: path.priority,
    address: path.remoteAddress.address, port: path.remoteAddress.port,
    // The alt line does not say how the peer obtained an address, only whether it is peer derived (§7).
    type: path.remote.derivedFrom !== null ? 'prflx' : 'host',
  };
  return { local: path.base, remote };
}

export class AltConnectivity implements Connectivity {
  readonly format = 'alt' as const;
  readonly engine: AltAgent;
  private remote?: RemoteDescription;
  private components: number;

  constructor(private readonly opts: AltConnectivityOptions, private readonly host: ConnectivityHost, events: AltConnectivityEvents) {
    this.components = opts.components;
    const alt = new AltAgent({
      bases: opts.agent.sharedBases(),
      components: opts.components,
      clock: opts.clock,
      log: opts.log,
      checkTimeoutMs: opts.checkTimeoutMs,
      extraAlternates: opts.extraAlternates,
    });
    this.engine = alt;
    alt.on('check', (info) => {
      if (info.result === 'sent') return;
      const remote: Candidate = {
        foundation: info.remote.id, component: info.component, transport: 'udp', priority: 0,
        address: info.component === 1 ? info.remote.address : (info.remote.rtcpAddress ?? info.remote.address),
        port: info.component === 1 ? info.remote.port : (info.remote.rtcpPort ?? info.remote.port + 1),
        type: info.remote.derivedFrom !== null ? 'prflx' : 'host',
      };
      const state = info.result === 'succeeded' ? 'succeeded' : 'failed';
      events.check({ pair: { local: info.base, remote, priority: 0n, state, nominated: false, component: info.component }, result: info.result === 'rejected' ? 'failed' : info.result });
    });
    alt.on('path', (path) => {
      const ends = altPathEnds(path);
      events.selectedPair(path.component, { local: ends.local, remote: ends.remote, priority: BigInt(path.priority), state: 'succeeded', nominated: true, component: path.component });
    });
    alt.on('state', (st) => {
      if (st === 'connected' || st === 'failed') events.iceState(st);
      if (st === 'connected') {
        this.host.peerConfirmed('a=alt check answered');
        this.host.connected();
        this.host.mediaReady();
      } else if (st === 'failed' && this.remote) {
        // draft §5.5: media "MAY" go to the m/c line; with no alternate verified that is all that is left.
        opts.agent.setFallbackRemote(1, { address: this.remote.address, port: this.remote.port });
        if (this.components >= 2 && this.remote.rtcp) opts.agent.setFallbackRemote(2, this.remote.rtcp);
        this.host.mediaReady();
      }
    });
    alt.on('renegotiate', (reason) => events.renegotiate(reason));
  }

  /** Our alternates for the next SDP we write (they count as announced from then on, §5.8). */
  announceAlternates(): AltCandidate[] {
    const alternates = this.engine.localAlternates();
    this.engine.markAnnounced();
    return alternates;
  }

  /** The answer withdrew component 2 (rtcp-mux, or the peer has one component). */
  useComponents(count: number): void {
    this.components = count;
    this.engine.useComponents(count);
  }

  start(remote: RemoteDescription, components: number): void {
    this.remote = remote;
    this.components = components;
    this.engine.useComponents(components);
    // Integer ranks (read liberally) go to the engine on the draft's 0..1 scale, order kept.
    this.engine.setRemote(toQvalueScale(readRemoteAlternates(remote).alternates));
  }

  remoteUpdated(_previous: RemoteDescription | undefined, remote: RemoteDescription): void {
    if (describedFormat(remote) === 'none') return;
    this.remote = remote;
    this.engine.setRemote(toQvalueScale(readRemoteAlternates(remote).alternates));
  }

  report(): ConnectivityReport {
    const path = this.engine.path(1);
    const ends = path ? altPathEnds(path) : undefined;
    return {
      state: path ? 'connected' : undefined,
      path: ends ? { ...ends, nominated: true } : undefined,
      remoteCandidates: this.engine.remoteCandidates(),
    };
  }

  /** STUN requests the engine's server refused (unknown username, bad integrity). */
  get rejectedChecks(): number {
    return this.engine.serverStats.rejected;
  }

  /** Error responses the engine's server did not send (rate limit per source). */
  get rateLimitedChecks(): number {
    return this.engine.serverStats.rateLimited;
  }

  close(): void {
    this.engine.close();
  }
}
