/**
 * Debian's kamailio (5.6) as the lab's registrar and proxy, run in the foreground inside a
 * network namespace with a generated configuration:
 * - registrar (usrloc in memory, db_mode 0) for any user of the scenario's domain, no
 *   authentication (the lab is closed);
 * - stateful proxy (tm) with Record-Route, so in-dialog requests (ACK, BYE) also traverse it;
 * - NAT-aware routing in the way of Debian's default kamailio.cfg WITH_NAT: `force_rport()` on
 *   every request (RFC 3581), `nat_uac_test("19")` (private Contact, Via differs from the source,
 *   rport differs) → `fix_nated_register()` stores the source as the binding's received address
 *   (RFC 5626-style "received", used by lookup as the destination), other first-hop requests
 *   and replies get `set_contact_alias()` and later requests are routed with `handle_ruri_alias()`;
 * - keepalives: nathelper sends OPTIONS every 10 s to NATed registrations (sipping_bflag), which
 *   keeps their NAT bindings open;
 * - requests for other domains (a gateway's `sip:gw@198.51.100.20`) are relayed to the Request-URI
 *   (an outbound proxy), with Record-Route;
 * - behind a port-forwarding NAT (`advertise`, the enterprise DMZ of draft §9.2), two sockets: the
 *   inside one (`listen:port`, which the phones use) and an outside one (`listen:outsidePort`,
 *   advertised as `advertise:port`, where the NAT forwards its public SIP port). Requests go out of
 *   the outside socket when their next hop is not in `insideNetworks`, and rr's double
 *   Record-Route (enable_double_rr) then names both, so in-dialog requests from either side reach
 *   the proxy on an address that side can reach: a phone inside cannot use the public address
 *   (no hairpinning), the Internet cannot use the inside one.
 * - optionally SIP over TLS on a second socket (`tls`), with the tls module and a generated tls.cfg.
 * No media relay: media is ICE's business (that is what the lab tests).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnProcess, which, type ManagedProcess } from './process.js';
import { testTempDir } from './tmp.js';

export const KAMAILIO_MODULE_PATH = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

export interface KamailioOptions {
  /** Listening address (UDP, port 5060 unless `port`). */
  listen: string;
  port?: number;
  /**
   * Public address of the outside socket (Via/Record-Route towards the Internet) when behind a
   * port-forwarding NAT that forwards `advertise:port` to `listen:outsidePort`.
   */
  advertise?: string;
  /** Port of the outside socket (default port + 2). */
  outsidePort?: number;
  /** With `advertise`: next hops in these CIDRs are reached from the inside socket, others from the outside one. */
  insideNetworks?: string[];
  /** SIP domain served (accepted as "myself"). */
  domain: string;
  /** `ip netns exec` prefix to run it in a namespace. */
  prefix?: string[];
  /** Log SIP routing decisions (xlog) at info level. */
  verbose?: boolean;
  /** Also serve SIP over TLS (RFC 3261 §26.2, RFC 5630); see {@link KamailioTlsOptions}. */
  tls?: KamailioTlsOptions;
  /**
   * Digest authentication of REGISTER (RFC 3261 §22.4; auth module, `pv_www_authenticate` with
   * plain-text passwords, realm = the To domain, qop=auth): user name → password. Without it the
   * registrar binds anybody.
   */
  registerAuth?: Record<string, string>;
  /**
   * Digest authentication of initial INVITEs (RFC 3261 §22.3, proxy authentication: 407 with
   * `Proxy-Authenticate`, `pv_proxy_authenticate` with plain-text passwords, realm = the From
   * domain, qop=auth): user name → password. In-dialog requests are not challenged.
   */
  inviteAuth?: Record<string, string>;
}

/**
 * A TLS socket `tls:LISTEN:port` next to the UDP one, served by kamailio's tls module (Debian
 * package kamailio-tls-modules) with a generated `tls.cfg`. Registrations over TLS are bound to
 * the connection they came on (the Contact is behind the client's ephemeral TCP port, so
 * `nat_uac_test` flags it and `fix_nated_register` stores the source `;transport=tls` as the
 * received address), and requests to them go back over that connection; requests to a Contact
 * with `;transport=tls` (or a `sips:` URI) open a new TLS connection.
 */
export interface KamailioTlsOptions {
  /** TLS port (TCP). */
  port: number;
  /** Server certificate (PEM), e.g. `TestCertificates.server.certFile`. */
  certFile: string;
  /** Its private key (PEM). */
  keyFile: string;
  /**
   * CA list (PEM). Without it kamailio verifies neither clients nor servers it connects to.
   * With it: servers it connects to are verified against it; clients only with `verifyClients`.
   */
  caFile?: string;
  /** Ask clients for a certificate and require one that `caFile` verifies (default false). */
  verifyClients?: boolean;
}

