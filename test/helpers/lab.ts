/**
 * The NAT lab's scenario runner: builds a scenario's topology (scripts/lab/topology.ts), starts
 * coturn and kamailio where the scenario places them, runs the two icephones (or SIPp as the
 * non-ICE gateway) inside their namespaces, collects their `--json` summaries and recordings,
 * checks the tones (tone.ts) and tears everything down, whatever happened.
 *
 * Variants: `clean`; `loss` (random loss on every WAN segment, iptables `statistic`);
 * `noturn` (coturn runs with `--stun-only`: STUN still answers, TURN Allocate is refused, as when
 * the TURN service is stopped; a direct path must still be found where one exists).
 *
 * Features icephone may not have yet are detected once (`icephone call --FLAG ... --help`: an
 * unknown flag exits 2): without `--turn`, scenarios whose path needs the relay report
 * "needs --turn"; without `--register`, calls go directly to the callee's address where the
 * scenario says it is reachable (`call.direct`), and report "needs --register" otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScenarioSpec } from '../../scripts/lab/scenario.js';
import { Topology } from '../../scripts/lab/topology.js';
import { CLI_NODE_ARGS } from './icephone.js';
import { haveKamailio, startKamailio, type Kamailio } from './kamailio.js';
import { spawnProcess, which, type ManagedProcess } from './process.js';
import { analyzeWav } from './tone.js';
import { testTempDir } from './tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Variant = 'clean' | 'loss' | 'noturn';
export const LOSS_PROBABILITY = 0.05;
export const CALL_SECONDS = 4;
/**
 * Calls under WAN loss last as long as clean ones: a check arriving on an In-Progress pair now
 * queues a new check at once (RFC 8445 §7.3.1.4) instead of waiting for the lost one's
 * retransmission, and both ends select the latest nomination, so the two ends agree within a few
 * round trips (they needed 8 s before). The pair each side reports is read at hang-up.
 */
export const LOSSY_CALL_SECONDS = 4;
const callSeconds = (variant: Variant): number => (variant === 'loss' ? LOSSY_CALL_SECONDS : CALL_SECONDS);
const TURN_PASSWORD = 'lab-secret';
const REALM = 'lab.example';

export interface IcephoneFeatures {
  turn: boolean;
  register: boolean;
}

let featureCache: IcephoneFeatures | undefined;

/** Which of the flags being added to icephone exist (an unknown flag makes parseArgs exit 2). */
export function icephoneFeatures(): IcephoneFeatures {
  if (featureCache) return featureCache;
  const accepts = (flags: string[]): boolean =>
    spawnSync(process.execPath, [...CLI_NODE_ARGS, 'call', 'sip:x@192.0.2.1', '--listen', '127.0.0.1:0', ...flags, '--help'], {
      cwd: root, stdio: 'ignore', timeout: 30_000,
    }).status === 0;
  featureCache = {
    turn: accepts(['--turn', 'turn:192.0.2.1:3478', '--turn-user', 'u', '--turn-pass', 'p']),
    register: accepts(['--register', 'sip:a@example.com', '--registrar', '192.0.2.1:5060', '--outbound-proxy', 'sip:192.0.2.1:5060']),
  };
  return featureCache;
}

export interface PairView {
  local: string;
  remote: string;
  /** "srflx 203.0.113.1:5062 -> srflx 198.51.100.2:4000" */
  text: string;
}

export interface SideResult {
  name: string;
  exitCode: number | undefined;
  summary: any;
  pair?: PairView;
  iceState?: string;
  /** Tone (Hz) expected in this side's recording, and what was found. */
  heardHz?: number;
  toneRatio?: number;
  toneOk: boolean;
  packetsSent?: number;
  packetsReceived?: number;
  /** Last lines of output (for failures). */
  tail: string;
  failure?: string;
}

