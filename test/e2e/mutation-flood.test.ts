/**
 * The mutation flood (issue 13): during an ICE call between two icephones on loopback, 40,000
 * datagrams mutated from real SIP, STUN, RTP and RTCP packets (test/helpers/mutator.ts, on the
 * fuzz engine's operators) are sent from eight other source addresses (127.0.0.2-127.0.0.9) to
 * the SIP port and both media ports (RTP and RTCP components: the call runs without rtcp-mux) of
 * the callee and of the caller, paced over about 7 s.
 *
 * What a user would check afterwards, and this test does:
 *  - both processes exit 0 (two-way media) and each prints its summary (the caller hangs up with
 *    SIGTERM, as Ctrl-C would, once the flood is over and media has flowed for 2 s more);
 *  - each recording holds the other side's tone, and is as long as the call (within 1.5 s);
 *  - the selected pair of each component is the one selected before the flood: one "selected pair"
 *    line per component on stderr (the agent logs every selection), and the summary's pair is it;
 *  - the counters of dropped input (summary `dropped`) together with the SIP responses the flood
 *    got back account for at least 80% of the datagrams that reached the phone: those sent less
 *    those the kernel dropped because a receive buffer was full (the `drops` column of
 *    /proc/net/udp for its sockets; on a busy machine that is half of them). The rest is input
 *    ignored by design: STUN indications, stray STUN and SIP responses, absorbed retransmissions;
 *  - at least a tenth of each phone's share reached it (thousands of datagrams, at the least);
 *  - the resident set size (VmRSS, /proc/PID/status) of each process grows by at most 60 MB over
 *    its pre-flood value, sampled every 100 ms until it exits.
 *
 * The SIP seeds are the INVITE, 180, 200 and ACK of this very call (from the caller's `--trace`)
 * and an OPTIONS, with the Call-ID, tags and branches replaced: a mutant may then be any request
 * or response, but never one of the call's own dialog (which an attacker on the path could end
 * with a plain BYE; no flood needed). The STUN seeds are Binding requests with the call's real
 * ICE usernames (RFC 8445 §7.2.2) signed with a wrong password, Binding responses, an error
 * response and an indication; RTP carries PCMU, RTCP is SR+SDES, RR and BYE compounds.
 *
 * `FLOOD_SEED=N` replays a run (the seed is printed); `FLOOD_DATAGRAMS=N` changes the count.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePcmu } from '../../lib/rtp/g711.js';
import { serializeRtp } from '../../lib/rtp/packet.js';
import { buildBye, buildCnameSdes, buildReceiverReport, buildRtcpCompound, buildSenderReport, ntpFromUnixMs } from '../../lib/rtp/rtcp.js';
import { readWavMono } from '../../lib/rtp/sources.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { newTransactionId, StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { PacketMutator, type MutationSeeds, type PacketKind } from '../helpers/mutator.js';
import { freePortPair } from '../helpers/ports.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const SEED = Number(process.env.FLOOD_SEED ?? 13);
const DATAGRAMS = Number(process.env.FLOOD_DATAGRAMS ?? 40_000);
/** The flood is paced to this many milliseconds (loopback drops most of an unpaced burst). */
const FLOOD_MS = 7000;
/**
 * The caller's --duration, an upper bound only: the caller hangs up (SIGTERM, as Ctrl-C does) once
 * the flood is over and media has flowed on both sides since, so that every datagram arrives
 * during the call however slowly a busy machine sends them.
 */
const CALL_MAX_S = 45;
/** Allowed RSS growth of each process over its pre-flood value. */
const RSS_BOUND_BYTES = 60 * 1024 * 1024;
/**
 * |recording length - call duration| allowed: the recording starts with the first packet, after
 * the ICE checks (a few hundred ms; more on a busy machine). A recording stretched by a stranger's
 * timestamps, or cut short, is off by seconds.
 */
const RECORDING_TOLERANCE_MS = 1500;
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

interface PhoneTargets {
  name: 'caller' | 'callee';
  sip: number;
  /** Media port of component 1 (RTP) and 2 (RTCP). */
  media: [number, number];
}