/** The tls module's `tls.cfg` text for these options (profiles `[server:default]`, `[client:default]`). */
export function kamailioTlsConfig(t: KamailioTlsOptions): string {
  const ca = t.caFile ? `ca_list = ${t.caFile}\n` : '';
  const verifyClients = t.caFile !== undefined && (t.verifyClients ?? false);
  return `# Generated by test/helpers/kamailio.ts
[server:default]
method = TLSv1.2+
certificate = ${t.certFile}
private_key = ${t.keyFile}
${ca}verify_certificate = ${verifyClients ? 'yes' : 'no'}
require_certificate = ${verifyClients ? 'yes' : 'no'}

[client:default]
method = TLSv1.2+
${ca}verify_certificate = ${t.caFile ? 'yes' : 'no'}
require_certificate = ${t.caFile ? 'yes' : 'no'}
`;
}

export interface Kamailio {
  process: ManagedProcess;
  dir: string;
  config: string;
  stop(): Promise<number>;
}

export function haveKamailio(): boolean {
  return which('kamailio') !== undefined;
}

/** REGISTER digest check for `registerAuth` (inside the REGISTER branch of request_route). */
function registerAuthBlock(users: Record<string, string>): string {
  for (const [u, p] of Object.entries(users)) {
    if (!/^[A-Za-z0-9._-]+$/.test(u) || !/^[A-Za-z0-9._~+/=-]+$/.test(p)) throw new Error(`kamailio registerAuth: unsupported characters in '${u}'`);
  }
  const lookups = Object.entries(users).map(([u, p]) => `    if ($au == "${u}") $var(password) = "${p}";\n`).join('');
  return `    $var(password) = "";
${lookups}    if (!pv_www_authenticate("$td", "$var(password)", "0")) {
      xlog("L_INFO", "challenging REGISTER for $tu from $si:$sp\\n");
      www_challenge("$td", "1");
      exit;
    }
    consume_credentials();
`;
}

/** Initial-INVITE proxy digest check for `inviteAuth` (request_route, before routing). */
function inviteAuthBlock(users: Record<string, string>): string {
  for (const [u, p] of Object.entries(users)) {
    if (!/^[A-Za-z0-9._-]+$/.test(u) || !/^[A-Za-z0-9._~+/=-]+$/.test(p)) throw new Error(`kamailio inviteAuth: unsupported characters in '${u}'`);
  }
  const lookups = Object.entries(users).map(([u, p]) => `    if ($au == "${u}") $var(password) = "${p}";\n`).join('');
  return `  if (is_method("INVITE")) {
    $var(password) = "";
${lookups}    if (!pv_proxy_authenticate("$fd", "$var(password)", "0")) {
      xlog("L_INFO", "challenging INVITE $ru from $si:$sp (auth user '$au')\\n");
      proxy_challenge("$fd", "1");
      exit;
    }
    xlog("L_INFO", "INVITE $ru authenticated as $au\\n");
    consume_credentials();
  }
`;
}