export interface ScenarioResult {
  scenario: ScenarioSpec;
  variant: Variant;
  status: 'pass' | 'fail' | 'expected-fail' | 'needs';
  /** For `needs`: which icephone feature. */
  needs?: string;
  /** One line: why it failed, or what it is waiting for. */
  reason?: string;
  signalling: 'proxy' | 'direct';
  caller?: SideResult;
  callee?: SideResult;
  /** Caller's "sip: answered" to the later of both sides' "media: flowing", ms. */
  answerToMediaMs?: number;
  /** The pair matched the draft's expectation (types on both sides). */
  pathAsDraft?: boolean;
  /** Otherwise, the listed acceptable alternative it matched (its `why`). */
  pathAlternative?: string;
  /** Both ends report one path: the caller's local is the callee's remote and vice versa (ICE callee only). */
  pairsAgree?: boolean;
  durationMs: number;
}

/** "address:port" of one end of a summary's selected pair. */
function endOf(summary: any, end: 'local' | 'remote'): string | undefined {
  const e = summary?.ice?.selectedPair?.[end];
  return e ? `${e.address}:${e.port}` : undefined;
}

function pairOf(summary: any): PairView | undefined {
  const p = summary?.ice?.selectedPair;
  if (!p?.local || !p?.remote) return undefined;
  return {
    local: p.local.type,
    remote: p.remote.type,
    text: `${p.local.type} ${p.local.address}:${p.local.port} -> ${p.remote.type} ${p.remote.address}:${p.remote.port}`,
  };
}

/** Lines of a process's output with their arrival time. */
function timeLines(proc: ManagedProcess): Array<{ t: number; line: string }> {
  const lines: Array<{ t: number; line: string }> = [];
  proc.onLine((line) => lines.push({ t: Date.now(), line }));
  return lines;
}

function jsonSummaries(proc: ManagedProcess): any[] {
  return proc
    .output()
    .split(/\r?\n/)
    .filter((l) => l.startsWith('{"call"'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return undefined;
      }
    })
    .filter(Boolean);
}

async function waitForUdpListen(topology: Topology, node: string, address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = topology.exec(node, 'ss', ['-Hlun']);
    if (out.includes(`${address}:${port}`)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${address}:${port}/udp in ${node} after ${timeoutMs} ms`);
}

/** coturn inside the scenario's TURN node; `stunOnly` for the TURN-stopped variant. */
async function startLabCoturn(topology: Topology, spec: ScenarioSpec, dir: string, stunOnly: boolean): Promise<ManagedProcess> {
  const t = spec.turn!;
  const [minPort, maxPort] = t.relayPorts ?? [49152, 49407];
  const users = Object.keys(spec.phones).map((name) => `--user=${name}:${TURN_PASSWORD}`);
  const args = [
    '-n', '--listening-ip', t.listen, '--listening-port', '3478', '--relay-ip', t.listen,
    ...(t.externalIp ? ['--external-ip', t.externalIp] : []),
    `--min-port=${minPort}`, `--max-port=${maxPort}`, `--realm=${REALM}`, '--lt-cred-mech', ...users,
    '--no-tls', '--no-dtls', '--no-cli', '--no-rfc5780', '--fingerprint', '--log-file=stdout', '--simple-log',
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`,
    // The lab's "public" networks are documentation ranges and its private ones RFC 1918: allow both as peers.
    '--allowed-peer-ip=10.0.0.0-10.255.255.255', '--allowed-peer-ip=192.168.0.0-192.168.255.255',
    ...(stunOnly ? ['--stun-only'] : []),
  ];
  const proc = spawnProcess('ip', [...topology.prefixFor(t.node).slice(1), 'turnserver', ...args], {
    name: 'turnserver', log: join(dir, 'turnserver.log'), echo: process.env['ICEPHONE_ECHO_PEERS'] === '1',
  });
  await waitForUdpListen(topology, t.node, t.listen, 3478, 10_000);
  return proc;
}

interface PhoneRun {
  name: string;
  proc: ManagedProcess;
  lines: Array<{ t: number; line: string }>;
  record?: string;
}

