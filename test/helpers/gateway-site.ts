/**
 * The PBX gateway's site (issue 12), built with the NAT lab's topology code (scripts/lab/topology.ts:
 * one network namespace per node, one bridge namespace per segment, iptables NATs, random loss on
 * the Internet segment) and torn down whatever happened:
 *
 * ```
 *   PBX network 10.20.0.0/24 (pbxnet)          simulated Internet 203.0.113.0/24 (inet, "wan": loss applies)
 *   kam   10.20.0.10  kamailio (registrar, proxy, domain pbx.example)
 *   deskA 10.20.0.21  baresip, plain RTP        turn  203.0.113.10  coturn (STUN and TURN, port 3478)
 *   deskB 10.20.0.22  SIPp (REGISTER + UAS,     pub   203.0.113.50  a softphone with a public address
 *                     rtp_echo)                 natA  203.0.113.101 full cone (EIM, EIF)   -> softA 10.0.1.1 (lanA)
 *   gw    10.20.0.1 ──── icephone gateway ──── gw 203.0.113.1                                   (one-to-one DNAT)
 *                                               natP  203.0.113.103 port-restricted (EIM, APDF) -> softP 10.0.3.1 (lanP)
 *                                               natS  203.0.113.102 symmetric (APDM, APDF)   -> softS 10.0.2.1 (lanS)
 * ```
 * The gateway node does not forward IP: the PBX network and the Internet meet only in the
 * gateway's B2BUA, so everything a PBX phone receives comes from kamailio or the gateway's
 * PBX-side address. SIP uses 5060 everywhere (fresh namespaces: nothing else binds there).
 *
 * PBX → softphone calls go either to a static `--endpoint` (the softphone's public address,
 * {@link GatewaySite.pbxTargetFor}) or to the AOR `sip:USER@pbx.example` of a softphone registered
 * through the gateway (`--register ... --outbound-proxy sip:203.0.113.1:5060`, gateway with
 * `--pbx-domain pbx.example`), which kamailio routes to the gateway's Contact for the binding.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScenarioSpec } from '../../scripts/lab/scenario.js';
import { Topology } from '../../scripts/lab/topology.js';
import { startBaresip, type BaresipInstance } from './baresip.js';
import { CLI_NODE_ARGS } from './icephone.js';
import { startKamailio, type Kamailio } from './kamailio.js';
import { readPcapFile } from './pcap.js';
import { spawnProcess, which, type ManagedProcess } from './process.js';
import { testTempDir } from './tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SITE = {
  domain: 'pbx.example',
  kamailio: '10.20.0.10',
  gatewayPbx: '10.20.0.1',
  gatewayPublic: '203.0.113.1',
  turn: '203.0.113.10',
  turnPassword: 'site-secret',
  /** PBX phones: node and address. */
  deskA: { node: 'deskA', address: '10.20.0.21' },
  deskB: { node: 'deskB', address: '10.20.0.22' },
  /** Softphones: node, address, the public address their NAT maps them to (or their own), NAT behaviour. */
  softphones: {
    softA: { node: 'softA', address: '10.0.1.1', public: '203.0.113.101', nat: 'full cone' },
    softP: { node: 'softP', address: '10.0.3.1', public: '203.0.113.103', nat: 'port-restricted' },
    softS: { node: 'softS', address: '10.0.2.1', public: '203.0.113.102', nat: 'symmetric' },
    pub: { node: 'pub', address: '203.0.113.50', public: '203.0.113.50', nat: 'none' },
  },
} as const;

export type SoftphoneName = keyof typeof SITE.softphones;