/** The configuration file's text. */
export function kamailioConfig(o: KamailioOptions, tlsConfigFile = 'tls.cfg'): string {
  const port = o.port ?? 5060;
  const outsidePort = o.outsidePort ?? port + 2;
  const inside = `udp:${o.listen}:${port}`;
  const outside = `udp:${o.listen}:${outsidePort}`;
  const insideNetworks = (o.insideNetworks ?? []).join(',');
  // Which socket a request leaves from (only with an outside socket): by its next hop ($nh(d)).
  const chooseSocket = o.advertise
    ? `  if (is_ipv4("$nh(d)") && ${insideNetworks ? `!is_in_subnet("$nh(d)", "${insideNetworks}")` : '1==1'}) force_send_socket(${outside});
  else force_send_socket(${inside});
`
    : '';
  return `#!KAMAILIO
# Generated by test/helpers/kamailio.ts for the icephone NAT lab.
debug=${o.verbose ? 3 : 2}
log_stderror=yes
log_prefix="{$mt $hdr(CSeq) $ci} "
children=2
tcp_children=1
${o.tls ? `enable_tls=yes\ntcp_connection_lifetime=3605\nlisten=tls:${o.listen}:${o.tls.port}` : 'disable_tcp=yes'}
auto_aliases=no
listen=${inside}
${o.advertise ? `listen=${outside} advertise ${o.advertise}:${port}\n` : ''}alias="${o.domain}"
${o.advertise ? `alias="${o.advertise}:${port}"\n` : ''}
mpath="${KAMAILIO_MODULE_PATH}"
${o.tls ? `loadmodule "tls.so"\nmodparam("tls", "config", "${tlsConfigFile}")\n` : ''}loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "nathelper.so"
${o.registerAuth || o.inviteAuth ? 'loadmodule "auth.so"\n' : ''}${o.advertise ? 'loadmodule "ipops.so"\n' : ''}
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "nat_bflag", 6)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 10)
modparam("nathelper", "ping_nated_only", 1)
modparam("nathelper", "sipping_bflag", 7)
modparam("nathelper", "sipping_from", "sip:keepalive@${o.domain}")
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 0)
modparam("tm", "fr_timer", 8000)
modparam("tm", "fr_inv_timer", 30000)

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (!sanity_check("17895", "7")) { xlog("L_WARN", "malformed request from $si:$sp\\n"); exit; }
  route(NATDETECT);
  if (is_method("OPTIONS") && uri==myself && $rU==$null) { sl_send_reply("200", "Keepalive"); exit; }
  if (has_totag()) { route(WITHINDLG); exit; }
  if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
  if (!is_method("ACK")) { if (t_precheck_trans()) { t_check_trans(); exit; } t_check_trans(); }
  remove_hf("Route");
${o.inviteAuth ? inviteAuthBlock(o.inviteAuth) : ''}  if (is_method("INVITE|SUBSCRIBE")) record_route();
  if (is_method("REGISTER")) {
${o.registerAuth ? registerAuthBlock(o.registerAuth) : ''}    if (isflagset(5)) { setbflag(6); setbflag(7); }
    if (!save("location")) sl_reply_error();
    xlog("L_INFO", "registered $tu contact $ct from $si:$sp\\n");
    exit;
  }
  # Another domain (a non-registering gateway): outbound proxy, relay to the Request-URI.
  if (uri!=myself) {
    xlog("L_INFO", "relaying $rm $ru (not our domain)\n");
    route(RELAY);
  }
  if ($rU == $null) { sl_send_reply("484", "Address Incomplete"); exit; }
  if (!lookup("location")) {
    xlog("L_INFO", "no registration for $ru\\n");
    sl_send_reply("404", "Not Found");
    exit;
  }
  xlog("L_INFO", "routing $rm $ru to $du\\n");
  route(RELAY);
}

# RFC 3581 rport/received on every request; NATed contacts fixed (REGISTER) or aliased (dialogs).
route[NATDETECT] {
  force_rport();
  if (nat_uac_test("19")) {
    if (is_method("REGISTER")) fix_nated_register();
    else if (is_first_hop()) set_contact_alias();
    setflag(5);
  }
}

route[WITHINDLG] {
  if (loose_route()) {
    if (!isdsturiset()) handle_ruri_alias();
    route(RELAY);
    exit;
  }
  if (is_method("ACK")) {
    if (t_check_trans()) { route(RELAY); exit; }
    exit;
  }
  sl_send_reply("404", "Not here");
}

route[RELAY] {
  if (is_method("INVITE|BYE|UPDATE|CANCEL|ACK")) t_on_reply("NATREPLY");
${chooseSocket}  if (!t_relay()) sl_reply_error();
  exit;
}

onreply_route[NATREPLY] {
  if (nat_uac_test("1")) set_contact_alias();
}
`;
}

/** Polls until `host:port` accepts a TCP connection (inside the namespace of `prefix`, if any). @throws Error on timeout or if `exited()` */
async function waitForTcpListener(prefix: string[], host: string, port: number, timeoutMs: number, exited: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  const probe = [...prefix, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`];
  for (;;) {
    if (spawnSync(probe[0]!, probe.slice(1), { stdio: 'ignore', timeout: 2000 }).status === 0) return;
    if (exited()) throw new Error('kamailio exited before its TLS socket listened');
    if (Date.now() > end) throw new Error(`kamailio's TLS socket ${host}:${port} did not listen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Writes the configuration, checks it (`kamailio -c`) and starts `kamailio -DD -E` (foreground,
 * log to stderr). Resolves once it is listening.
 */
export async function startKamailio(o: KamailioOptions): Promise<Kamailio> {
  const dir = testTempDir('icephone-kamailio-');
  const config = join(dir, 'kamailio.cfg');
  const tlsConfig = join(dir, 'tls.cfg');
  if (o.tls) writeFileSync(tlsConfig, kamailioTlsConfig(o.tls));
  writeFileSync(config, kamailioConfig(o, tlsConfig));
  const args = ['-f', config, '-DD', '-E', '-m', '32', '-M', '8', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir];
  const prefix = o.prefix ?? [];
  const proc = spawnProcess(prefix.length ? prefix[0]! : 'kamailio', prefix.length ? [...prefix.slice(1), 'kamailio', ...args] : args, {
    name: 'kamailio',
    log: join(dir, 'kamailio.log'),
    processGroup: true,
    echo: process.env['ICEPHONE_ECHO_PEERS'] === '1',
  });
  try {
    await proc.waitForOutput(/SO_RCVBUF is finally/, 10_000);
    // That line is the UDP socket's; kamailio binds and listens on its TCP/TLS sockets after the
    // UDP ones (seen: a TLS connect refused right after it under load), so wait for those too.
    if (o.tls) await waitForTcpListener(prefix, o.listen, o.tls.port, 10_000, () => proc.exitCode !== undefined);
  } catch (e) {
    await proc.stop();
    throw new Error(`kamailio did not start: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    process: proc, dir, config,
    async stop() {
      const code = await proc.stop();
      if (!process.env['ICEPHONE_KEEP_LOGS']) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** kamailio and its tls module (package kamailio-tls-modules) are installed. */
export function haveKamailioTls(): boolean {
  return haveKamailio() && existsSync(join(KAMAILIO_MODULE_PATH, 'tls.so'));
}
