/**
 * What the CLI keeps about the calls it has handled, in memory that does not grow with their
 * number: how many were reported, the first one without two-way media (the exit status and its
 * one-line reason need no more), and the reports still pending. An `icephone answer` that runs
 * for days behind a balancer handles millions of calls; keeping every summary (or every report's
 * promise) was the one per-call entry the process never gave back (issue 14, profiled under SIPp).
 */
import type { CallSummary } from '../sip/user-agent.js';
import { hadTwoWayMedia } from './progress.js';

export class CallOutcomes {
  private reportedCount = 0;
  private firstBad: CallSummary | undefined;
  private readonly pendingReports = new Set<Promise<unknown>>();

  /** Number of calls reported so far. */
  get reported(): number {
    return this.reportedCount;
  }

  /** Reports started with `track` that have not settled yet. */
  get pending(): number {
    return this.pendingReports.size;
  }

  /** Summaries held in memory: 0, or 1 once a call without two-way media was reported. */
  get retainedSummaries(): number {
    return this.firstBad ? 1 : 0;
  }

  /** Counts one reported call; keeps its summary only if it is the first without two-way media. */
  record(summary: CallSummary): void {
    this.reportedCount++;
    if (!this.firstBad && !hadTwoWayMedia(summary)) this.firstBad = summary;
  }

  /** Holds `report` until it settles (resolved or rejected), then forgets it. Returns `report`. */
  track<T>(report: Promise<T>): Promise<T> {
    this.pendingReports.add(report);
    const forget = () => { this.pendingReports.delete(report); };
    report.then(forget, forget);
    return report;
  }

  /** Resolves once every report tracked so far, and any tracked meanwhile, has settled. */
  async settled(): Promise<void> {
    while (this.pendingReports.size) await Promise.allSettled([...this.pendingReports]);
  }

  /** 0 when at least one call was reported and every one had two-way media, else 1. */
  exitStatus(): number {
    return this.reportedCount > 0 && !this.firstBad ? 0 : 1;
  }

  /** The reason for a non-zero exit status in one line, or undefined when it is 0. */
  failureReason(): string | undefined {
    if (this.reportedCount === 0) return 'no call was completed';
    const bad = this.firstBad;
    if (!bad) return undefined;
    if (bad.call.reason) return `call failed: ${bad.call.reason}`;
    if (bad.call.state !== 'ended') return `call ${bad.call.state}: never answered`;
    if (bad.ice.state === 'failed' && bad.ice.format !== 'none') return 'ICE failed: no candidate pair succeeded';
    return `no two-way media (sent ${bad.rtp.packetsSent}, received ${bad.rtp.packetsReceived} RTP packets)`;
  }
}