/** The site as a lab topology description (only `nodes` and `segments` are used by Topology). */
function siteSpec(): ScenarioSpec {
  const eim = 'endpoint-independent' as const;
  const apd = 'address-and-port-dependent' as const;
  return {
    id: 'gw-site', title: 'PBX gateway site (issue 12)', file: 'gateway-site',
    expect: { caller: ['-', '-'], callee: ['-', '-'], path: 'through the gateway', withoutTurn: 'connects' },
    nodes: {
      gw: {}, kam: {}, deskA: {}, deskB: {}, turn: {}, pub: {},
      natA: { forward: true, nat: { inside: 'lanA', outside: 'inet', mapping: eim, filtering: eim } },
      natP: { forward: true, nat: { inside: 'lanP', outside: 'inet', mapping: eim, filtering: apd } },
      natS: { forward: true, nat: { inside: 'lanS', outside: 'inet', mapping: apd, filtering: apd } },
      softA: { routes: [['default', '10.0.1.254']] },
      softP: { routes: [['default', '10.0.3.254']] },
      softS: { routes: [['default', '10.0.2.254']] },
    },
    segments: {
      pbxnet: { cidr: '10.20.0.0/24', members: { gw: SITE.gatewayPbx, kam: SITE.kamailio, deskA: SITE.deskA.address, deskB: SITE.deskB.address } },
      inet: {
        cidr: '203.0.113.0/24', wan: true,
        members: { gw: SITE.gatewayPublic, turn: SITE.turn, pub: '203.0.113.50', natA: '203.0.113.101', natS: '203.0.113.102', natP: '203.0.113.103' },
      },
      lanA: { cidr: '10.0.1.0/24', members: { natA: '10.0.1.254', softA: '10.0.1.1' } },
      lanP: { cidr: '10.0.3.0/24', members: { natP: '10.0.3.254', softP: '10.0.3.1' } },
      lanS: { cidr: '10.0.2.0/24', members: { natS: '10.0.2.254', softS: '10.0.2.1' } },
    },
    phones: {},
    call: { from: '', to: '' },
  } as unknown as ScenarioSpec;
}

/** Tools the site needs; the reason when one is missing (printed by skipping tests). */
export function sitePrerequisites(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the gateway site needs root (network namespaces, iptables)';
  for (const tool of ['ip', 'iptables', 'ss', 'kamailio', 'turnserver', 'baresip', 'sipp', 'tcpdump']) if (!which(tool)) return `${tool} is not installed`;
  return undefined;
}

/** A child run in a site namespace (icephone call/answer/gateway). */
export interface SiteProcess {
  proc: ManagedProcess;
  /** Parsed `--json` lines printed so far. */
  summaries(): any[];
}

/** What a PBX phone's namespace saw (a tcpdump capture of its PBX-network interface). */
export interface PbxSideCapture {
  /** SIP messages received or sent by the phone (UDP payloads that parse as SIP start lines). */
  sip: string[];
  /** Their SDP bodies. */
  sdps: string[];
  /** RTP datagrams (version 2, payload type < 72) sent to the phone's address, in capture order. */
  rtpIn: Array<{ source: string; sourcePort: number; destinationPort: number; ssrc: number; seq: number; timestamp: number; payloadType: number; timeMs: number; payload: Buffer }>;
  /** The SIP messages again, with capture time (ms) and source address (the order of `sip`). */
  sipTimed: Array<{ timeMs: number; source: string; text: string }>;
  /** RTP datagrams sent by the phone's address (capture time, destination, payload type). */
  rtpOut: Array<{ destination: string; timeMs: number; payloadType: number }>;
}

export class GatewaySite {
  readonly dir: string;
  private readonly processes: ManagedProcess[] = [];
  private readonly baresips: BaresipInstance[] = [];
  private kamailio?: Kamailio;
  private stopped = false;

  private constructor(readonly topology: Topology) {
    this.dir = testTempDir('icephone-gw-site-');
  }

