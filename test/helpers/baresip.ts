/**
 * baresip 1.0.0 (Debian `baresip-core`) as a headless interop peer; see /work/shared/peers/baresip.md.
 *
 * Each instance gets its own temporary config directory: no stdio.so (no terminal), epoll,
 * `ausine` at 48 kHz stereo as the source, `aubridge,nil` as the player, `sndfile.so` recording
 * what it heard (`dump-*-dec.wav`) and what it sent (`dump-*-enc.wav`) as 8 kHz mono 16-bit WAVs
 * in that directory, and one account `sip:USER@HOST:PORT` with `medianat=ice` and `answermode=auto`.
 *
 * ICE and loopback: baresip 1.0.0's ice module gathers host candidates from every interface
 * *except* loopback and link-local ones (modules/ice/ice.c `if_handler`: "Skip loopback and
 * link-local addresses"); there is no option to change that. `net_interface 127.0.0.1` and
 * `sip_listen 127.0.0.1:P` keep SIP (and the session-level `c=`) on 127.0.0.1, and `-4` keeps ICE to
 * IPv4, but the candidates are the host's own non-loopback IPv4 addresses (e.g. 192.0.2.2). The
 * kernel delivers packets between a host's own addresses over `lo`, so nothing leaves the machine,
 * but with no non-loopback IPv4 address at all (a namespace with only `lo`) ICE fails at once with
 * "ice: set default cands failed (No such file or directory)". Its RTP sockets are bound to
 * 0.0.0.0, so a reply to a peer on 127.0.0.1 leaves from 127.0.0.1, not from the candidate address.
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { spawnProcess, which, type ManagedProcess } from './process.js';
import { testTempDir } from './tmp.js';

export const BARESIP_MODULE_PATH = '/usr/lib/baresip/modules';

/** Modules every instance loads (all shipped in Debian's baresip-core). */
export const BARESIP_MODULES = ['g711.so', 'ausine.so', 'aubridge.so', 'sndfile.so', 'ice.so', 'stun.so', 'turn.so', 'account.so', 'menu.so'];

export interface BaresipOptions {
  /** SIP port: baresip listens on UDP and TCP here and TLS on listenPort+1 (use freePortPair()). */
  listenPort: number;
  /** User part of the account; baresip answers only requests for this user (404 otherwise). */
  user: string;
  /** Address for SIP and `net_interface` (default 127.0.0.1). */
  host?: string;
  /** Frequency of the sine it sends (default 440). */
  toneHz?: number;
  /** `medianat=ice` on the account (default true). */
  ice?: boolean;
  /** `stunserver=` on the account: `stun:H:P` for srflx candidates, or `turn:H:P` for relayed ones. */
  stunServer?: string;
  /** `stunuser=` / `stunpass=` (TURN long-term credentials). */
  stunUser?: string;
  stunPass?: string;
  /** SIP URI to call at start (`-e "/dial URI"`). */
  dial?: string;
  /** Quit after this many seconds from start (`-t`), which also hangs up. Default: run until stop(). */
  durationSec?: number;
  /** Auto-answer incoming calls (default true); false leaves them ringing (`answermode=manual`). */
  answer?: boolean;
  /** Verbose output (`-v`, default true): needed to parse the selected ICE pair and role. */
  verbose?: boolean;
  /** SIP message trace on stdout (`-s`, default false). */
  sipTrace?: boolean;
  /** Codecs for the account (default ['PCMU', 'PCMA']). */
  audioCodecs?: string[];
  /** RTP port range `min-max` (default baresip's own random choice). */
  rtpPorts?: [number, number];
  /** Extra account parameters, e.g. `['100rel=yes']` (appended as `;param`). */
  accountParams?: string[];
  /** Extra config lines. */
  extraConfig?: string[];
  /** Extra modules (e.g. `srtp.so`), loaded before the account module reads the accounts. */
  extraModules?: string[];
  /** Run inside `ip netns exec NAME` (the lab's network namespaces; root only). */
  netns?: string;
  /** Echo baresip's output lines to stderr, prefixed (default: env ICEPHONE_ECHO_PEERS=1). */
  echo?: boolean;
  /** Load ctrl_tcp (JSON commands over netstrings) listening on host:ctrlPort, for `command()`. */
  ctrlPort?: number;
  /**
   * SIP over TLS (RFC 3261 §26.2). baresip always listens for TLS on listenPort+1 once it has a
   * certificate; see {@link BaresipTlsOptions}.
   */
  tls?: BaresipTlsOptions;
  /**
   * Register at a registrar (RFC 3261 §10) instead of the default unregistered account: the AOR
   * becomes `sip:USER@DOMAIN` (`;transport=tls` with `tls`), with `regint=` and
   * `outbound="PROXY"` (every request goes through PROXY, e.g. `sip:127.0.0.1:P;transport=tls`).
   * Wait for the binding with `waitForRegistered()`.
   */
  register?: { domain: string; outboundProxy: string; regintSec?: number };
}

