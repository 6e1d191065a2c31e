/**
 * The NAT lab's scenario format: one JSON file per scenario in `scenarios/lab/`, describing a
 * topology (network namespaces joined by layer-2 segments), the NAT boxes on it with their
 * RFC 4787 behaviour, where coturn and kamailio run, and the two icephones that call each
 * other. `scripts/lab/topology.ts` builds it; `test/helpers/lab.ts` runs it.
 *
 * Example (abridged, see scenarios/lab/9.1.1-full-cone.json):
 * ```json
 * { "id": "9.1.1", "title": "Residential, both behind full-cone NATs",
 *   "expect": { "caller": ["srflx", "srflx"], "callee": ["srflx", "srflx"], "path": "server-reflexive on both sides",
 *               "withoutTurn": "connects" },
 *   "nodes": { "natA": { "forward": true, "nat": { "inside": "lanA", "outside": "wan1",
 *                        "mapping": "endpoint-independent", "filtering": "endpoint-independent" } },
 *              "a": { "routes": [["default", "10.0.1.254"]] } },
 *   "segments": { "lanA": { "cidr": "10.0.1.0/24", "members": { "a": "10.0.1.1", "natA": "10.0.1.254" } },
 *                 "wan1": { "cidr": "203.0.113.0/24", "wan": true, "members": { ... } } },
 *   "turn": { "node": "provider", "listen": "203.0.113.10" },
 *   "proxy": { "node": "provider", "listen": "203.0.113.10", "domain": "provider.example" },
 *   "phones": { "alice": { "node": "a", "address": "10.0.1.1", "tone": 440, "stun": "203.0.113.10", "turn": "203.0.113.10" },
 *               "bob": { ... } },
 *   "call": { "from": "alice", "to": "bob", "direct": "198.51.100.1:5060" } }
 * ```
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** RFC 4787 §4.1 mapping behaviour. */
export type MappingBehaviour = 'endpoint-independent' | 'address-and-port-dependent';
/** RFC 4787 §5 filtering behaviour. */
export type FilteringBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatSpec {
  /** Segment on the private side. */
  inside: string;
  /** Segment on the public side; the NAT's address there is its public address. */
  outside: string;
  mapping: MappingBehaviour;
  filtering: FilteringBehaviour;
  /** RFC 4787 §6 hairpinning (default false: packets from inside to the public address are dropped). */
  hairpin?: boolean;
  /**
   * Static port forwards from the public address (the enterprise DMZ: SIP proxy, TURN relay range).
   * `to` is `IP` (same ports) or `IP:PORT` (a single port forwarded to another port).
   */
  portForwards?: Array<{ protocol: 'udp' | 'tcp'; ports: string; to: string }>;
}

export interface NodeSpec {
  /** Enables IPv4 forwarding (routers and NATs). */
  forward?: boolean;
  /** `[destination, gateway]`, destination a CIDR or "default". */
  routes?: Array<[string, string]>;
  nat?: NatSpec;
}

export interface SegmentSpec {
  cidr: string;
  /** Random loss is applied here in the loss variant (every member's ingress from this segment). */
  wan?: boolean;
  /** Node name to address on this segment (the interface inside the node is named after the segment). */
  members: Record<string, string>;
}

export interface TurnSpec {
  node: string;
  /** Listening (and relay) address. */
  listen: string;
  /** `--external-ip PUBLIC/PRIVATE` when the server sits behind a NAT that forwards its relay ports. */
  externalIp?: string;
  /** Relay port range (default 49152-49407); port-forwarded when behind a NAT. */
  relayPorts?: [number, number];
}

export interface ProxySpec {
  node: string;
  listen: string;
  /** Address written in Record-Route/Via when the proxy sits behind a port-forwarding NAT. */
  advertise?: string;
  /** The SIP domain of the addresses-of-record (resolved to `listen` by the phones' --registrar). */
  domain: string;
}

export interface PhoneSpec {
  node: string;
  /** SIP and media address (host candidate). */
  address: string;
  /** SIP port (default 5060). */
  port?: number;
  /** Tone this phone plays (Hz); the other side's recording must contain it. */
  tone: number;
  /** STUN server address as this phone is configured (port 3478). */
  stun?: string;
  /** TURN server address as this phone is configured (port 3478, user = phone name). */
  turn?: string;
  /** Address of the proxy/registrar as this phone is configured (port 5060). */
  proxy?: string;
  /** This peer is not an icephone but SIPp as a non-ICE gateway (uas, rtp echo). */
  sipp?: boolean;
}