/** The host candidate port of `component` from the progress lines ("ice: gathered host 127.0.0.1:P/udp (component C"). */
function gatheredPort(stderr: string, component: number): number {
  const m = new RegExp(`^ice: gathered host 127\\.0\\.0\\.1:(\\d+)/udp \\(component ${component},`, 'm').exec(stderr);
  if (!m) throw new Error(`no host candidate for component ${component} in:\n${stderr.slice(0, 3000)}`);
  return Number(m[1]);
}

/** "ice: selected pair for component C: ..." lines, in order. */
function selections(stderr: string): string[] {
  return stderr.match(/^ice: selected pair for component \d: .*$/gm) ?? [];
}

/** The SIP messages of a `--trace` (as on the wire: CRLF line ends), with their direction. */
function tracedMessages(stderr: string): Array<{ direction: 'send' | 'recv'; text: string }> {
  const out: Array<{ direction: 'send' | 'recv'; text: string }> = [];
  const re = /^(>>> to|<<< from) \S+ \(udp\)\n([\s\S]*?\n\n)([\s\S]*?)(?=^(?:>>> to|<<< from|[a-z]+: )|(?![\s\S]))/gm;
  for (const m of stderr.matchAll(re)) {
    const head = m[2]!.slice(0, -2).replace(/\n/g, '\r\n');
    const length = Number(/^Content-Length: *(\d+)/im.exec(head)?.[1] ?? 0);
    const body = m[3]!.replace(/\n/g, '\r\n').slice(0, length);
    out.push({ direction: m[1] === '>>> to' ? 'send' : 'recv', text: `${head}\r\n\r\n${body}` });
  }
  return out;
}

/**
 * SIP seeds from the call's trace, moved out of its dialog: every Call-ID, tag and branch
 * replaced (the same replacement throughout, so the messages still belong together).
 */
