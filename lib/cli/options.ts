/**
 * Command-line options shared by `icephone call` and `icephone answer` (DESIGN.md's CLI contract).
 * Parsing is node:util's parseArgs (strict: an unknown flag is an error); this file only
 * validates values and turns them into PhoneOptions.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { canonicalIp, isLoopbackIp, isUnspecifiedIp } from '../base/address.js';
import { UsageError, errorMessage } from '../base/errors.js';
import { redact } from '../base/log.js';
import type { PhoneOptions } from '../sip/user-agent.js';
import { parseIceServerUri, resolveIceServer, resolveServerAddress } from '../turn/servers.js';
import { EphemeralCredentialProvider } from '../turn/credentials.js';
import type { TurnServer } from '../ice/relay.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { isSdpFormatSetting } from '../sdp/format.js';
import type { AltCandidate } from '../ice/alternate.js';
import { parsePortRange, portRangeBinder, type PortRange } from '../net/port-range.js';

/**
 * TEST HOOK, for the draft-rosenberg-sipping-ice-01 §5.2 collision test (test/e2e/alt.test.ts):
 * `ICEPHONE_TEST_EXTRA_ALT=HOST:PORT[,HOST:PORT...]` adds, first and with qvalue 1.0, an `a=alt`
 * alternate per address to our SDP that we do not serve (fresh random credentials), e.g. the media
 * address of another icephone process in another dialog. That process must reject the peer's checks
 * (unknown username) and the call must connect on one of our real alternates. Unset in normal use.
 * @throws UsageError for a malformed value.
 */
function testExtraAlternatesFromEnv(value: string | undefined): AltCandidate[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((item, i) => {
    const { address, port } = parseHostPort(item.trim(), 'ICEPHONE_TEST_EXTRA_ALT');
    const token = () => randomBytes(9).toString('base64').replace(/[+/=]/g, 'x');
    return { id: `test${i + 1}`, qvalue: 1, derivedFrom: null, username: token(), password: token(), address, port };
  });
}

