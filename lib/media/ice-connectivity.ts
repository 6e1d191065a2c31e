/**
 * Connectivity by ICE (RFC 8445) with `a=candidate` (RFC 8839): the peer's credentials and
 * candidates go to the agent, checks run, media starts on the first valid pair (RFC 8445 §12.1)
 * and the call is connected when the agent is. Later descriptions add candidates; new peer
 * credentials are an ICE restart (RFC 8839 §4.4.1.1.1, RFC 8445 §9): the answer to ours, or the
 * peer's own, which we join with new credentials of ours before checks run again.
 */
import type { IceAgent, IceState } from '../ice/agent.js';
import type { RemoteDescription } from '../sdp/offer-answer.js';
import type { Connectivity, ConnectivityHost, ConnectivityReport } from './connectivity.js';

export class IceConnectivity implements Connectivity {
  readonly format = 'ice' as const;
  private started = false;
  private components = 1;
  /** Our restart offer is out: the next new peer credentials answer it (no second restart). */
  private restartOfferSent = false;
  private everConnected = false;
  private lastState?: IceState;
  private readonly unsubscribe: Array<() => void> = [];

  /** `onRemoteRestart`: the peer restarted ICE (we joined with new credentials). */
  constructor(private readonly agent: IceAgent, private readonly host: ConnectivityHost, private readonly onRemoteRestart: () => void) {
    const onValid = (component: number) => {
      this.host.peerConfirmed('ICE check answered');
      if (component === 1) this.host.mediaReady();
    };
    const onState = (s: IceState) => this.onState(s);
    agent.on('valid-pair', onValid);
    agent.on('state', onState);
    this.unsubscribe.push(() => agent.off('valid-pair', onValid), () => agent.off('state', onState));
  }

  start(remote: RemoteDescription, components: number): void {
    if (!remote.ice) return;
    this.started = true;
    this.components = components;
    this.agent.setRemoteCredentials(remote.ice.ufrag, remote.ice.pwd);
    this.addCandidates(remote);
    this.agent.start();
  }

  /** Our offer restarts ICE (new local credentials, RFC 8445 §9): the agent restarts now. */
  restartLocally(): void {
    this.agent.restart();
    this.restartOfferSent = true;
  }

  remoteUpdated(previous: RemoteDescription | undefined, remote: RemoteDescription): void {
    if (!this.started || !remote.ice) return;
    const restarted = previous?.ice !== undefined && (previous.ice.ufrag !== remote.ice.ufrag || previous.ice.pwd !== remote.ice.pwd);
    if (restarted) {
      if (!this.restartOfferSent) {
        this.agent.restart();
        this.onRemoteRestart();
      }
      this.restartOfferSent = false;
      this.agent.setRemoteCredentials(remote.ice.ufrag, remote.ice.pwd);
    }
    this.addCandidates(remote);
    if (restarted) this.agent.start();
  }

  /** Every component has a selected pair and we are controlling (the RFC 8839 §4.4.1.2.2 offer). */
  nominationComplete(): boolean {
    if (this.agent.role !== 'controlling') return false;
    for (let c = 1; c <= this.components; c++) if (!this.agent.selectedPair(c)) return false;
    return true;
  }

  report(): ConnectivityReport {
    const media = this.agent.mediaPair(1);
    // After close the agent says 'closed': report the state the call ended in.
    const state = this.agent.state === 'closed' ? this.lastState : this.agent.state;
    const shown = state === 'checking' && media ? 'connected' : state;
    return {
      state: shown === 'connected' || shown === 'completed' ? shown : shown === 'failed' ? 'failed' : this.everConnected ? 'connected' : undefined,
      ...(shown === 'failed' && this.agent.failureReason ? { reason: this.agent.failureReason } : {}),
      path: media ? { local: media.pair.local, remote: media.pair.remote, nominated: media.selected } : undefined,
      remoteCandidates: [],
    };
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private addCandidates(remote: RemoteDescription): void {
    for (const c of remote.ice!.candidates) {
      if (c.component <= this.components && c.transport === 'udp') this.agent.addRemoteCandidate(c);
    }
    // RFC 8838 §13 / RFC 8840 §4.1: the description ends the peer's candidates when it says
    // a=end-of-candidates, or when the peer does not trickle at all (everything is in it).
    if (remote.ice!.endOfCandidates || !remote.ice!.options.includes('trickle')) this.agent.remoteEndOfCandidates();
  }

  private onState(s: IceState): void {
    if (s !== 'closed') this.lastState = s;
    if (s === 'failed' && this.everConnected) {
      // After connecting only consent can fail the agent (RFC 7675 §5.1): media has stopped.
      this.host.mediaFailed(this.agent.failureReason ?? 'ICE failed');
    }
    // Connected means an authenticated check went both ways with the peer (a lite agent: the peer's checks).
    if (s === 'connected' || s === 'completed') this.host.peerConfirmed('ICE connected');
    if ((s === 'connected' || s === 'completed') && !this.everConnected) {
      this.everConnected = true;
      this.host.connected();
      this.host.mediaReady();
    }
  }
}