function icephoneArgs(spec: ScenarioSpec, name: string, role: 'caller' | 'callee', variant: Variant, features: IcephoneFeatures, useProxy: boolean, record: string): string[] {
  const phone = spec.phones[name]!;
  const port = phone.port ?? 5060;
  const args: string[] = [];
  if (role === 'caller') {
    const callee = spec.call.to;
    // A registered callee is called by its address-of-record; a non-registering gateway (SIPp) by
    // its own address, through the outbound proxy when there is one (the proxy relays foreign domains).
    const byAor = useProxy && !spec.phones[callee]!.sipp;
    const target = byAor ? `sip:${callee}@${spec.proxy!.domain}` : `sip:${callee}@${spec.call.direct}`;
    args.push('call', target, '--duration', String(callSeconds(variant)));
  } else {
    args.push('answer', '--max-calls', '1');
    // Without a proxy, in-dialog requests go to the peer's Contact, which behind a NAT is a private
    // address: the caller's BYE may never arrive, so the callee hangs up on its own too.
    if (!useProxy) args.push('--duration', String(callSeconds(variant) + 2));
  }
  args.push('--listen', `${phone.address}:${port}`, '--play', `tone:${phone.tone}`, '--record', record, '--json', '--ice-timeout', '15');
  if (phone.stun && spec.turn) args.push('--stun', `stun:${phone.stun}:3478`);
  if (phone.turn && spec.turn && features.turn) {
    args.push('--turn', `turn:${phone.turn}:3478`, '--turn-user', name, '--turn-pass', TURN_PASSWORD);
    // TURN stopped: coturn --stun-only leaves Allocate unanswered; give up on it sooner.
    if (variant === 'noturn') args.push('--turn-timeout', '3');
  }
  if (useProxy) {
    args.push('--register', `sip:${name}@${spec.proxy!.domain}`, '--registrar', `sip:${phone.proxy}:5060`, '--outbound-proxy', `sip:${phone.proxy}:5060`);
  }
  return args;
}

function startIcephone(topology: Topology, spec: ScenarioSpec, name: string, args: string[], dir: string): PhoneRun {
  const node = spec.phones[name]!.node;
  const proc = spawnProcess('ip', [...topology.prefixFor(node).slice(1), process.execPath, ...CLI_NODE_ARGS, ...args], {
    name: `icephone-${name}`, cwd: root, log: join(dir, `${name}.log`), echo: process.env['ICEPHONE_ECHO_PEERS'] === '1',
  });
  const lines = timeLines(proc);
  const recordIndex = args.indexOf('--record');
  return { name, proc, lines, record: recordIndex >= 0 ? args[recordIndex + 1] : undefined };
}

