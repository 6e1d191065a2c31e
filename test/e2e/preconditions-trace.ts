/**
 * Reads icephone's `--trace` output (stderr) back into SIP messages, for the precondition tests:
 * direction, start line, CSeq method, headers and the SDP body, plus the draft's Figure 2 as the
 * caller (A) sees it on the wire.
 */
import { expect } from 'chai';

export interface TracedMessage {
  dir: 'send' | 'recv';
  /** `INVITE`, `PRACK`… for requests; `183 INVITE`, `200 UPDATE`… (status and CSeq method) for responses. */
  label: string;
  startLine: string;
  headers: string[];
  sdp: string[];
  header(name: string): string | undefined;
  /** The curr/des/conf lines of the SDP, without `a=`. */
  preconditions(): string[];
}

/** Every SIP message in a `--trace` stderr, in order (retransmissions included). */
export function parseTrace(stderr: string): TracedMessage[] {
  const out: TracedMessage[] = [];
  const lines = stderr.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const arrow = /^(>>>|<<<) (to|from) \S+ \((udp|tcp)\)$/.exec(lines[i]!);
    if (!arrow) continue;
    const startLine = lines[++i] ?? '';
    const headers: string[] = [];
    while (i + 1 < lines.length && lines[i + 1] !== '') headers.push(lines[++i]!);
    i++;
    const sdp: string[] = [];
    while (i + 1 < lines.length && /^[a-z]=/.test(lines[i + 1]!)) sdp.push(lines[++i]!);
    const header = (name: string) => headers.find((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim();
    const cseqMethod = header('CSeq')?.split(/\s+/)[1] ?? '?';
    const status = /^SIP\/2\.0 (\d{3})/.exec(startLine);
    out.push({
      dir: arrow[1] === '>>>' ? 'send' : 'recv',
      label: status ? `${status[1]} ${cseqMethod}` : startLine.split(' ')[0]!,
      startLine,
      headers,
      sdp,
      header,
      preconditions: () => sdp.filter((l) => /^a=(curr|des|conf):/.test(l)).map((l) => l.slice(2)),
    });
  }
  return out;
}

/** "send INVITE", "recv 183 INVITE"…, without 100 Trying and without retransmissions of the same message. */
export function sequence(messages: TracedMessage[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of messages) {
    if (m.label.startsWith('100 ')) continue;
    const key = `${m.dir} ${m.startLine} ${m.header('CSeq')} ${m.header('RSeq') ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`${m.dir} ${m.label}`);
  }
  return out;
}

/** draft-rosenberg-sipping-ice-01 Figure 2, messages (1) to (12), as A (the caller) sends and receives them. */
export const FIGURE_2_AT_A = [
  'send INVITE', // (1)
  'recv 183 INVITE', // (2)
  'send PRACK', // (3)
  'recv 200 PRACK', // (4)
  // (5) STUN connectivity checks
  'send UPDATE', // (6)
  'recv 200 UPDATE', // (7)
  'recv 180 INVITE', // (8)
  'send PRACK', // (9)
  'recv 200 PRACK', // (10)
  'recv 200 INVITE', // (11)
  'send ACK', // (12)
];

/** The same from B's side (directions swapped). */
export const FIGURE_2_AT_B = FIGURE_2_AT_A.map((s) => (s.startsWith('send') ? s.replace('send', 'recv') : s.replace('recv', 'send')));

/** The first message with `label` in direction `dir`. */
export function find(messages: TracedMessage[], dir: 'send' | 'recv', label: string): TracedMessage {
  const m = messages.find((x) => x.dir === dir && x.label === label);
  expect(m, `no ${dir} ${label} in the trace`).to.not.equal(undefined);
  return m!;
}

/**
 * Checks the status tables of Figure 2 on A's trace (RFC 3312 §5/§6 with RFC 5898's conn type):
 * the INVITE and the 183 say nothing is current, the UPDATE and its 200 say sendrecv is; the
 * strength is mandatory throughout; the 183 asks A to confirm; the INVITE requires the extension.
 */
export function checkFigure2Tables(at: TracedMessage[], dirOfA: (d: 'send' | 'recv') => 'send' | 'recv' = (d) => d): void {
  const invite = find(at, dirOfA('send'), 'INVITE');
  expect(invite.header('Require'), 'INVITE Require').to.match(/\bprecondition\b/);
  expect(invite.header('Supported'), 'INVITE Supported').to.match(/\bprecondition\b/).and.match(/\b100rel\b/);
  expect(invite.header('Allow'), 'INVITE Allow').to.match(/\bUPDATE\b/).and.match(/\bPRACK\b/);
  expect(invite.preconditions()).to.deep.equal(['curr:conn e2e none', 'des:conn mandatory e2e sendrecv']);
  const p183 = find(at, dirOfA('recv'), '183 INVITE');
  expect(p183.header('Require'), '183 Require').to.match(/\b100rel\b/);
  expect(p183.header('RSeq'), '183 RSeq').to.match(/^\d+$/);
  expect(p183.preconditions()).to.deep.equal(['curr:conn e2e none', 'des:conn mandatory e2e sendrecv', 'conf:conn e2e recv']);
  const update = find(at, dirOfA('send'), 'UPDATE');
  expect(update.preconditions()).to.deep.equal(['curr:conn e2e sendrecv', 'des:conn mandatory e2e sendrecv']);
  const ok = find(at, dirOfA('recv'), '200 UPDATE');
  expect(ok.preconditions()).to.deep.equal(['curr:conn e2e sendrecv', 'des:conn mandatory e2e sendrecv']);
  const ringing = find(at, dirOfA('recv'), '180 INVITE');
  expect(ringing.header('Require'), '180 Require').to.match(/\b100rel\b/);
}
