/**
 * `icephone gateway --listen HOST:PORT --pbx sip:HOST[:PORT] [options]`: the PBX gateway of issue 12
 * (first slice; lib/gateway/). Softphones call `sip:USER@LISTEN` and reach `sip:USER@PBX` with plain
 * RTP on the PBX side; calls from the PBX go to `--endpoint`. One `--json` summary per bridged call
 * on stdout (lib/gateway/bridge.ts `BridgeSummary`); progress on stderr. Runs until SIGINT/SIGTERM,
 * or until `--max-calls` bridged calls have ended.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { UsageError, errorMessage } from '../base/errors.js';
import { canonicalIp } from '../base/address.js';
import { StderrLogger, escapeControls, scrub } from '../base/log.js';
import { maskCryptoKeys } from '../sdp/crypto-attributes.js';
import { Gateway, type GatewayOptions } from '../gateway/gateway.js';
import type { BridgeSummary } from '../gateway/bridge.js';
import { COMMON_OPTIONS, iceServerTimeoutFrom, iceServersFrom, parseCount, parseHostPort, parseSeconds } from './options.js';
import { startIdleCompaction } from './idle-compaction.js';

export const GATEWAY_USAGE = `usage: icephone gateway --listen HOST:PORT --pbx sip:HOST[:PORT] [options]
  --listen HOST:PORT        where softphones reach the gateway (SIP over UDP)
  --pbx sip:HOST[:PORT]     the PBX; a call for sip:USER@gateway goes to sip:USER@HOST[:PORT]
  --pbx-address IP          the gateway's PBX-facing address: SIP (any port) and the PBX leg's media
                            (c= and m= of every SDP sent to the PBX; default: --listen's IP)
  --pbx-listen HOST:PORT    the same with a fixed SIP port (not with --pbx-address)
  --endpoint sip:HOST:PORT  where calls from the PBX go when nobody registered for the user
                            (the Request-URI's user is put in); without it such calls get 480
  --pbx-domain DOMAIN       domain of the AORs the gateway registers at the PBX (default: --pbx's host)
  --keepalive SECONDS       CRLF keep-alive interval to each registered endpoint's flow (default 25; 0: off)
  --media-address IP        endpoint-side media address (repeatable; default: --listen's IP)
endpoint-side ICE servers (as for icephone call):
  --stun stun:HOST[:PORT]   server-reflexive candidates (repeatable)
  --turn turn:HOST[:PORT][?transport=udp|tcp] | turns:HOST[:PORT]   relayed candidates (repeatable)
  --turn-user U --turn-pass P | --turn-secret S   TURN credentials
  --turn-ca FILE.pem  --turn-timeout SECONDS  --proxy http://HOST:PORT (TURN over TCP/TLS via CONNECT)
  --ice-transport all|relay relay: offer relayed candidates only to endpoints
  --preconditions none|optional|mandatory
                            connectivity preconditions on the endpoint leg (RFC 3312/5898): the PBX
                            leg's INVITE waits until they are met (default none)
  --early-media             pass a 183 with SDP from the far leg on as a 183 with SDP (RFC 3960);
                            only for a PBX that does not fork INVITEs
  --rtp-timeout SECONDS     end a bridged call when either leg's peer sent no RTP or RTCP for this
                            long (hold excepted): BYE with Reason on both legs (default off)
  --max-calls N             exit after N bridged calls have ended
  --json                    one summary per bridged call on stdout
  --trace                   SIP messages of both sides on stderr (prefixed endpoint:/pbx:)
  --verbose                 debug logging on stderr`;

/** A `sip:HOST[:PORT]` flag value. @throws UsageError */
function parseSipUri(value: string | undefined, flag: string, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw new UsageError(`${flag} sip:HOST[:PORT] is required`);
    return undefined;
  }
  if (!/^sip:([^@;\s]+@)?[^@;\s]+$/i.test(value)) throw new UsageError(`${flag}: expected sip:HOST[:PORT], got '${value}'`);
  return value;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        pbx: { type: 'string' },
        'pbx-listen': { type: 'string' },
        'pbx-address': { type: 'string' },
        // The endpoint side's STUN/TURN flags are `icephone call`'s (same names, same parsing).
        stun: COMMON_OPTIONS.stun,
        turn: COMMON_OPTIONS.turn,
        'turn-user': COMMON_OPTIONS['turn-user'],
        'turn-pass': COMMON_OPTIONS['turn-pass'],
        'turn-secret': COMMON_OPTIONS['turn-secret'],
        'turn-ca': COMMON_OPTIONS['turn-ca'],
        'turn-timeout': COMMON_OPTIONS['turn-timeout'],
        proxy: COMMON_OPTIONS.proxy,
        'ice-transport': COMMON_OPTIONS['ice-transport'],
        endpoint: { type: 'string' },
        'pbx-domain': { type: 'string' },
        keepalive: { type: 'string' },
        'media-address': { type: 'string', multiple: true },
        'max-calls': { type: 'string' },
        preconditions: { type: 'string' },
        'early-media': { type: 'boolean' },
        'rtp-timeout': { type: 'string' },
        json: { type: 'boolean' },
        trace: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (e) {
    throw new UsageError(errorMessage(e).split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
}

/**
 * Parses the flags into Gateway options (STUN/TURN server names are resolved).
 * @throws UsageError with a one-line reason; Error when a STUN/TURN server name does not resolve
 */
export async function gatewayOptionsFrom(argv: string[]): Promise<{ help: true } | { help?: false; options: GatewayOptions; json: boolean; trace: boolean; maxCalls?: number; verbose: boolean }> {
  const v = parse(argv);
  if (v.help) return { help: true };
  const listen = parseHostPort(v.listen, '--listen');
  const pbx = parseSipUri(v.pbx, '--pbx', true)!;
  if (v['pbx-address'] !== undefined && v['pbx-listen'] !== undefined) throw new UsageError('give --pbx-address IP or --pbx-listen HOST:PORT, not both');
  let pbxListen = v['pbx-listen'] !== undefined ? parseHostPort(v['pbx-listen'], '--pbx-listen') : undefined;
  if (v['pbx-address'] !== undefined) {
    const a = v['pbx-address'];
    if (!isIP(a)) throw new UsageError(`--pbx-address: '${a}' is not an IP address`);
    pbxListen = { address: canonicalIp(a), port: 0 };
  }
  const ice = await iceServersFrom(v);
  const turnTimeout = iceServerTimeoutFrom(v);
  const endpoint = parseSipUri(v.endpoint, '--endpoint', false);
  const addresses = (v['media-address'] ?? []).map((a) => {
    if (!isIP(a)) throw new UsageError(`--media-address: '${a}' is not an IP address`);
    return canonicalIp(a);
  });
  const maxCalls = parseCount(v['max-calls'], '--max-calls');
  const preconditions = v.preconditions;
  if (preconditions !== undefined && preconditions !== 'none' && preconditions !== 'optional' && preconditions !== 'mandatory') {
    throw new UsageError(`--preconditions: expected none, optional or mandatory, got '${preconditions}'`);
  }
  const rtpTimeout = parseSeconds(v['rtp-timeout'], '--rtp-timeout');
  const pbxDomain = v['pbx-domain'];
  if (pbxDomain !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(pbxDomain)) throw new UsageError(`--pbx-domain: expected a host name or IP, got '${pbxDomain}'`);
  let keepaliveMs: number | undefined;
  if (v.keepalive !== undefined) {
    if (!/^\d{1,6}(\.\d{1,3})?$/.test(v.keepalive)) throw new UsageError(`--keepalive: expected seconds (0 turns keep-alives off), got '${v.keepalive}'`);
    keepaliveMs = Math.round(Number(v.keepalive) * 1000);
  }
  return {
    options: {
      listen,
      pbx,
      ...(pbxListen ? { pbxListen } : {}),
      ...(endpoint ? { endpoint } : {}),
      endpointMedia: {
        ...(addresses.length ? { addresses: [...new Set(addresses)] } : {}),
        ...(ice.stunServers.length ? { stunServers: ice.stunServers } : {}),
        ...(ice.turnServers.length ? { turnServers: ice.turnServers } : {}),
        transportPolicy: ice.transportPolicy,
        ...(turnTimeout !== undefined ? { turnTimeoutMs: turnTimeout * 1000 } : {}),
      },
      ...(preconditions && preconditions !== 'none' ? { endpointPreconditions: preconditions } : {}),
      ...(v['early-media'] ? { earlyMedia: true } : {}),
      ...(rtpTimeout !== undefined ? { rtpTimeoutMs: rtpTimeout * 1000 } : {}),
      ...(pbxDomain ? { pbxDomain } : {}),
      ...(keepaliveMs !== undefined ? { keepaliveMs } : {}),
    },
    json: v.json ?? false,
    trace: v.trace ?? false,
    verbose: v.verbose ?? false,
    ...(maxCalls !== undefined ? { maxCalls } : {}),
  };
}

function describe(s: BridgeSummary): string {
  const pair = s.endpoint.ice.selectedPair;
  const via = pair ? ` via ${pair.local.address}:${pair.local.port} <-> ${pair.remote.address}:${pair.remote.port}` : '';
  return `gateway: bridged call ${s.bridge.direction} to ${s.bridge.target} ${s.bridge.outcome}${s.bridge.mappedStatus ? ` (${s.bridge.mappedStatus})` : ''}: endpoint ${s.endpoint.ice.format}${via} ${s.endpoint.codec ?? '-'}, pbx ${s.pbx.codec ?? '-'}, relayed ${s.relayed.toPbx.relayed} to the PBX, ${s.relayed.toEndpoint.relayed} to the endpoint`;
}

export async function runGateway(argv: string[]): Promise<number> {
  const parsed = await gatewayOptionsFrom(argv);
  if (parsed.help) {
    process.stdout.write(GATEWAY_USAGE + '\n');
    return 0;
  }
  const log = new StderrLogger(parsed.verbose ? 'debug' : 'warn', 'gateway');
  const trace: GatewayOptions['trace'] = parsed.trace
    ? (side, direction, text, peer) => process.stderr.write(escapeControls(scrub(maskCryptoKeys(
      `${side}: ${direction === 'send' ? '>>> to' : '<<< from'} ${peer.address}:${peer.port}\n${text.replace(/\r\n/g, '\n')}\n`)), true))
    : undefined;
  const gateway = await Gateway.start({ ...parsed.options, log, ...(trace ? { trace } : {}) });
  const o = parsed.options;
  process.stderr.write(`gateway: listening on ${o.listen.address}:${gateway.endpointPhone.port} (endpoints), ${o.pbxListen?.address ?? o.listen.address}:${gateway.pbxPhone.port} (PBX side), PBX ${o.pbx}${o.endpoint ? `, calls from the PBX to ${o.endpoint}` : ''}\n`);
  let ended = 0;
  let failed = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  gateway.on('bridge', (b) => process.stderr.write(`gateway: ${escapeControls(b.inbound.call.remote.uri)} -> ${escapeControls(b.target)}\n`));
  gateway.on('registration', (r) => process.stderr.write(
    `gateway: registration ${r.event} ${escapeControls(r.aor)} contact ${escapeControls(r.endpointContact)} via ${r.flow.address}:${r.flow.port} as ${escapeControls(r.gatewayContact)}${r.expiresSec ? ` for ${r.expiresSec} s` : ''}\n`,
  ));
  gateway.on('bridge-ended', (s) => {
    ended++;
    if (s.bridge.outcome !== 'answered') failed++;
    process.stderr.write(describe(s) + '\n');
    if (parsed.json) process.stdout.write(JSON.stringify(s) + '\n');
    if (parsed.maxCalls !== undefined && ended >= parsed.maxCalls) done();
  });
  const onSignal = () => done();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stopCompaction = startIdleCompaction({ busy: () => gateway.activeBridges.length });
  await finished;
  stopCompaction();
  await gateway.stop();
  return failed > 0 ? 1 : 0;
}