async function sideResult(run: PhoneRun, expectHz: number): Promise<SideResult> {
  const summary = jsonSummaries(run.proc)[0];
  const result: SideResult = {
    name: run.name,
    exitCode: run.proc.exitCode,
    summary,
    pair: pairOf(summary),
    iceState: summary?.ice?.state,
    heardHz: expectHz,
    toneOk: false,
    packetsSent: summary?.rtp?.packetsSent,
    packetsReceived: summary?.rtp?.packetsReceived,
    tail: run.proc.tail(3000),
  };
  const reason = run.proc.output().match(/^icephone: (.*)$/m);
  if (reason) result.failure = reason[1];
  // Why ICE had nothing better: which candidates there were, and what TURN said.
  if (reason && summary?.ice?.state === 'failed') {
    const types = (list: any[] | undefined): string => [...new Set((list ?? []).filter((c) => c.component === 1).map((c) => c.type))].join('+') || 'none';
    const turn = run.proc.output().match(/^turn: (\S+: .*(?:no answer|error|refused|fail).*)$/m)?.[1];
    // An icephone problem seen under loss: checks succeeded, the peer accepted our nomination and
    // selected the pair, yet this (controlling) side never selected one and reports "no pair succeeded".
    const succeeded = run.proc.output().match(/^ice: check .* succeeded$/gm)?.length ?? 0;
    const stuck = succeeded > 0 && !/^ice: selected pair/m.test(run.proc.output()) ? `; BUT ${succeeded} checks succeeded and no pair was ever selected on this side (nomination never completed)` : '';
    result.failure += ` (local ${types(summary.ice.localCandidates)}, remote ${types(summary.ice.remoteCandidates)}${turn ? `; no relayed candidate: TURN ${turn}` : ''}${stuck})`;
  }
  if (run.record && existsSync(run.record)) {
    try {
      const a = await analyzeWav(run.record, expectHz, { skipMs: 500 });
      result.toneRatio = a.toneRatio;
      result.toneOk = a.rms > 0.003 && a.toneRatio > 0.5 && Math.abs(a.dominantHz - expectHz) <= 15;
    } catch (e) {
      result.failure ??= `recording unreadable: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return result;
}

/** The c= address and m=audio port of the first INVITE's SDP in a SIPp message trace. */
function offeredMediaLine(traceFile: string): { address: string; port: number } | undefined {
  if (!existsSync(traceFile)) return undefined;
  const text = readFileSync(traceFile, 'utf8');
  const invite = text.indexOf('INVITE sip:');
  if (invite < 0) return undefined;
  const sdp = text.slice(invite, invite + 6000);
  const c = sdp.match(/^c=IN IP4 ([0-9.]+)/m);
  const m = sdp.match(/^m=audio (\d+) /m);
  return c && m ? { address: c[1]!, port: Number(m[1]) } : undefined;
}

/**
 * SIGTERM and time to report: icephone hangs up, waits up to 2 s for the peer to confirm, then
 * ends the call locally and prints its summary (and finishes its recording); only then SIGKILL.
 */
async function terminate(proc: ManagedProcess, graceMs = 6_000): Promise<void> {
  if (proc.exitCode !== undefined) return;
  proc.kill('SIGTERM');
  await proc.waitForExit(graceMs).catch(() => proc.stop());
}

function firstLineTime(run: PhoneRun, re: RegExp): number | undefined {
  return run.lines.find((l) => re.test(l.line))?.t;
}

export interface RunOptions {
  /** Keep the output directory (logs, recordings) instead of deleting it after a pass. */
  keep?: boolean;
  /** Base directory for per-run output (default: a temporary directory). */
  outDir?: string;
  /**
   * `proxy` (default, env LAB_SIGNALLING): both phones REGISTER with kamailio and the caller calls
   * the callee's address-of-record through it; `direct`: the caller sends the INVITE straight to
   * `call.direct` (no registrar), to separate media-path results from signalling problems.
   */
  signalling?: 'proxy' | 'direct';
}

function matches(expected: [string, string], pair: PairView | undefined): boolean {
  if (!pair) return false;
  return (expected[0] === '-' || expected[0] === pair.local) && (expected[1] === '-' || expected[1] === pair.remote);
}

/**
 * Which expectation the selected pairs meet: 'draft' (the scenario's `caller`/`callee`), the
 * `why` of a listed alternative, or undefined (neither).
 */
export function pathMatch(spec: ScenarioSpec, caller: PairView | undefined, callee: PairView | undefined, calleeIsIcephone: boolean): string | undefined {
  const both = (e: { caller: [string, string]; callee: [string, string] }): boolean => matches(e.caller, caller) && (!calleeIsIcephone || matches(e.callee, callee));
  if (both(spec.expect)) return 'draft';
  return spec.expect.alternatives?.find(both)?.why;
}

/** Does the scenario's path need TURN (the draft's expected pair has a relay end)? */
export function needsRelay(spec: ScenarioSpec): boolean {
  return spec.expect.withoutTurn === 'fails';
}

/** Runs one scenario variant end to end. Never throws for a failed call: the result says what happened. */
export async function runScenario(spec: ScenarioSpec, variant: Variant, opts: RunOptions = {}): Promise<ScenarioResult> {
  const started = Date.now();
  const features = icephoneFeatures();
  const base: Omit<ScenarioResult, 'status' | 'durationMs'> = { scenario: spec, variant, signalling: 'direct' };
  const wanted = opts.signalling ?? (process.env['LAB_SIGNALLING'] === 'direct' ? 'direct' : 'proxy');
  const useProxy = wanted === 'proxy' && features.register && !!spec.proxy && haveKamailio();
  base.signalling = useProxy ? 'proxy' : 'direct';
  const done = (r: Omit<ScenarioResult, 'durationMs' | 'scenario' | 'variant' | 'signalling'>): ScenarioResult => ({ ...base, ...r, durationMs: Date.now() - started });

  // What the scenario needs that icephone does not have yet.
  if (!useProxy && !spec.call.direct) {
    return done({ status: 'needs', needs: wanted === 'direct' ? 'proxy signalling' : '--register', reason: `the callee is reachable only through the proxy (${wanted === 'direct' ? 'direct signalling was asked for' : features.register ? 'kamailio is not installed' : 'icephone lacks --register/--outbound-proxy'})` });
  }
  if (variant !== 'noturn' && needsRelay(spec) && !features.turn) {
    return done({ status: 'needs', needs: '--turn', reason: 'the only path is through the TURN relay and icephone lacks --turn' });
  }

  const dir = opts.outDir ? join(opts.outDir, `${spec.file}-${variant}`) : testTempDir(`icephone-lab-${spec.file}-${variant}-`);
  mkdirSync(dir, { recursive: true });
  let topology: Topology;
  try {
    topology = Topology.build(spec, { loss: variant === 'loss' ? LOSS_PROBABILITY : 0 });
  } catch (e) {
    return done({ status: 'fail', reason: `topology: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` });
  }
  const servers: Array<{ stop(): Promise<number> }> = [];
  const phones: PhoneRun[] = [];
  let sipp: ManagedProcess | undefined;
  try {
    if (spec.turn) servers.push(await startLabCoturn(topology, spec, dir, variant === 'noturn'));
    let kamailio: Kamailio | undefined;
    if (useProxy) {
      // Behind the enterprise NAT the proxy has an inside socket (the phones' 5060) and an outside
      // one (5062, where the NAT forwards its public 5060); next hops on the proxy's own segments
      // are inside.
      const insideNetworks = Object.values(spec.segments).filter((seg) => seg.members[spec.proxy!.node] !== undefined).map((seg) => seg.cidr);
      kamailio = await startKamailio({
        listen: spec.proxy!.listen, advertise: spec.proxy!.advertise, outsidePort: 5062, insideNetworks, domain: spec.proxy!.domain,
        prefix: topology.prefixFor(spec.proxy!.node),
      });
      servers.push(kamailio);
    }

    const callerName = spec.call.from;
    const calleeName = spec.call.to;
    const callee = spec.phones[calleeName]!;
    let calleeRun: PhoneRun | undefined;
    if (callee.sipp) {
      if (!which('sipp')) return done({ status: 'fail', reason: 'sipp is not installed' });
      // Packets reaching the gateway's media port from the enterprise relay's port range.
      // (Only counts: a rule without a target.) The relay's public address and port range, as the
      // enterprise NAT forwards it, is where the caller's m/c line points.
      const relayRange = (spec.turn?.relayPorts ?? [49152, 49407]).join(':');
      const relayPublic = spec.turn?.externalIp?.split('/')[0] ?? spec.turn?.listen ?? '0.0.0.0/0';
      topology.exec(callee.node, 'iptables', ['-A', 'INPUT', '-p', 'udp', '-s', relayPublic, '--sport', relayRange, '--dport', '6000', '-m', 'comment', '--comment', 'gw-media']);
      sipp = spawnProcess('ip', [...topology.prefixFor(callee.node).slice(1), 'sipp', '-sf', join(root, 'scenarios', 'lab', 'sipp-gateway-uas.xml'),
        '-i', callee.address, '-p', String(callee.port ?? 5060), '-mi', callee.address, '-mp', '6000', '-rtp_echo', '-m', '1', '-nostdin', '-timeout', '40s',
        '-trace_err', '-error_file', join(dir, 'sipp-errors.log'), '-trace_msg', '-message_file', join(dir, 'sipp-messages.log')], { name: 'sipp-gw', cwd: dir, log: join(dir, 'sipp.log') });
      await waitForUdpListen(topology, callee.node, callee.address, callee.port ?? 5060, 10_000);
    } else {
      calleeRun = startIcephone(topology, spec, calleeName, icephoneArgs(spec, calleeName, 'callee', variant, features, useProxy, join(dir, `${calleeName}.wav`)), dir);
      phones.push(calleeRun);
      // With --register, icephone prints "sip: listening" only once the registrar accepted it.
      try {
        await calleeRun.proc.waitForOutput(/sip: listening/, useProxy ? 40_000 : 20_000);
      } catch (e) {
        const why = calleeRun.proc.output().match(/^icephone: (.*)$/m)?.[1];
        throw new Error(`${calleeName} did not start${why ? `: ${why}` : `: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`}`);
      }
    }
    const callerRun = startIcephone(topology, spec, callerName, icephoneArgs(spec, callerName, 'caller', variant, features, useProxy, join(dir, `${callerName}.wav`)), dir);
    phones.push(callerRun);

    const limit = (callSeconds(variant) + 45) * 1000;
    await callerRun.proc.waitForExit(limit).catch(() => terminate(callerRun.proc));
    if (calleeRun) await calleeRun.proc.waitForExit(8_000).catch(() => terminate(calleeRun!.proc));
    if (sipp) await sipp.waitForExit(10_000).catch(() => sipp!.stop());

    const callerSide = await sideResult(callerRun, callee.tone);
    const calleeSide = calleeRun ? await sideResult(calleeRun, spec.phones[callerName]!.tone) : undefined;
    const answered = firstLineTime(callerRun, /sip: answered/);
    const flowing = [firstLineTime(callerRun, /media: flowing/), calleeRun ? firstLineTime(calleeRun, /media: flowing/) : firstLineTime(callerRun, /media: flowing/)];
    const answerToMediaMs = answered !== undefined && flowing.every((t) => t !== undefined) ? Math.max(0, Math.max(...(flowing as number[])) - answered) : undefined;

    let gatewayPackets: number | undefined;
    let mcLine: { address: string; port: number } | undefined;
    let mcType: string | undefined;
    if (sipp) {
      const counters = topology.exec(callee.node, 'iptables', ['-nvxL', 'INPUT']);
      const m = counters.match(/^\s*(\d+)\s+\d+\s+.*gw-media/m);
      gatewayPackets = m ? Number(m[1]) : 0;
      // SIPp echoes what it gets: the caller's own tone coming back proves both legs.
      callerSide.heardHz = spec.phones[callerName]!.tone;
      // A non-ICE answer has no selected pair: show the offer's m/c line as the gateway received it
      // (SIPp's message trace), named by the caller's candidate it is.
      mcLine = offeredMediaLine(join(dir, 'sipp-messages.log'));
      const candidate = mcLine && (callerSide.summary?.ice?.localCandidates ?? []).find((c: any) => c.component === 1 && c.address === mcLine!.address && c.port === mcLine!.port);
      mcType = candidate?.type;
      if (!callerSide.pair && mcLine) {
        callerSide.pair = { local: mcType ?? '?', remote: 'host', text: `${mcType ?? '?'} ${mcLine.address}:${mcLine.port} (m/c) -> host ${callee.address}:6000 (${gatewayPackets} pkts from relay)` };
      }
      if (callerRun.record) {
        const a = await analyzeWav(callerRun.record, callerSide.heardHz, { skipMs: 500 }).catch(() => undefined);
        callerSide.toneRatio = a?.toneRatio;
        callerSide.toneOk = !!a && a.rms > 0.003 && a.toneRatio > 0.5 && Math.abs(a.dominantHz - callerSide.heardHz) <= 15;
      }
    }

    const twoWay = callerSide.exitCode === 0 && callerSide.toneOk && (calleeSide ? calleeSide.exitCode === 0 && calleeSide.toneOk : (gatewayPackets ?? 0) > 50 && sipp?.exitCode === 0);
    const path = pathMatch(spec, callerSide.pair, calleeSide?.pair, !!calleeSide);
    const pathAsDraft = path === 'draft';
    // A valid pair's local candidate is the address the peer saw (RFC 8445 §7.2.5.3.2), so across
    // NATs too the caller's local is the callee's remote when both ends use the same path.
    const iceCallee = calleeSide?.summary?.ice?.format === 'ice';
    const pairsAgree = iceCallee
      ? endOf(callerSide.summary, 'local') === endOf(calleeSide!.summary, 'remote') && endOf(callerSide.summary, 'remote') === endOf(calleeSide!.summary, 'local')
      : undefined;
    const result = { caller: callerSide, callee: calleeSide, answerToMediaMs, pathAsDraft, pathAlternative: pathAsDraft ? undefined : path, pairsAgree };
    if (twoWay && pairsAgree === false) {
      return done({
        status: 'fail', ...result,
        reason: `the ends disagree on the pair: caller ${endOf(callerSide.summary, 'local')} -> ${endOf(callerSide.summary, 'remote')}, callee ${endOf(calleeSide!.summary, 'local')} -> ${endOf(calleeSide!.summary, 'remote')}`,
      });
    }
    const shouldConnect = variant !== 'noturn' || spec.expect.withoutTurn === 'connects';
    if (twoWay) {
      if (!opts.keep && !opts.outDir) rmSync(dir, { recursive: true, force: true });
      return done({ status: 'pass', ...result, reason: shouldConnect ? undefined : 'connected although the draft expects no path without TURN' });
    }
    const why =
      callerSide.failure ?? calleeSide?.failure ??
      (!callerSide.toneOk ? `no ${callerSide.heardHz} Hz tone in ${callerName}'s recording` : calleeSide && !calleeSide.toneOk ? `no ${calleeSide.heardHz} Hz tone in ${calleeName}'s recording` : undefined) ??
      (sipp
        ? mcType !== 'relay'
          ? `no relayed candidate: the offer's m/c line is ${mcLine ? `A's ${mcType ?? 'unknown'} address ${mcLine.address}:${mcLine.port}` : 'unknown'}, which a gateway that sends to the m/c line (draft §9.2.2) cannot reach from the Internet; the gateway got ${gatewayPackets} packets from the relay${callerSide.toneOk ? " (SIPp's echo to the packets' source still came back through the NAT mapping: symmetric RTP, not the draft's gateway)" : ''}`
          : `the gateway got ${gatewayPackets} RTP packets from the enterprise relay (m/c line ${mcLine?.address}:${mcLine?.port}); sipp exit ${sipp.exitCode}`
        : 'no two-way media');
    if (!shouldConnect) {
      if (!opts.keep && !opts.outDir) rmSync(dir, { recursive: true, force: true });
      return done({ status: 'expected-fail', ...result, reason: why });
    }
    return done({ status: 'fail', ...result, reason: `${why} (logs: ${dir})` });
  } catch (e) {
    return done({ status: 'fail', reason: `${e instanceof Error ? e.message.split('\n')[0] : String(e)} (logs: ${dir})` });
  } finally {
    await Promise.all(phones.map((p) => p.proc.stop()));
    if (sipp) await sipp.stop();
    await Promise.all(servers.map((s) => s.stop()));
    topology.destroy();
  }
}

/** Checks the tools the lab needs; returns a reason when something is missing. */
export function labPrerequisites(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the NAT lab needs root (network namespaces, iptables)';
  for (const tool of ['ip', 'iptables', 'turnserver', 'ss', 'kamailio', 'sipp']) if (!which(tool)) return `${tool} is not installed`;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return "'ip netns' is unavailable";
  }
  return undefined;
}