/**
 * TLS for a baresip 1.0.0 instance. 1.0.0 knows only two TLS settings: `sip_certificate` (its
 * certificate, which it presents as a TLS server and as a client, followed by its key in one PEM
 * file) and `sip_cafile` (CAs it trusts). It has no `sip_verify_server` and no `sip_trans_def`:
 * as a TLS client it does not verify the server's certificate (checked by hand: a baresip without
 * `sip_cafile` calls a TLS peer whose CA it does not know), so the trust check only ever matters
 * on icephone's side. Without a certificate the TLS socket on listenPort+1 is not opened at all.
 */
export interface BaresipTlsOptions {
  /** Certificate then private key, PEM, in one file (`TestLeaf.combinedFile` of test/helpers/certs.ts). */
  combinedFile: string;
  /** CA certificates (PEM) for `sip_cafile`. */
  caFile?: string;
  /**
   * Make TLS the account's transport (default true): the AOR gets `;transport=tls`, so the
   * Contact baresip sends names its TLS socket (`sip:USER-…@HOST:P+1;transport=tls`) and `/dial`
   * of a plain `sip:` URI goes over TLS (baresip appends `;transport=tls` to the dialled URI
   * itself; the harness drops a `;transport=tls` already in `dial`, which would else appear twice).
   * `uri` is then `sip:USER@HOST:P+1;transport=tls`.
   */
  accountTransport?: boolean;
}

/** One end of ICE's selected pair as baresip prints it in its valid list. */
export interface BaresipCandidate {
  type: 'host' | 'srflx' | 'prflx' | 'relay';
  address: string;
  port: number;
  /** Interface name (local candidates only, e.g. `eth0`). */
  interfaceName?: string;
}

export interface BaresipSelectedPair {
  component: number;
  local: BaresipCandidate;
  remote: BaresipCandidate;
  /** Flags from the dump: D (default), V (valid), N (nominated). */
  flags: string;
}

/** What baresip reported about ICE, parsed from its output as it arrives. */
export interface BaresipIceResult {
  /** "ice: audio: connectivity check is complete (update=N)" seen (and no failure). */
  completed: boolean;
  /** "ice: connectivity check failed: ..." or a gather/medianat failure seen. */
  failed: boolean;
  /** The failure line, if any. */
  failure?: string;
  role?: 'controlling' | 'controlled';
  /** "ice: audio: Default local candidates: A:P / A:P+1" (RTP, RTCP). */
  defaultLocal?: [string, string];
  /** "stream: mnat 'ice' connected: raddr A:P A:P+1" (remote RTP, RTCP after ICE). */
  connectedRemote?: [string, string];
  /** Selected pairs per component (from the `-v` dump; empty without verbose). */
  selectedPairs: BaresipSelectedPair[];
}