function sipSeeds(trace: string, calleePort: number): Buffer[] {
  const messages = tracedMessages(trace);
  const pick = (re: RegExp) => messages.find((m) => re.test(m.text.split('\r\n')[0]!))?.text;
  const chosen = [pick(/^INVITE /), pick(/^SIP\/2\.0 180 /), pick(/^SIP\/2\.0 200 /), pick(/^ACK /)];
  for (const c of chosen) if (!c) throw new Error(`the caller's trace lacks one of INVITE, 180, 200, ACK:\n${trace.slice(0, 4000)}`);
  const options = [
    `OPTIONS sip:bob@127.0.0.1:${calleePort} SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKflood0options;rport',
    'Max-Forwards: 70',
    'To: <sip:bob@127.0.0.1>',
    'From: <sip:flood@127.0.0.2>;tag=flood0from',
    'Call-ID: flood-options-0@127.0.0.2',
    'CSeq: 1 OPTIONS',
    'Contact: <sip:flood@127.0.0.2:5060>',
    'Accept: application/sdp',
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  const callId = /^Call-ID: *(\S+)/im.exec(chosen[0]!)![1]!;
  return [...(chosen as string[]), options].map((text) =>
    Buffer.from(
      text
        .split(callId).join('flood-call-id-0@127.0.0.2')
        .replace(/;tag=([^;>\s]+)/g, (_m, tag: string) => `;tag=flood${tag.length}x${tag.slice(0, 3)}`)
        .replace(/;branch=z9hG4bK([^;\s]+)/g, (_m, b: string) => `;branch=z9hG4bKflood${b}`),
      'utf8',
    ),
  );
}

/** STUN seeds (RFC 8489, RFC 8445 §7.2.2): checks with the call's usernames but a wrong password, responses, an indication. */
function stunSeeds(callerUfrag: string, calleeUfrag: string): Buffer[] {
  const wrongKey = shortTermKey('not-the-ice-pwd-of-this-call');
  const out: Buffer[] = [];
  for (const [username, controlling] of [[`${calleeUfrag}:${callerUfrag}`, true], [`${callerUfrag}:${calleeUfrag}`, false]] as const) {
    const check = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: newTransactionId() }).addUsername(username).addPriority(0x6e7f1eff);
    if (controlling) check.addIceControlling(0x1234_5678_9abc_def0n).addUseCandidate();
    else check.addIceControlled(0x0fed_cba9_8765_4321n);
    out.push(check.encode({ integrityKey: wrongKey, fingerprint: true }));
  }
  out.push(new StunMessage({ method: StunMethod.Binding, messageClass: 'request', transactionId: newTransactionId() }).encode({ fingerprint: true }));
  const success = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: newTransactionId() }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '127.0.0.1', port: 40000 });
  out.push(success.encode({ integrityKey: wrongKey, fingerprint: true }));
  out.push(new StunMessage({ method: StunMethod.Binding, messageClass: 'error', transactionId: newTransactionId() }).addErrorCode(487, 'Role Conflict').encode({ integrityKey: wrongKey, fingerprint: true }));
  out.push(new StunMessage({ method: StunMethod.Binding, messageClass: 'indication', transactionId: newTransactionId() }).encode({ fingerprint: true }));
  return out;
}

function rtpSeeds(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 4; i++) {
    const samples = new Int16Array(160);
    for (let n = 0; n < 160; n++) samples[n] = Math.round(12000 * Math.sin((2 * Math.PI * 1000 * (i * 160 + n)) / 8000));
    out.push(serializeRtp({ marker: i === 0, payloadType: 0, sequenceNumber: 1000 + i, timestamp: 160_000 + i * 160, ssrc: 0xf100d, payload: encodePcmu(samples) }));
  }
  out.push(serializeRtp({ marker: false, payloadType: 101, sequenceNumber: 1004, timestamp: 160_640, ssrc: 0xf100d, payload: Buffer.from([5, 0x8a, 0x03, 0x20]) }));
  return out;
}

function rtcpSeeds(): Buffer[] {
  const block = { ssrc: 0x1234, fractionLost: 0, cumulativeLost: 0, highestSequence: 1004, jitter: 3, lastSr: 0, delaySinceLastSr: 0 };
  const sr = buildSenderReport({ ssrc: 0xf100d, ntpTimestamp: ntpFromUnixMs(Date.now()), rtpTimestamp: 160_640, packetCount: 5, octetCount: 800, reports: [block] });
  return [
    buildRtcpCompound([sr, buildCnameSdes(0xf100d, 'flood@127.0.0.2')]),
    buildRtcpCompound([buildReceiverReport(0xf100d, [block]), buildCnameSdes(0xf100d, 'flood@127.0.0.2')]),
    buildRtcpCompound([buildReceiverReport(0xf100d), buildCnameSdes(0xf100d, 'flood@127.0.0.2'), buildBye([0xf100d], 'flood over')]),
  ];
}

/** VmRSS and VmHWM of a process, bytes (undefined once it has gone). */
function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples VmRSS every 100 ms until the process exits; `peak` is the largest sample. */
function watchMemory(run: IcephoneRun): { before: number; peak: () => number; stop: () => void } {
  const pid = run.child.pid!;
  const before = memoryOf(pid)?.rss ?? NaN;
  let peak = before;
  const timer = setInterval(() => {
    const m = memoryOf(pid);
    // A process that is exiting (a zombie) has no VmRSS line: nothing to sample then.
    if (m && Number.isFinite(m.rss)) peak = Math.max(peak, m.rss);
  }, 100);
  void run.exited.then(() => clearInterval(timer));
  return { before, peak: () => peak, stop: () => clearInterval(timer) };
}

/**
 * Datagrams the kernel dropped on the UDP sockets bound to 127.0.0.1:`ports` (receive buffer
 * full): the `drops` column of /proc/net/udp. Undefined for a port with no socket (any more).
 */
function udpDrops(ports: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  let table = '';
  try {
    table = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return out;
  }
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const m = /^0100007F:([0-9A-F]{4})$/.exec(f[1] ?? '');
    if (!m) continue;
    const port = parseInt(m[1]!, 16);
    if (ports.includes(port)) out.set(port, Number(f[12]));
  }
  return out;
}

/** Keeps the largest `udpDrops` seen per port (the counter goes when the socket closes), sampled every 100 ms. */
function watchDrops(ports: readonly number[]): { total: () => number; stop: () => void } {
  const seen = new Map<number, number>();
  const sample = () => {
    for (const [port, drops] of udpDrops(ports)) seen.set(port, Math.max(seen.get(port) ?? 0, drops));
  };
  sample();
  const timer = setInterval(sample, 100);
  return { total: () => [...seen.values()].reduce((a, b) => a + b, 0), stop: () => { sample(); clearInterval(timer); } };
}

/** Polls `cond` every 50 ms; rejects after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** What datagram `i` of the flood is, and where it goes: a quarter SIP, the rest media (and some garbage to either). */
function plan(i: number): { kind: PacketKind; phone: 0 | 1; port: 'sip' | 0 | 1 } {
  const phone = (i & 1) as 0 | 1;
  const slot = (i >> 1) % 16;
  if (slot < 4) return { kind: 'sip', phone, port: 'sip' };
  if (slot < 8) return { kind: 'stun', phone, port: (slot & 1) as 0 | 1 };
  if (slot < 12) return { kind: 'rtp', phone, port: slot === 11 ? 1 : 0 };
  if (slot < 14) return { kind: 'rtcp', phone, port: slot === 12 ? 0 : 1 };
  return { kind: 'garbage', phone, port: slot === 14 ? 'sip' : ((i >> 5) & 1) as 0 | 1 };
}

interface FloodResult {
  sent: number[][];
  /** Datagrams per phone that could not be sent (send errors on our side). */
  sendErrors: number;
  /** SIP responses the flood's sockets got back, per phone (requests it answered). */
  sipAnswers: [number, number];
  /** STUN messages the flood's sockets got back, per phone. */
  stunAnswers: [number, number];
  elapsedMs: number;
}

async function flood(mutator: PacketMutator, phones: [PhoneTargets, PhoneTargets]): Promise<FloodResult> {
  const sockets: Socket[] = [];
  const sipAnswers: [number, number] = [0, 0];
  const stunAnswers: [number, number] = [0, 0];
  const phoneOf = (port: number): number => phones.findIndex((p) => p.sip === port || p.media.includes(port));
  for (const address of SOURCES) {
    const s = createSocket('udp4');
    s.on('error', () => undefined);
    s.on('message', (msg, rinfo) => {
      const p = phoneOf(rinfo.port);
      if (p < 0) return;
      if (msg.subarray(0, 8).toString('latin1') === 'SIP/2.0 ') sipAnswers[p]!++;
      else if (msg.length >= 20 && msg[0]! < 4) stunAnswers[p]!++;
    });
    s.bind(0, address);
    await once(s, 'listening');
    sockets.push(s);
  }
  const sent = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]];
  const kinds: PacketKind[] = ['sip', 'stun', 'rtp', 'rtcp', 'garbage'];
  let sendErrors = 0;
  const started = Date.now();
  let i = 0;
  while (i < DATAGRAMS) {
    // Catch up with the schedule, at most 400 per turn (a stalled test process does not burst).
    const due = Math.min(DATAGRAMS, Math.ceil((DATAGRAMS * (Date.now() - started)) / FLOOD_MS));
    for (let k = 0; i < due && k < 400; k++, i++) {
      const p = plan(i);
      const target = phones[p.phone];
      const port = p.port === 'sip' ? target.sip : target.media[p.port];
      sockets[i % sockets.length]!.send(mutator.mutant(p.kind, i), port, '127.0.0.1', (e) => { if (e) sendErrors++; });
      sent[p.phone]![kinds.indexOf(p.kind)]!++;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const elapsedMs = Date.now() - started;
  // Give the last answers a moment to come back before the sockets close (counting only; nothing asserted on it).
  await new Promise((r) => setTimeout(r, 300));
  for (const s of sockets) s.close();
  return { sent, sendErrors, sipAnswers, stunAnswers, elapsedMs };
}

describe('e2e: a mutation flood during a call', function () {
  this.timeout(60000);

  it(`${DATAGRAMS.toLocaleString('en')} mutated SIP/STUN/RTP/RTCP datagrams from strangers: tones, recording length, selected pairs and memory hold`, async () => {
    process.stderr.write(`  mutation flood: seed ${SEED} (replay with FLOOD_SEED=${SEED}), ${DATAGRAMS} datagrams over ${FLOOD_MS} ms\n`);
    const dir = testTempDir('icephone-flood-');
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone([
      'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--no-rtcp-mux', '--duration', String(CALL_MAX_S),
      '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
    ]);
    // Both components selected on both sides before the flood starts.
    await until(() => selections(caller.stderr()).length >= 2 && selections(callee.stderr()).length >= 2, 20000, 'a selected pair for both components on both sides');
    const before = { caller: selections(caller.stderr()), callee: selections(callee.stderr()) };
    const trace = caller.stderr();
    const callerSip = Number(/^sip: listening on 127\.0\.0\.1:(\d+)\/udp/m.exec(trace)![1]);
    const phones: [PhoneTargets, PhoneTargets] = [
      { name: 'callee', sip: port, media: [gatheredPort(callee.stderr(), 1), gatheredPort(callee.stderr(), 2)] },
      { name: 'caller', sip: callerSip, media: [gatheredPort(trace, 1), gatheredPort(trace, 2)] },
    ];
    const messages = tracedMessages(trace);
    const ufragOf = (re: RegExp) => /^a=ice-ufrag:(\S+)/m.exec(messages.find((m) => re.test(m.text))?.text ?? '')?.[1];
    const callerUfrag = ufragOf(/^INVITE /);
    const calleeUfrag = ufragOf(/^SIP\/2\.0 200 /);
    expect(callerUfrag, 'caller ufrag in the INVITE').to.be.a('string');
    expect(calleeUfrag, 'callee ufrag in the 200').to.be.a('string');
    const seeds: MutationSeeds = { sip: sipSeeds(trace, port), stun: stunSeeds(callerUfrag!, calleeUfrag!), rtp: rtpSeeds(), rtcp: rtcpSeeds() };
    const mutator = new PacketMutator(SEED, seeds);

    const memory = { callee: watchMemory(callee), caller: watchMemory(caller) };
    const drops = phones.map((p) => watchDrops([p.sip, ...p.media]));
    const result = await flood(mutator, phones);
    for (const d of drops) d.stop();
    const floodEnded = Date.now();
    // Media still flows after the flood: a new "rtp: N pkt/s" progress line (once a second) on each side, then hang up.
    const rtpLines = (r: IcephoneRun) => (r.stderr().match(/^rtp: \d+ pkt\/s sent, \d+ pkt\/s received/gm) ?? []).length;
    const linesAtEnd = [rtpLines(caller), rtpLines(callee)];
    await until(() => rtpLines(caller) >= linesAtEnd[0]! + 2 && rtpLines(callee) >= linesAtEnd[1]! + 2, 15000, 'RTP progress after the flood');
    caller.kill('SIGTERM');
    const [calleeCode, callerCode] = await Promise.all([exitWithin(callee, 40000), exitWithin(caller, 40000)]);
    process.stderr.write(`  both exited ${Date.now() - floodEnded} ms after the flood\n`);
    memory.callee.stop();
    memory.caller.stop();

    const names = ['SIP', 'STUN', 'RTP', 'RTCP', 'garbage'];
    for (const [p, phone] of phones.entries()) {
      process.stderr.write(`  ${phone.name}: sent ${result.sent[p]!.map((n, k) => `${names[k]} ${n}`).join(', ')}; got back ${result.sipAnswers[p]} SIP responses, ${result.stunAnswers[p]} STUN messages; the kernel dropped ${drops[p]!.total()} (receive buffers full)\n`);
    }
    process.stderr.write(`  flood took ${result.elapsedMs} ms, ${result.sendErrors} send errors\n`);
    for (const [name, m] of Object.entries(memory)) {
      process.stderr.write(`  ${name}: VmRSS before the flood ${MB(m.before)}, peak ${MB(m.peak())} (+${MB(m.peak() - m.before)}; bound +${MB(RSS_BOUND_BYTES)})\n`);
    }

    expect(callerCode, `caller exit status; stderr ends:\n${caller.stderr().slice(-3000)}`).to.equal(0);
    expect(calleeCode, `callee exit status; stderr ends:\n${callee.stderr().slice(-3000)}`).to.equal(0);
    const [cs] = caller.summaries();
    const [as] = callee.summaries();
    expect(cs, 'caller summary').to.be.an('object');
    expect(as, 'callee summary').to.be.an('object');
    process.stderr.write(`  callee dropped ${JSON.stringify(as.dropped)}, rtp ${JSON.stringify(as.rtp)}\n  caller dropped ${JSON.stringify(cs.dropped)}, rtp ${JSON.stringify(cs.rtp)}\n`);

    // The pairs selected before the flood are the only selections, and the summaries report them.
    for (const [name, run, s] of [['caller', caller, cs], ['callee', callee, as]] as const) {
      expect(before[name], `${name}: one selection per component before the flood`).to.have.length(2);
      expect(selections(run.stderr()), `${name}: no selection after the flood started`).to.deep.equal(before[name]);
      const m = /component 1: host (\S+):(\d+)\/udp -> host (\S+):(\d+)\/udp/.exec(before[name].find((l) => l.includes('component 1:')) ?? '');
      expect(m, `${name}: the pair selected for component 1 before the flood, host to host`).to.not.equal(null);
      expect(s.ice.selectedPair, `${name}: selected pair in the summary`).to.deep.include({ nominated: true });
      expect([s.ice.selectedPair.local.address, s.ice.selectedPair.local.port, s.ice.selectedPair.remote.address, s.ice.selectedPair.remote.port])
        .to.deep.equal([m![1], Number(m![2]), m![3], Number(m![4])]);
      expect(['connected', 'completed'], `${name}: ICE state`).to.include(s.ice.state);
    }

    // The flood's share of each phone was counted: dropped input plus the SIP requests it answered.
    for (const [p, s] of [[0, as], [1, cs]] as const) {
      const total = result.sent[p]!.reduce((a, b) => a + b, 0);
      const d = s.dropped;
      const counted = d.sipMalformed + d.mediaMalformed + d.stunUnauthorized + d.rtpMalformed + d.mediaFromStrangers + result.sipAnswers[p];
      const delivered = total - drops[p]!.total();
      process.stderr.write(`  ${phones[p].name}: ${delivered} of ${total} delivered, ${counted} of them counted (${(100 * counted / delivered).toFixed(1)}%)\n`);
      // Nearly all on an idle machine; a third or less when other tests keep both cores busy.
      expect(delivered, `${phones[p].name}: ${delivered} of ${total} reached it`).to.be.at.least(0.1 * total);
      expect(counted, `${phones[p].name}: counted ${counted} of ${delivered} delivered (${JSON.stringify(d)}, ${result.sipAnswers[p]} SIP answers)`).to.be.at.least(0.8 * delivered);
      // RTP and RTCP from strangers are counted as such (the kernel's drops hit every kind alike).
      const mediaDelivered = ((result.sent[p]![2]! + result.sent[p]![3]!) * delivered) / total;
      expect(d.mediaFromStrangers, `${phones[p].name}: RTP/RTCP from strangers counted (about ${Math.round(mediaDelivered)} delivered)`).to.be.at.least(0.5 * mediaDelivered);
    }

    // Each side heard the other's tone, for as long as the call lasted.
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
    for (const [name, s] of [['caller', cs], ['callee', as]] as const) {
      const heard = await readWavMono(join(dir, `${name}.wav`));
      const recordedMs = (heard.samples.length * 1000) / heard.sampleRate;
      process.stderr.write(`  ${name}: call ${s.call.durationMs} ms, recording ${Math.round(recordedMs)} ms\n`);
      expect(Math.abs(recordedMs - s.call.durationMs), `${name}: recording ${Math.round(recordedMs)} ms vs call ${s.call.durationMs} ms`).to.be.at.most(RECORDING_TOLERANCE_MS);
    }

    for (const [name, m] of Object.entries(memory)) {
      expect(m.before, `${name}: pre-flood RSS read`).to.be.greaterThan(0);
      expect(m.peak() - m.before, `${name}: RSS growth`).to.be.at.most(RSS_BOUND_BYTES);
    }
  });
});
