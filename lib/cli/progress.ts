/**
 * Human-readable live progress on stderr: candidates gathered, checks, the selected pair,
 * packets per second. Machine-readable output (`--json`) goes to stdout elsewhere.
 */
import { escapeControls } from '../base/log.js';
import { describeCandidate } from '../ice/candidate.js';
import { formatAddress } from '../net/socket.js';
import type { Call, CallSummary } from '../sip/user-agent.js';
import type { MediaSession } from '../media/media-session.js';

export interface Progress {
  line(text: string): void;
}

export function stderrProgress(quiet: boolean): Progress {
  // Progress lines quote the peer's candidates, reasons and URIs: control bytes are escaped (lib/base/log.ts).
  return { line: (t) => { if (!quiet) process.stderr.write(`${escapeControls(t)}\n`); } };
}

/** Reports a call's media progress until it ends. */
export function watchMedia(call: Call, media: MediaSession, out: Progress): void {
  media.on('candidate', (c) => out.line(`ice: gathered ${describeCandidate(c)} (component ${c.component}, priority ${c.priority})`));
  media.on('ice-state', (s) => out.line(`ice: state ${s}`));
  let checks = 0;
  media.on('check', (info) => {
    checks++;
    if (info.result === 'succeeded' || info.result === 'failed') {
      out.line(`ice: check ${describeCandidate(info.pair.local)} -> ${describeCandidate(info.pair.remote)} ${info.result}`);
    }
  });
  media.on('selected-pair', (component, pair) =>
    out.line(`ice: selected pair for component ${component}: ${describeCandidate(pair.local)} -> ${describeCandidate(pair.remote)} (${checks} checks)`),
  );
  media.on('media-ready', () => out.line('media: flowing'));
  media.on('hold', (by, held) => out.line(`sip: ${by === 'local' ? (held ? 'holding the peer' : 'resumed the peer') : held ? 'held by the peer' : 'resumed by the peer'}`));
  media.on('ice-restart', (by) => out.line(`ice: restart (${by === 'local' ? 'our offer' : "the peer's offer"}): new credentials, checks run again`));
  media.on('relay', (r) => {
    for (const f of r.failures) out.line(`turn: ${f.error}`);
    if (r.relayedAddress) {
      out.line(`turn: component ${r.component} relayed at ${formatAddress(r.relayedAddress)} via ${r.server} in ${Math.round(r.elapsedMs)} ms${r.failures.length ? ` (after ${r.failures.length} failed server${r.failures.length > 1 ? 's' : ''})` : ''}`);
    } else {
      out.line(`turn: no relayed candidate for component ${r.component}; continuing with the other candidates`);
    }
  });
  let lastSent = 0;
  let lastRecv = 0;
  const timer = setInterval(() => {
    const s = media.summary().rtp;
    if (s.packetsSent === 0 && s.packetsReceived === 0) return;
    out.line(`rtp: ${s.packetsSent - lastSent} pkt/s sent, ${s.packetsReceived - lastRecv} pkt/s received, lost ${s.packetsLost}, jitter ${s.jitterMs} ms`);
    lastSent = s.packetsSent;
    lastRecv = s.packetsReceived;
  }, 1000);
  timer.unref();
  void call.finished.then(() => clearInterval(timer));
}

/** One-paragraph human summary of a finished call. */
export function describeSummary(s: CallSummary): string {
  const sp = s.ice.selectedPair;
  const pair = sp ? `${sp.local.type} ${formatAddress(sp.local)} -> ${sp.remote.type} ${formatAddress(sp.remote)}` : 'none';
  return [
    `call ${s.call.direction} ${s.call.state}${s.call.reason ? ` (${s.call.reason})` : ''}, ${s.call.durationMs} ms, Call-ID ${s.call.sipCallId}`,
    `ice: ${s.ice.state} as ${s.ice.role}, format ${s.ice.format}, selected ${pair}, connected after ${s.ice.connectedMs ?? '-'} ms`,
    `rtp: ${s.codec ?? 'no codec'}, sent ${s.rtp.packetsSent}, received ${s.rtp.packetsReceived}, lost ${s.rtp.packetsLost}, jitter ${s.rtp.jitterMs} ms`,
  ].join('\n');
}

/** Two-way media: what exit status 0 means (DESIGN.md). */
/**
 * The CLI's success test (exit status 0): the call was answered (it ended after a 200, not in a
 * failure such as 580 after early media) and RTP went both ways.
 */
export function hadTwoWayMedia(s: CallSummary): boolean {
  return s.call.state === 'ended' && s.rtp.packetsSent > 0 && s.rtp.packetsReceived > 0;
}