/** The options `call` and `answer` share, for their --help. */
export const COMMON_USAGE = `common options:
  --listen HOST:PORT             SIP address to bind (port 0: any); media binds on the same IP (0.0.0.0: every interface)
  --transport udp|tcp|tls        SIP transport (default udp; tls when a sips: URI is given: target, --register, --outbound-proxy)
  --tls-cert FILE --tls-key FILE our certificate (chain) and key, PEM (answer over TLS: required; call: offered to servers that ask)
  --tls-ca FILE                  trust anchors (PEM) for the server's certificate (default: the system's CAs)
  --tls-insecure                 do not check the server's certificate (chain, RFC 5922 identity); warns once
  --user NAME                    our user part (answer: accept only this user)
  --register sip:AOR             REGISTER with the AOR's registrar (or --registrar sip:HOST:PORT)
  --outbound-proxy sip:HOST:PORT send every request through this proxy; --auth-user/--auth-pass for digest
  --auth-user U --auth-pass P    digest credentials: call answers a challenge with them; answer (without --register)
                                 challenges every incoming request with them (RFC 3261 §22.4, SHA-256 and MD5)
  --auth-realm R  --auth-max-failures N   answer: realm (default icephone); failed attempts per source
                                 before a 403 and 60 s of no answers to that source (default 5)
  --auth-algorithms LIST         answer: digest algorithms challenged with, preferred first (default SHA-256,MD5)
  --stun stun:HOST[:PORT]        server-reflexive candidates (repeatable)
  --turn turn:HOST[:PORT][?transport=udp|tcp] | turns:HOST[:PORT]   relayed candidates (repeatable, in order)
  --turn-user U --turn-pass P | --turn-secret S   TURN credentials (long-term, or coturn use-auth-secret)
  --turn-ca FILE.pem  --turn-timeout SECONDS  --proxy http://HOST:PORT (TURN over TCP/TLS via CONNECT)
  --ice-transport all|relay      relay: offer relayed candidates only
  --relay-family ipv4|ipv6|both  families of relayed candidates to allocate (default ipv4)
  --sdp ice|alt|both             candidate formats in offers (default both); answers mirror the offer
  --nomination regular|aggressive  ICE nomination (default regular; aggressive: USE-CANDIDATE on every check and the
                                 highest-priority nominated pair wins, RFC 5245 §8.1.1.2, for peers that expect it)
  --watch-interfaces SECONDS     with a wildcard --listen: check the interfaces this often mid-call; a new address is
                                 trickled and checked (used when better), one of the media path that goes away restarts ICE
  --trickle off|half|full        trickle ICE (RFC 8838/8840, candidates in INFO; default half): half sends a full
                                 first offer and takes trickled candidates; full sends the INVITE (and the answer
                                 to a trickling offer) once host candidates exist, the rest in INFO requests
  --preconditions none|optional|mandatory   connectivity preconditions (RFC 3312/5898; default none)
  --play tone:HZ|silence|FILE.wav  --record FILE.wav  --codec PCMU|PCMA (repeatable)  --no-rtcp-mux
  --srtp off|optional|mandatory  SRTP keyed by SDES a=crypto (RFC 3711/4568; default off): optional offers RTP/AVP
                                 with a=crypto and falls back, mandatory offers RTP/SAVP and refuses plain peers
  --srtp-allow-insecure-keys     allow SDES keys over UDP/TCP signalling (RFC 4568 §8.3 says not to; not needed over TLS)
  --no-rtcp                      no RTCP: one component without rtcp-mux
  --ice-lite                     run as an ICE-lite agent (RFC 8445 §2.5: host candidates only, answers checks, a=ice-lite)
  --media-address IP (repeatable)  --ice-timeout SECONDS
  --dtmf DIGITS                  send these DTMF digits once media flows (RFC 4733 events, else SIP INFO); digit keys on a terminal too
  --accept-transfer              follow a REFER from the peer (RFC 3515; without it: 603 Decline)
  --transfer-to SIP-URI [--transfer-at SECONDS]   blind-transfer the peer there after the answer (default 1 s)
  --hold-at SECONDS [--resume-at SECONDS]   hold the peer after the answer (re-INVITE sendonly), resume later
  --rtp-ports MIN-MAX            bind media (RTP/RTCP) sockets on ports of this range only
  --rtp-timeout SECONDS          end a call (BYE with Reason) when no RTP or RTCP has come for this long, hold
                                 excepted (as baresip's rtp_timeout, rtpengine's --timeout; default off)
  --max-concurrent N (answer)    calls in progress at once; a new INVITE beyond it gets 503 with Retry-After
  --drain (answer)               SIGTERM drains: new INVITEs and OPTIONS get 503, calls in progress finish,
                                 then exit; a second SIGTERM (or SIGINT) hangs up at once
  --duration SECONDS  --max-calls N (answer)  --trace  --json  --quiet  --verbose
  the h key on a terminal toggles hold
  SIGUSR2 (or the r key on a terminal) restarts ICE on the live call`;