export interface BaresipInstance {
  /** Config directory (also where the WAVs and baresip.log go). */
  readonly dir: string;
  readonly port: number;
  /** TLS port (listenPort+1), when `tls` was given. */
  readonly tlsPort: number | undefined;
  /**
   * The account's AOR: `sip:USER@HOST:PORT`, with TLS as the account's transport
   * `sip:USER@HOST:PORT+1;transport=tls`, with `register` `sip:USER@DOMAIN[;transport=tls]`.
   */
  readonly uri: string;
  readonly process: ManagedProcess;
  /** `DIR/dump-*-dec.wav`: what baresip heard, one per call, sorted by name (= time). */
  decodedWavs(): string[];
  /** `DIR/dump-*-enc.wav`: what baresip sent. */
  encodedWavs(): string[];
  /** Resolves with the peer's URI at "USER@HOST: Call established: PEER-URI". */
  waitForCallEstablished(timeoutMs: number): Promise<string>;
  /** Resolves at "stream: incoming rtp for 'audio' established, receiving from A:P" with "A:P". */
  waitForIncomingRtp(timeoutMs: number): Promise<string>;
  /** Resolves when ICE completed; rejects when it failed or timed out. */
  waitForIceCompleted(timeoutMs: number): Promise<BaresipIceResult>;
  /** Resolves with the transport at "USER@DOMAIN: {0/TLS/v4} 200 OK (...) [1 binding]" (with `register`). */
  waitForRegistered(timeoutMs: number): Promise<string>;
  /** Resolves with the duration in seconds at "Call with PEER terminated (duration: N secs)". */
  waitForCallTerminated(timeoutMs: number): Promise<number>;
  iceCompleted(): boolean;
  iceResult(): BaresipIceResult;
  /** SIGTERM (baresip hangs up and closes its WAVs), then SIGKILL after 2 s. Resolves with the exit code. */
  stop(): Promise<number>;
  /** Deletes the config directory (after stop()). */
  remove(): void;
  /**
   * Runs a menu command through ctrl_tcp (needs `ctrlPort`), e.g. `hold`, `resume`, `sndcode 5`;
   * resolves with baresip's response text. Runs the client inside the peer's namespace.
   */
  command(command: string, params?: string): Promise<string>;
}

/** The baresip binary and every module the harness loads are installed. */
export function baresipAvailable(): boolean {
  return which('baresip') !== undefined && missingBaresipModules().length === 0;
}

export function missingBaresipModules(): string[] {
  return BARESIP_MODULES.filter((module) => {
    try {
      return !readdirSync(BARESIP_MODULE_PATH).includes(module);
    } catch {
      return true;
    }
  });
}

/** This host's non-loopback, non-link-local IPv4 addresses: where baresip's ICE host candidates will be. */
export function iceHostAddresses(): string[] {
  const out: string[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family === 'IPv4' && !info.internal && !info.address.startsWith('169.254.')) out.push(info.address);
    }
  }
  return out;
}

/** The `config` file's text for these options. */
export function baresipConfig(options: BaresipOptions, dir: string): string {
  const host = options.host ?? '127.0.0.1';
  const lines = [
    'poll_method epoll',
    `sip_listen ${host}:${options.listenPort}`,
    `net_interface ${host}`,
    'audio_player aubridge,nil',
    `audio_source ausine,${options.toneHz ?? 440}`,
    'audio_alert aubridge,nil',
    'ausrc_srate 48000',
    'auplay_srate 48000',
    'ausrc_channels 2',
    'auplay_channels 2',
    `snd_path ${dir}`,
    ...(options.tls ? [`sip_certificate ${options.tls.combinedFile}`] : []),
    ...(options.tls?.caFile ? [`sip_cafile ${options.tls.caFile}`] : []),
    ...(options.rtpPorts ? [`rtp_ports ${options.rtpPorts[0]}-${options.rtpPorts[1]}`] : []),
    `module_path ${BARESIP_MODULE_PATH}`,
    ...(options.extraModules ?? []).map((module) => `module ${module}`),
    ...BARESIP_MODULES.map((module) => `module ${module}`),
    ...(options.ctrlPort !== undefined ? ['module ctrl_tcp.so', `ctrl_tcp_listen ${host}:${options.ctrlPort}`] : []),
    ...(options.extraConfig ?? []),
  ];
  return lines.join('\n') + '\n';
}

/** The `accounts` file's text for these options. */
export function baresipAccount(options: BaresipOptions): string {
  const params = [
    ...(options.register ? [`regint=${options.register.regintSec ?? 600}`, `outbound="${options.register.outboundProxy}"`] : ['regint=0']),
    ...(options.ice ?? true ? ['medianat=ice'] : []),
    ...(options.stunServer ? [`stunserver=${options.stunServer}`] : []),
    ...(options.stunUser ? [`stunuser=${options.stunUser}`] : []),
    ...(options.stunPass ? [`stunpass=${options.stunPass}`] : []),
    `answermode=${options.answer ?? true ? 'auto' : 'manual'}`,
    `audio_codecs=${(options.audioCodecs ?? ['PCMU', 'PCMA']).join(',')}`,
    ...(options.accountParams ?? []),
  ];
  return `<${accountUri(options)}>;${params.join(';')}\n`;
}