  /**
   * Builds the namespaces, starts kamailio (registrar and proxy of pbx.example on 10.20.0.10) and
   * coturn (203.0.113.10:3478, users per softphone and `gateway`, password SITE.turnPassword).
   * `loss`: random loss on every Internet-side ingress (the lab's iptables `statistic` rule).
   */
  static async start(opts: { loss?: number } = {}): Promise<GatewaySite> {
    const site = new GatewaySite(Topology.build(siteSpec(), { loss: opts.loss ?? 0 }));
    try {
      site.kamailio = await startKamailio({ listen: SITE.kamailio, domain: SITE.domain, prefix: site.topology.prefixFor('kam') });
      const users = [...Object.keys(SITE.softphones), 'gateway'].map((u) => `--user=${u}:${SITE.turnPassword}`);
      site.processes.push(spawnProcess('ip', [...site.topology.prefixFor('turn').slice(1), 'turnserver',
        '-n', '--listening-ip', SITE.turn, '--listening-port', '3478', '--relay-ip', SITE.turn, '--min-port=49152', '--max-port=49407',
        '--realm=site.example', '--lt-cred-mech', ...users, '--no-tls', '--no-dtls', '--no-cli', '--no-rfc5780', '--fingerprint',
        '--log-file=stdout', '--simple-log', `--pidfile=${join(site.dir, 'turnserver.pid')}`, `--userdb=${join(site.dir, 'turndb')}`,
      ], { name: 'turnserver', log: join(site.dir, 'turnserver.log') }));
      await site.waitForUdpListen('turn', SITE.turn, 3478, 10_000);
    } catch (e) {
      await site.stop();
      throw e;
    }
    return site;
  }