export const COMMON_OPTIONS = {
  listen: { type: 'string' },
  transport: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-insecure': { type: 'boolean', default: false },
  user: { type: 'string' },
  stun: { type: 'string', multiple: true },
  turn: { type: 'string', multiple: true },
  'turn-user': { type: 'string' },
  'turn-pass': { type: 'string' },
  'turn-secret': { type: 'string' },
  'turn-ca': { type: 'string' },
  'turn-timeout': { type: 'string' },
  proxy: { type: 'string' },
  'ice-transport': { type: 'string', default: 'all' },
  'relay-family': { type: 'string', default: 'ipv4' },
  sdp: { type: 'string', default: 'both' },
  trickle: { type: 'string', default: 'half' },
  nomination: { type: 'string', default: 'regular' },
  'watch-interfaces': { type: 'string' },
  'rtp-timeout': { type: 'string' },
  preconditions: { type: 'string', default: 'none' },
  'media-address': { type: 'string', multiple: true },
  'no-rtcp-mux': { type: 'boolean', default: false },
  'no-rtcp': { type: 'boolean', default: false },
  srtp: { type: 'string', default: 'off' },
  'srtp-allow-insecure-keys': { type: 'boolean', default: false },
  'ice-lite': { type: 'boolean', default: false },
  codec: { type: 'string', multiple: true },
  play: { type: 'string', default: 'tone:440' },
  record: { type: 'string' },
  duration: { type: 'string' },
  'hold-at': { type: 'string' },
  dtmf: { type: 'string' },
  'accept-transfer': { type: 'boolean', default: false },
  'transfer-to': { type: 'string' },
  'transfer-at': { type: 'string' },
  'resume-at': { type: 'string' },
  'max-calls': { type: 'string' },
  'max-concurrent': { type: 'string' },
  drain: { type: 'boolean', default: false },
  'rtp-ports': { type: 'string' },
  'ice-timeout': { type: 'string' },
  register: { type: 'string' },
  registrar: { type: 'string' },
  'outbound-proxy': { type: 'string' },
  'auth-user': { type: 'string' },
  'auth-pass': { type: 'string' },
  'auth-realm': { type: 'string' },
  'auth-max-failures': { type: 'string' },
  'auth-algorithms': { type: 'string' },
  trace: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export type ParsedValues = ReturnType<typeof parseCommon>['values'];

/**
 * Parses argv (after the subcommand).
 * @throws UsageError with a one-line reason for an unknown flag or a missing value.
 */
export function parseCommon(argv: string[], extra: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; default?: string | boolean }> = {}) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extra } as typeof COMMON_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new UsageError(msg.replace(/\. To specify.*$/, ''));
  }
}

/** The canonical text of an IP address given on the command line. @throws UsageError */
function canonicalOption(address: string, flag: string): string {
  try {
    return canonicalIp(address);
  } catch (e) {
    throw new UsageError(`${flag}: ${errorMessage(e)}`);
  }
}

/**
 * Parses `HOST:PORT` or `[V6]:PORT`; the address comes back canonical (base/address.ts), so
 * `[0:0:0:0:0:0:0:1]:5060` listens, advertises and gathers exactly as `[::1]:5060` does.
 * @throws UsageError
 */
export function parseHostPort(value: string | undefined, flag: string): { address: string; port: number } {
  if (!value) throw new UsageError(`${flag} HOST:PORT is required`);
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  const m = bracketed ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`${flag}: expected HOST:PORT, got '${value}'`);
  const written = m[1] === 'localhost' ? '127.0.0.1' : m[1];
  if (!isIP(written)) throw new UsageError(`${flag}: '${m[1]}' is not an IP address`);
  if (bracketed && isIP(written) !== 6) throw new UsageError(`${flag}: brackets are for IPv6 addresses, got '${value}'`);
  const address = canonicalOption(written, flag);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${flag}: port ${m[2]} out of range 0..65535`);
  return { address, port };
}

/** Parses a positive number of seconds (fractions allowed). @throws UsageError */
export function parseSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: expected a positive number of seconds, got '${value}'`);
  return n;
}