export interface ExpectSpec {
  /** Selected pair as the draft predicts, candidate types `[local, remote]`, on the caller's side. */
  caller: [string, string];
  /** The same on the callee's side. */
  callee: [string, string];
  /** Human-readable path, as the draft's section says. */
  path: string;
  /** Where our answer differs from the draft's text (RFC 8445 ICE vs the draft), the reason. */
  note?: string;
  /** Without TURN: "connects" (a direct path exists) or "fails" (only the relay works). */
  withoutTurn: 'connects' | 'fails';
  /**
   * Other selected pairs that are equally acceptable, each with the reason (e.g. the mirror-image
   * relay path, which ICE may nominate when loss delays the better pair's check past the
   * nomination wait). A run matching one passes and the table names it.
   */
  alternatives?: Array<{ caller: [string, string]; callee: [string, string]; why: string }>;
}

export interface ScenarioSpec {
  /** Draft section ("9.1.1") or a short id for extra scenarios. */
  id: string;
  title: string;
  /** File name without .json; set by the loader. */
  file: string;
  expect: ExpectSpec;
  nodes: Record<string, NodeSpec>;
  segments: Record<string, SegmentSpec>;
  turn?: TurnSpec;
  proxy?: ProxySpec;
  phones: Record<string, PhoneSpec>;
  call: {
    from: string;
    to: string;
    /**
     * Where the caller can reach the callee's SIP port without a registrar (`IP:PORT`), used while
     * icephone lacks --register; absent when only the proxy can reach the callee.
     */
    direct?: string;
  };
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCENARIO_DIR = join(root, 'scenarios', 'lab');

function fail(file: string, what: string): never {
  throw new Error(`scenarios/lab/${file}.json: ${what}`);
}

/** Checks references between the parts of a scenario. @throws Error naming the file and the problem. */
export function validateScenario(s: ScenarioSpec): void {
  const f = s.file;
  if (!s.id || !s.title) fail(f, 'id and title are required');
  for (const [name, seg] of Object.entries(s.segments)) {
    if (name.length > 15) fail(f, `segment name '${name}' is longer than 15 characters (it names interfaces)`);
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(seg.cidr)) fail(f, `segment ${name}: bad cidr '${seg.cidr}'`);
    for (const node of Object.keys(seg.members)) if (!s.nodes[node]) fail(f, `segment ${name}: unknown node '${node}'`);
  }
  for (const [name, node] of Object.entries(s.nodes)) {
    if (node.nat) {
      for (const seg of [node.nat.inside, node.nat.outside]) {
        if (!s.segments[seg]?.members[name]) fail(f, `node ${name}: NAT segment '${seg}' does not list it as a member`);
      }
    }
  }
  for (const [name, phone] of Object.entries(s.phones)) {
    if (!s.nodes[phone.node]) fail(f, `phone ${name}: unknown node '${phone.node}'`);
  }
  if (!s.phones[s.call.from] || !s.phones[s.call.to]) fail(f, 'call.from and call.to must name phones');
  if (s.turn && !s.nodes[s.turn.node]) fail(f, `turn: unknown node '${s.turn.node}'`);
  if (s.proxy && !s.nodes[s.proxy.node]) fail(f, `proxy: unknown node '${s.proxy.node}'`);
}

export function loadScenario(file: string): ScenarioSpec {
  const base = file.replace(/\.json$/, '');
  const spec = JSON.parse(readFileSync(join(SCENARIO_DIR, `${base}.json`), 'utf8')) as ScenarioSpec;
  spec.file = base;
  validateScenario(spec);
  return spec;
}

/** Every scenario in scenarios/lab, in file-name order. */
export function loadAllScenarios(): ScenarioSpec[] {
  return readdirSync(SCENARIO_DIR)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map(loadScenario);
}

/** "full cone" style summary of the NATs of a scenario, for the table. */
export function natSummary(s: ScenarioSpec): string {
  const short = (n: NatSpec): string => {
    if (n.mapping === 'endpoint-independent' && n.filtering === 'endpoint-independent') return 'full-cone';
    if (n.mapping === 'endpoint-independent' && n.filtering === 'address-dependent') return 'restricted-cone';
    if (n.mapping === 'endpoint-independent') return 'port-restricted';
    return 'symmetric';
  };
  const nats = Object.entries(s.nodes).filter(([, n]) => n.nat).map(([name, n]) => `${name}:${short(n.nat!)}`);
  return nats.length ? nats.join(' ') : 'none';
}