/** The account's AOR (also the instance's `uri`). */
function accountUri(options: BaresipOptions): string {
  const host = options.host ?? '127.0.0.1';
  const transport = tlsAccount(options) ? ';transport=tls' : '';
  if (options.register) return `sip:${options.user}@${options.register.domain}${transport}`;
  return tlsAccount(options) ? `sip:${options.user}@${host}:${options.listenPort + 1}${transport}` : `sip:${options.user}@${host}:${options.listenPort}`;
}

function tlsAccount(options: BaresipOptions): boolean {
  return options.tls !== undefined && (options.tls.accountTransport ?? true);
}

const CANDIDATE = String.raw`(?:(\S*?):)?(host|srflx|prflx|relay):(\d{1,3}(?:\.\d{1,3}){3}):(\d+)`;
const SELECTED_PAIR = new RegExp(String.raw`^\s*\*\s+\{comp=(\d+)\}\s+\S+\s+\{([ DVN]{3})\}\s+${CANDIDATE}\s+<--->\s+${CANDIDATE}`);

/** Updates `result` from one output line of baresip. Exported for unit tests of the parser. */
export function parseBaresipLine(line: string, result: BaresipIceResult): void {
  let m: RegExpMatchArray | null;
  if (/ice: \S+: connectivity check is complete/.test(line)) {
    if (!result.failed) result.completed = true;
  } else if ((m = line.match(/(ice: connectivity check failed: .*|ice: gather error: .*|ice: set default cands failed.*|call: medianat '\S+' failed: .*)/))) {
    result.failed = true;
    result.completed = false;
    result.failure ??= m[1]!.trim();
  } else if ((m = line.match(/local_role=(Controlling|Controlled)/))) {
    result.role = m[1] === 'Controlling' ? 'controlling' : 'controlled';
  } else if ((m = line.match(/ice: \S+: Default local candidates: (\S+) \/ (\S+)/))) {
    result.defaultLocal = [m[1]!, m[2]!];
  } else if ((m = line.match(/stream: mnat '\S+' connected: raddr (\S+) (\S+)/))) {
    result.connectedRemote = [m[1]!, m[2]!];
  } else if ((m = line.match(SELECTED_PAIR))) {
    const pair: BaresipSelectedPair = {
      component: Number(m[1]),
      flags: m[2]!.replace(/ /g, ''),
      local: { type: m[4] as BaresipCandidate['type'], address: m[5]!, port: Number(m[6]), ...(m[3] ? { interfaceName: m[3] } : {}) },
      remote: { type: m[8] as BaresipCandidate['type'], address: m[9]!, port: Number(m[10]) },
    };
    result.selectedPairs = [...result.selectedPairs.filter((p) => p.component !== pair.component), pair].sort((a, b) => a.component - b.component);
  }
}

/**
 * Writes a config directory and starts `baresip -4 [-v] -f DIR [-t S] [-e "/dial URI"]`.
 * Resolves once baresip printed "baresip is ready." (its account is up and SIP is listening).
 */