/** Parses a positive integer. @throws UsageError */
export function parseCount(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag}: expected a positive integer, got '${value}'`);
  return n;
}

/** Reads a PEM file given by `flag`. @throws UsageError naming the file and why. */
function readPem(file: string, flag: string, what: RegExp, description: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
  }
  if (!what.test(data.toString('latin1'))) throw new UsageError(`${flag}: ${file} holds no PEM ${description}`);
  return data;
}

/**
 * `--tls-cert/--tls-key/--tls-ca/--tls-insecure` into the Phone's TLS options, checked with
 * node:tls (a key that does not fit its certificate is a usage error).
 * @throws UsageError with a one-line reason.
 */
export function tlsOptionsFrom(values: ParsedValues, transport: string, answering: boolean): PhoneOptions['tls'] {
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  const caFile = values['tls-ca'];
  const given = certFile !== undefined || keyFile !== undefined || caFile !== undefined || values['tls-insecure'];
  if (transport !== 'tls') {
    if (given) throw new UsageError('--tls-cert/--tls-key/--tls-ca/--tls-insecure need --transport tls');
    return undefined;
  }
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (answering && certFile === undefined) throw new UsageError('--transport tls: answering needs --tls-cert FILE and --tls-key FILE');
  const cert = certFile !== undefined ? readPem(certFile, '--tls-cert', /-----BEGIN CERTIFICATE-----/, 'certificate') : undefined;
  const key = keyFile !== undefined ? readPem(keyFile, '--tls-key', /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/, 'private key') : undefined;
  const ca = caFile !== undefined ? readPem(caFile, '--tls-ca', /-----BEGIN CERTIFICATE-----/, 'certificate') : undefined;
  try {
    createSecureContext({ cert, key, ca });
  } catch (e) {
    const which = ca && !cert ? '--tls-ca' : '--tls-cert/--tls-key';
    throw new UsageError(`${which}: unusable: ${errorMessage(e).split('\n')[0]}`);
  }
  return { cert, key, ca, verify: !values['tls-insecure'] };
}

/**
 * Server-side digest authentication from `--auth-user/--auth-pass` for `icephone answer` (RFC 3261
 * §22.4): undefined without them, or with `--register` (they are then the registrar's credentials).
 * @throws UsageError for one without the other, an empty one, or a bad `--auth-realm`/`--auth-max-failures`.
 */
export function answerAuthFrom(values: ParsedValues): PhoneOptions['auth'] {
  const username = values['auth-user'];
  const password = values['auth-pass'];
  const realm = values['auth-realm'];
  const maxFailures = parseCount(values['auth-max-failures'], '--auth-max-failures');
  const algorithmList = values['auth-algorithms'];
  if ((username === undefined && password === undefined) || values.register) {
    if (realm !== undefined || maxFailures !== undefined || algorithmList !== undefined) throw new UsageError('--auth-realm/--auth-max-failures/--auth-algorithms need --auth-user and --auth-pass (without --register)');
    return undefined;
  }
  if (username === undefined || password === undefined) throw new UsageError('--auth-user and --auth-pass go together');
  const algorithms = algorithmList?.split(',').map((a) => a.trim().toUpperCase());
  for (const a of algorithms ?? []) if (a !== 'SHA-256' && a !== 'MD5') throw new UsageError(`--auth-algorithms: expected SHA-256 and/or MD5, got '${a}'`);
  if (!username || !password) throw new UsageError('--auth-user and --auth-pass may not be empty');
  if (realm === '') throw new UsageError('--auth-realm may not be empty');
  if (/["\\\r\n]/.test(username) || (realm !== undefined && /["\\\r\n]/.test(realm))) throw new UsageError('--auth-user/--auth-realm: no quotes, backslashes or line breaks');
  return {
    username, password,
    ...(realm !== undefined ? { realm } : {}),
    ...(maxFailures !== undefined ? { maxFailures } : {}),
    ...(algorithms ? { algorithms: algorithms as Array<'SHA-256' | 'MD5'> } : {}),
  };
}

/**
 * Turns validated flags into PhoneOptions (resolving STUN server names).
 * `context.target`: the URI `call` will call (a sips: URI makes the transport TLS, RFC 5630 §3.1.3);
 * `context.answering`: `answer` (TLS then needs a certificate).
 * @throws UsageError
 */
export async function phoneOptionsFrom(values: ParsedValues, context: { target?: string; answering?: boolean } = {}): Promise<PhoneOptions> {
  const listen = parseHostPort(values.listen, '--listen');
  // RFC 5630 §3.1.3: a sips: URI (the target, or --register/--registrar/--outbound-proxy) is reached over TLS.
  const sipsUris = [context.target, values.register, values.registrar, values['outbound-proxy']].filter((u): u is string => u !== undefined && /^sips:/i.test(u));
  const transport = values.transport ?? (sipsUris.length > 0 ? 'tls' : 'udp');
  if (transport !== 'udp' && transport !== 'tcp' && transport !== 'tls') throw new UsageError(`--transport: expected udp, tcp or tls, got '${transport}'`);
  if (sipsUris.length > 0 && transport !== 'tls') throw new UsageError(`a sips: URI is reached over TLS only (RFC 5630): drop --transport ${transport} or use --transport tls (${sipsUris[0]})`);
  const tls = tlsOptionsFrom(values, transport, context.answering === true);
  const { stunServers, turnServers, transportPolicy: policy } = await iceServersFrom(values);
  const srtp = values.srtp;
  if (srtp !== 'off' && srtp !== 'optional' && srtp !== 'mandatory') throw new UsageError(`--srtp: expected off, optional or mandatory, got '${srtp}'`);
  if (srtp !== 'off' && transport !== 'tls' && !values['srtp-allow-insecure-keys']) {
    throw new UsageError(`--srtp puts SDES keys in the SDP: they need TLS signalling (RFC 4568 §8.3), not ${transport}; use --transport tls, or add --srtp-allow-insecure-keys to send them anyway`);
  }
  const relayFamily = values['relay-family'];
  const turnFamilies: Array<'IPv4' | 'IPv6'> | undefined = relayFamily === 'ipv4' ? undefined : relayFamily === 'ipv6' ? ['IPv6'] : relayFamily === 'both' ? ['IPv4', 'IPv6'] : undefined;
  if (relayFamily !== 'ipv4' && relayFamily !== 'ipv6' && relayFamily !== 'both') throw new UsageError(`--relay-family: expected ipv4, ipv6 or both, got '${relayFamily}'`);
  if (values['ice-lite'] && (turnServers.length > 0 || (values.stun ?? []).length > 0)) {
    throw new UsageError('--ice-lite gathers host candidates only (RFC 8445 §2.5): drop --stun/--turn');
  }
  const turnTimeout = iceServerTimeoutFrom(values);
  for (const a of values['media-address'] ?? []) if (!isIP(a)) throw new UsageError(`--media-address: '${a}' is not an IP address`);
  // Canonical, and one address given in two spellings binds once.
  const mediaAddresses = [...new Set((values['media-address'] ?? []).map((a) => canonicalOption(a, '--media-address')))];
  // Media binds where SIP binds when that is a specific address (a loopback test stays on loopback);
  // a wildcard --listen gathers on every usable interface (RFC 8445 §5.1.1.1).
  const wildcard = isUnspecifiedIp(listen.address);
  const addresses = mediaAddresses.length ? mediaAddresses : wildcard ? undefined : [listen.address];
  const codecs = values.codec?.map((c) => c.toUpperCase());
  for (const c of codecs ?? []) if (c !== 'PCMU' && c !== 'PCMA') throw new UsageError(`--codec: supported codecs are PCMU and PCMA, got '${c}'`);
  const play = values.play;
  if (!/^tone:\d+(\.\d+)?$/.test(play) && play !== 'silence' && !/\.wav$/i.test(play)) {
    throw new UsageError(`--play: expected tone:HZ, silence or a .wav file, got '${play}'`);
  }
  const iceTimeout = parseSeconds(values['ice-timeout'], '--ice-timeout');
  const sdpFormat = values.sdp;
  if (!isSdpFormatSetting(sdpFormat)) throw new UsageError(`--sdp: expected ice, alt or both, got '${sdpFormat}'`);
  const trickle = values.trickle;
  if (trickle !== 'off' && trickle !== 'half' && trickle !== 'full') throw new UsageError(`--trickle: expected off, half or full, got '${trickle}'`);
  const nomination = values.nomination;
  if (nomination !== 'regular' && nomination !== 'aggressive') throw new UsageError(`--nomination: expected regular or aggressive, got '${nomination}'`);
  const watchInterfaces = parseSeconds(values['watch-interfaces'], '--watch-interfaces');
  const rtpTimeout = parseSeconds(values['rtp-timeout'], '--rtp-timeout');
  const preconditions = values.preconditions;
  if (preconditions !== 'none' && preconditions !== 'optional' && preconditions !== 'mandatory') {
    throw new UsageError(`--preconditions: expected none, optional or mandatory, got '${preconditions}'`);
  }
  const testExtraAlternates = testExtraAlternatesFromEnv(process.env.ICEPHONE_TEST_EXTRA_ALT);
  for (const [flag, v] of [['--register', values.register], ['--registrar', values.registrar], ['--outbound-proxy', values['outbound-proxy']]] as const) {
    if (v !== undefined && !/^sips?:[^\s]+$/i.test(v)) throw new UsageError(`${flag}: not a SIP URI: '${v}'`);
  }
  if (values.registrar && !values.register) throw new UsageError('--registrar needs --register AOR');
  redact(values['auth-pass']);
  let rtpPorts: PortRange | undefined;
  try {
    rtpPorts = values['rtp-ports'] !== undefined ? parsePortRange(values['rtp-ports']) : undefined;
  } catch (e) {
    throw new UsageError(`--rtp-ports: ${errorMessage(e)}`);
  }
  return {
    listen,
    maxCallsInProgress: parseCount(values['max-concurrent'], '--max-concurrent'),
    transport,
    ...(tls ? { tls } : {}),
    register: values.register,
    registrar: values.registrar,
    outboundProxy: values['outbound-proxy'],
    authUser: values['auth-user'],
    authPassword: values['auth-pass'],
    preconditions,
    user: values.user,
    restrictUser: values.user !== undefined,
    media: {
      addresses,
      includeLoopback: addresses ? addresses.some(isLoopbackIp) : false,
      stunServers,
      turnServers,
      transportPolicy: policy,
      turnTimeoutMs: turnTimeout !== undefined ? turnTimeout * 1000 : undefined,
      turnFamilies,
      rtcpMux: !values['no-rtcp-mux'],
      rtcp: !values['no-rtcp'],
      iceLite: values['ice-lite'],
      srtp,
      srtpAllowInsecureKeys: values['srtp-allow-insecure-keys'],
      codecs,
      play,
      record: values.record,
      checkTimeoutMs: iceTimeout !== undefined ? iceTimeout * 1000 : undefined,
      sdpFormat,
      trickle,
      nomination,
      watchInterfacesMs: watchInterfaces !== undefined ? watchInterfaces * 1000 : undefined,
      rtpTimeoutMs: rtpTimeout !== undefined ? rtpTimeout * 1000 : undefined,
      testExtraAlternates,
      bindSocket: rtpPorts ? portRangeBinder(rtpPorts) : undefined,
    },
  };
}

/** The flags {@link iceServersFrom} reads (shared by `call`/`answer` and `gateway`). */
export type IceServerValues = Pick<ParsedValues, 'stun' | 'turn' | 'turn-user' | 'turn-pass' | 'turn-secret' | 'turn-ca' | 'proxy' | 'ice-transport'>;

/**
 * `--stun`, `--turn` with its credentials, `--proxy` and `--ice-transport` into the media options'
 * STUN/TURN servers and transport policy (RFC 8445 §5.1.1.2; RFC 7064/7065 URIs), resolving names.
 * Used by `call`/`answer` and by `gateway` for its endpoint side.
 * @throws UsageError for a bad URI, missing credentials or `relay` without a TURN server; Error
 *   when a name does not resolve.
 */
export async function iceServersFrom(values: IceServerValues): Promise<{ stunServers: Array<{ host: string; port: number }>; turnServers: TurnServer[]; transportPolicy: 'all' | 'relay' }> {
  const stunServers = [];
  for (const s of values.stun ?? []) {
    const u = parseIceServerUri(s.includes(':') && !/^stuns?:/.test(s) && !/^turns?:/.test(s) ? `stun:${s}` : s);
    if (u.scheme !== 'stun') throw new UsageError(`--stun: only stun: URIs are supported here, got '${s}'`);
    stunServers.push({ host: await resolveServerAddress(u), port: u.port });
  }
  const turnServers = await turnServersFrom(values);
  const policy = values['ice-transport'] ?? 'all';
  if (policy !== 'all' && policy !== 'relay') throw new UsageError(`--ice-transport: expected all or relay, got '${policy}'`);
  if (policy === 'relay' && turnServers.length === 0) throw new UsageError('--ice-transport relay needs at least one --turn server');
  return { stunServers, turnServers, transportPolicy: policy };
}

/** `--turn-timeout SECONDS` (how long an Allocate may take before the relay is given up), seconds. @throws UsageError */
export function iceServerTimeoutFrom(values: Pick<ParsedValues, 'turn-timeout'>): number | undefined {
  return parseSeconds(values['turn-timeout'], '--turn-timeout');
}

/**
 * TURN servers from `--turn URI...` (RFC 7065; SRV when no port is given) with `--turn-user`/
 * `--turn-pass` (long-term credentials) or `--turn-secret` (REST-style ephemeral credentials,
 * username `expiry:user`, as coturn's use-auth-secret expects), `--proxy http://H:P` for tcp/tls.
 * @throws UsageError for a bad URI or missing credentials; Error when a name does not resolve.
 */