  /** Polls `ss` in a node until something listens on address:port/udp. */
  async waitForUdpListen(node: string, address: string, port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.topology.exec(node, 'ss', ['-Hlun']).includes(`${address}:${port}`)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nothing listens on ${address}:${port}/udp in ${node} after ${timeoutMs} ms`);
  }

  /** Runs `icephone ARGS` in a node; output also in DIR/NAME.log. */
  icephone(node: string, name: string, args: string[]): SiteProcess {
    const proc = spawnProcess('ip', [...this.topology.prefixFor(node).slice(1), process.execPath, ...CLI_NODE_ARGS, ...args], {
      name, cwd: root, log: join(this.dir, `${name}.log`), echo: process.env['ICEPHONE_ECHO_PEERS'] === '1',
    });
    this.processes.push(proc);
    return {
      proc,
      summaries: () => proc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)),
    };
  }

  /**
   * `icephone gateway` on the edge node: endpoints on 203.0.113.1:5060, `--pbx-address 10.20.0.1`,
   * PBX kamailio; `extra` adds flags (`--endpoint`, `--stun`, `--turn` ...). Resolves once it
   * listens, with the PBX-side SIP port it picked.
   */
  async startGateway(extra: string[] = []): Promise<SiteProcess & { pbxPort: number }> {
    const gw = this.icephone('gw', 'gateway', [
      'gateway', '--listen', `${SITE.gatewayPublic}:5060`, '--pbx-address', SITE.gatewayPbx, '--pbx', `sip:${SITE.kamailio}:5060`, '--json', ...extra,
    ]);
    const m = await gw.proc.waitForOutput(new RegExp(`gateway: listening on .*, ${SITE.gatewayPbx.replace(/\./g, '\\.')}:(\\d+) \\(PBX side\\)`), 20_000);
    return { ...gw, pbxPort: Number(m[1]) };
  }

  /**
   * Where a PBX phone dials to reach softphone `user`: today the gateway's PBX side (kamailio
   * relays a foreign host to the Request-URI; the gateway's static `--endpoint` does the rest).
   * With the registration relay this becomes `sip:USER@pbx.example`.
   */
  pbxTargetFor(user: string, gatewayPbxPort: number): string {
    return `sip:${user}@${SITE.gatewayPbx}:${gatewayPbxPort}`;
  }

  /** Plain baresip (no ICE) on deskA, registered at kamailio as sip:USER@pbx.example. */
  async startBaresipPhone(opts: { user: string; toneHz: number; dial?: string; durationSec?: number; ctrlPort?: number }): Promise<BaresipInstance> {
    const b = await startBaresip({
      listenPort: 5060, user: opts.user, host: SITE.deskA.address, ice: false, toneHz: opts.toneHz, netns: this.topology.ns(SITE.deskA.node),
      register: { domain: SITE.domain, outboundProxy: `sip:${SITE.kamailio}:5060`, regintSec: 600 },
      ...(opts.dial ? { dial: opts.dial } : {}), ...(opts.durationSec ? { durationSec: opts.durationSec } : {}),
      ...(opts.ctrlPort ? { ctrlPort: opts.ctrlPort } : {}),
    });
    this.baresips.push(b);
    await b.waitForRegistered(15_000);
    return b;
  }

  /**
   * SIPp on deskB as a plain PBX phone: one SIPp registers sip:USER@pbx.example with kamailio
   * (scenarios/sipp-register.xml, Contact deskB:5060), then a second SIPp on 5060 answers one call
   * (scenarios/sipp-plain-uas.xml), and kamailio's OPTIONS keepalives, and echoes the RTP it gets
   * (`-rtp_echo`, media on 6000).
   */
  async startSippPhone(user: string): Promise<ManagedProcess> {
    const prefix = this.topology.prefixFor(SITE.deskB.node).slice(1);
    // Registered from 5060, the port the UAS then answers on: kamailio stores the source of the
    // REGISTER as the binding's received address (a private Contact, nat_uac_test), so it must be 5060.
    const reg = spawnProcess('ip', [...prefix, 'sipp', `${SITE.kamailio}:5060`, '-sf', join(root, 'scenarios', 'sipp-register.xml'), '-s', user,
      '-set', 'domain', SITE.domain, '-set', 'contact_port', '5060', '-i', SITE.deskB.address, '-p', '5060', '-m', '1', '-nostdin', '-timeout', '15s', '-timeout_error',
      '-trace_err', '-error_file', join(this.dir, 'sipp-register-errors.log')], { name: 'sipp-register', cwd: this.dir, log: join(this.dir, 'sipp-register.log') });
    this.processes.push(reg);
    const code = await reg.waitForExit(20_000);
    if (code !== 0) throw new Error(`SIPp REGISTER of ${user} failed (exit ${code}): ${reg.tail(1500)}`);
    // No -m: kamailio pings this binding (private Contact) with OPTIONS every 10 s (nathelper), at
    // a phase after kamailio's start fixed by the AOR's hash slot, and SIPp as a UAS makes each one a call of the scenario
    // that counts towards -m (-aa does not stop that). With -m 1, a ping that landed between this
    // start and the INVITE was the one call: SIPp then discarded the INVITE and kamailio answered
    // the softphone 408 after fr_timer (8 s), a window that load moves onto a ping. The scenario
    // answers pings as calls of their own and stops SIPp with its one INVITE call instead.
    // -aa: in-dialog INFO/NOTIFY/OPTIONS/UPDATE get a 200.
    const uas = spawnProcess('ip', [...prefix, 'sipp', '-sf', join(root, 'scenarios', 'sipp-plain-uas.xml'), '-i', SITE.deskB.address, '-p', '5060',
      '-mi', SITE.deskB.address, '-mp', '6000', '-rtp_echo', '-aa', '-nostdin', '-timeout', '60s', '-timeout_error',
      '-trace_err', '-error_file', join(this.dir, 'sipp-uas-errors.log')], { name: 'sipp-uas', cwd: this.dir, log: join(this.dir, 'sipp-uas.log') });
    this.processes.push(uas);
    await this.waitForUdpListen(SITE.deskB.node, SITE.deskB.address, 5060, 10_000);
    return uas;
  }

  /**
   * Lets the symmetric NAT's inside (softS) send UDP only to the TURN server and the gateway's SIP
   * port: an enterprise firewall that sanctions one relay. Its media then has no path but the relay.
   */
  restrictSymmetricToRelay(): void {
    const rules = [
      ['-I', 'FORWARD', '1', '-i', 'lanS', '-o', 'inet', '-p', 'udp', '-d', SITE.turn, '--dport', '3478', '-j', 'ACCEPT'],
      ['-I', 'FORWARD', '2', '-i', 'lanS', '-o', 'inet', '-p', 'udp', '-d', SITE.gatewayPublic, '--dport', '5060', '-j', 'ACCEPT'],
      ['-I', 'FORWARD', '3', '-i', 'lanS', '-o', 'inet', '-p', 'udp', '-j', 'DROP'],
    ];
    for (const r of rules) this.topology.exec('natS', 'iptables', r);
  }

  /**
   * tcpdump of all UDP on a node's interface. `--immediate-mode`: without it the kernel hands
   * packets over in blocks retired after up to a second, and the last block is lost when tcpdump is
   * stopped (a capture then ends ~1 s early, without the BYE); `-U` writes each packet at once.
   */
  async capture(node: string, iface: string, name: string): Promise<{ file: string; stop(): Promise<void> }> {
    const file = join(this.dir, `${name}.pcap`);
    const proc = spawnProcess('ip', [...this.topology.prefixFor(node).slice(1), 'tcpdump', '-i', iface, '-n', '--immediate-mode', '-U', '-Z', 'root', '-w', file, 'udp'], { name: `tcpdump-${name}` });
    this.processes.push(proc);
    await proc.waitForOutput(/listening on/, 15_000);
    return { file, stop: async () => void (await proc.stop()) };
  }

  /** The PBX phone's view from a capture: SIP, SDP bodies and the RTP sent to `address`. */
  static readPbxSide(file: string, address: string): PbxSideCapture {
    const out: PbxSideCapture = { sip: [], sdps: [], rtpIn: [], sipTimed: [], rtpOut: [] };
    for (const d of readPcapFile(file).datagrams) {
      const p = d.payload;
      const head = p.subarray(0, 16).toString('latin1');
      if (/^(SIP\/2\.0 \d{3}|[A-Z]+ sips?:)/.test(head)) {
        const text = p.toString('utf8');
        out.sip.push(text);
        out.sipTimed.push({ timeMs: d.timeMs, source: d.source.address, text });
        const body = text.split(/\r\n\r\n/).slice(1).join('\r\n\r\n');
        if (/^v=0/m.test(body)) out.sdps.push(body);
        continue;
      }
      if (p.length < 12 || p[0]! >> 6 !== 2) continue;
      const payloadType = p[1]! & 0x7f;
      if (payloadType >= 72 && payloadType <= 76) continue; // RTCP (RFC 5761 §4)
      if (d.source.address === address) out.rtpOut.push({ destination: d.destination.address, timeMs: d.timeMs, payloadType });
      if (d.destination.address !== address) continue;
      out.rtpIn.push({
        source: d.source.address, sourcePort: d.source.port, destinationPort: d.destination.port,
        ssrc: p.readUInt32BE(8), seq: p.readUInt16BE(2), timestamp: p.readUInt32BE(4), payloadType, timeMs: d.timeMs,
        payload: p.subarray(12 + 4 * (p[0]! & 0x0f)),
      });
    }
    return out;
  }

  /** Takes a baresip started elsewhere in a site namespace into the site's teardown (stop, remove). */
  adopt(b: BaresipInstance): void {
    if (!this.baresips.includes(b)) this.baresips.push(b);
  }

  /** Stops every process, then the namespaces (which kills anything left in them). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled(this.baresips.map((b) => b.stop()));
    await Promise.allSettled(this.processes.map((p) => p.stop()));
    if (this.kamailio) await this.kamailio.stop().catch(() => undefined);
    this.topology.destroy();
    for (const b of this.baresips) b.remove();
    if (!process.env['ICEPHONE_KEEP_LOGS']) rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * For a failure message: the last output of kamailio and of every process the site started
   * (SIPp, tcpdump, icephone), and SIPp's error files (-trace_err: unexpected messages).
   */
  diagnostics(chars = 1500): string {
    const parts: string[] = [];
    if (this.kamailio) parts.push(`--- kamailio:\n${this.kamailio.process.tail(chars)}`);
    for (const p of this.processes) parts.push(`--- ${p.name}:\n${p.tail(chars)}`);
    for (const f of ['sipp-register-errors.log', 'sipp-uas-errors.log']) {
      const t = this.read(f);
      if (t) parts.push(`--- ${f}:\n${t.slice(-chars)}`);
    }
    return parts.join('\n');
  }

  /** A file of the site's directory (logs), for failure messages. */
  read(name: string): string {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }

  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }
}