export async function startBaresip(options: BaresipOptions): Promise<BaresipInstance> {
  const host = options.host ?? '127.0.0.1';
  const dir = testTempDir(`icephone-baresip-${options.user}-`);
  writeFileSync(join(dir, 'config'), baresipConfig(options, dir));
  writeFileSync(join(dir, 'accounts'), baresipAccount(options));

  const args = ['-4', '-f', dir];
  if (options.verbose ?? true) args.push('-v');
  if (options.sipTrace) args.push('-s');
  if (options.durationSec !== undefined) args.push('-t', String(options.durationSec));
  if (options.dial) args.push('-e', `/dial ${tlsAccount(options) ? options.dial.replace(/;transport=tls(?=;|$)/i, '') : options.dial}`);

  const command = options.netns ? 'ip' : 'baresip';
  const argv = options.netns ? ['netns', 'exec', options.netns, 'baresip', ...args] : args;
  const child = spawnProcess(command, argv, {
    name: `baresip-${options.user}`,
    log: join(dir, 'baresip.log'),
    echo: options.echo ?? process.env['ICEPHONE_ECHO_PEERS'] === '1',
  });

  const ice: BaresipIceResult = { completed: false, failed: false, selectedPairs: [] };
  child.onLine((line) => parseBaresipLine(line, ice));

  const wavs = (suffix: string): string[] =>
    readdirSync(dir)
      .filter((name) => name.startsWith('dump-') && name.endsWith(suffix))
      .sort()
      .map((name) => join(dir, name));

  const instance: BaresipInstance = {
    dir,
    port: options.listenPort,
    tlsPort: options.tls ? options.listenPort + 1 : undefined,
    uri: accountUri(options),
    process: child,
    decodedWavs: () => wavs('-dec.wav'),
    encodedWavs: () => wavs('-enc.wav'),
    async waitForCallEstablished(timeoutMs) {
      const m = await child.waitForOutput(/Call established: (\S+)/, timeoutMs, { wholeLines: true });
      return m[1]!;
    },
    async waitForIncomingRtp(timeoutMs) {
      const m = await child.waitForOutput(/incoming rtp for '\S+' established, receiving from (\S+)/, timeoutMs, { wholeLines: true });
      return m[1]!;
    },
    async waitForIceCompleted(timeoutMs) {
      // "stream: mnat 'ice' connected" comes after the completion line and the -v state dump
      // (role, valid list), so by then everything about the result has been parsed.
      await child.waitForOutput(
        /(stream: mnat '\S+' connected|ice: connectivity check failed|ice: gather error|ice: set default cands failed|call: medianat '\S+' failed)/,
        timeoutMs,
        { wholeLines: true },
      );
      if (ice.failed || !ice.completed) throw new Error(`baresip ${options.user}: ICE failed: ${ice.failure ?? 'no completion reported'}`);
      return { ...ice };
    },
    async waitForRegistered(timeoutMs) {
      const m = await child.waitForOutput(/: \{\d+\/(\w+)\/v[46]\} 200 \S+.*\[\d+ bindings?\]/, timeoutMs, { wholeLines: true });
      return m[1]!;
    },
    async waitForCallTerminated(timeoutMs) {
      const m = await child.waitForOutput(/Call with \S+ terminated \(duration: (\d+) secs?\)/, timeoutMs, { wholeLines: true });
      return Number(m[1]);
    },
    iceCompleted: () => ice.completed && !ice.failed,
    iceResult: () => ({ ...ice, selectedPairs: [...ice.selectedPairs] }),
    stop: () => child.stop(),
    remove: () => rmSync(dir, { recursive: true, force: true }),
    async command(command, params = '') {
      if (options.ctrlPort === undefined) throw new Error('command() needs ctrlPort');
      // ctrl_tcp: one netstring "LEN:JSON," per command, the response likewise.
      const client = `const s=require('net').connect(${options.ctrlPort},${JSON.stringify(host)},()=>{const m=JSON.stringify({command:${JSON.stringify(command)},params:${JSON.stringify(params)},token:'t'});s.write(Buffer.byteLength(m)+':'+m+',')});let b='';s.on('data',d=>{b+=d;const i=b.indexOf(':');if(i>0&&b.length>=i+1+Number(b.slice(0,i))){process.stdout.write(b.slice(i+1,i+1+Number(b.slice(0,i))));process.exit(0)}});setTimeout(()=>process.exit(3),5000)`;
      const argv = options.netns ? ['netns', 'exec', options.netns, process.execPath, '-e', client] : ['-e', client];
      const out = await new Promise<string>((resolve, reject) => {
        execFile(options.netns ? 'ip' : process.execPath, argv, { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      const reply = JSON.parse(out) as { ok: boolean; data?: string };
      if (!reply.ok) throw new Error(`baresip ${command}: ${reply.data ?? 'failed'}`);
      return reply.data ?? '';
    },
  };

  try {
    await child.waitForOutput(/baresip is ready\./, 10_000, { wholeLines: true });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return instance;
}