async function turnServersFrom(values: IceServerValues): Promise<TurnServer[]> {
  const uris = values.turn ?? [];
  const user = values['turn-user'];
  const pass = values['turn-pass'];
  const secret = values['turn-secret'];
  redact(pass);
  redact(secret);
  if (uris.length === 0) {
    if (user || pass || secret) throw new UsageError('--turn-user/--turn-pass/--turn-secret need a --turn server');
    return [];
  }
  if (secret && pass) throw new UsageError('give either --turn-pass or --turn-secret, not both');
  if (!secret && (!user || !pass)) throw new UsageError('--turn needs --turn-user and --turn-pass (or --turn-secret)');
  const credentials = secret ? new EphemeralCredentialProvider(secret, user ?? 'icephone', 24 * 3600) : undefined;
  let proxy: { host: string; port: number } | undefined;
  if (values.proxy !== undefined) {
    const m = /^http:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(values.proxy);
    if (!m) throw new UsageError(`--proxy: expected http://HOST:PORT, got '${values.proxy}'`);
    proxy = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }
  const ca = values['turn-ca'] ? readFileSync(values['turn-ca']) : undefined;
  const out: TurnServer[] = [];
  for (const text of uris) {
    const uri = parseIceServerUri(text);
    if (uri.scheme !== 'turn' && uri.scheme !== 'turns') throw new UsageError(`--turn: expected a turn: or turns: URI, got '${text}'`);
    if (proxy && uri.scheme === 'turn' && uri.transport === 'udp') throw new UsageError(`--proxy carries TURN over TCP or TLS only: add ?transport=tcp to '${text}'`);
    for (const r of await resolveIceServer(uri)) {
      out.push({
        address: r.address,
        port: r.port,
        transport: r.transport as TurnServer['transport'],
        username: credentials ? undefined : user,
        password: credentials ? undefined : pass,
        credentials,
        label: text,
        servername: isIP(uri.host) ? undefined : uri.host,
        ca,
        proxy: r.transport === 'udp' ? undefined : proxy,
      });
    }
  }
  return out;
}
