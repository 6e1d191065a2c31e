/**
 * Builds a scenario's topology from its description (scenario.ts) with network namespaces, and
 * tears it down again, whatever happened in between.
 *
 * - Every node is a namespace `<prefix>-<node>`; `<prefix>` is `icplab-<pid>-<random>`, so
 *   {@link removeStaleLabs} can find namespaces of labs whose process died and delete them.
 * - Every segment is a bridge in its own namespace `<prefix>-sw-<segment>`; a member joins it with
 *   a veth pair whose end inside the member is named after the segment (`lanA`, `wan1`, ...), so
 *   NAT rules and loss rules name interfaces by segment.
 * - Routes and IPv4 forwarding per node; NAT rules from nat.ts; random loss on WAN segments
 *   (the `raw` table of every member, ingress from that segment) in the loss variant.
 * - Only addresses the scenario lists, only inside these namespaces: the host's own interfaces,
 *   routes and firewall are never touched.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lossRule, natRules } from './nat.js';
import type { ScenarioSpec } from './scenario.js';

export const LAB_PREFIX_ROOT = 'icplab-';

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

const live = new Set<Topology>();
let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const t of [...live]) t.destroy();
  });
}

export interface BuildOptions {
  /** Random loss probability on WAN segments (0 = none). */
  loss?: number;
}

/** A built topology: namespaces per node, addressing, routes, NATs. */
export class Topology {
  readonly prefix: string;
  readonly spec: ScenarioSpec;
  private readonly namespaces: string[] = [];
  private destroyed = false;

  private constructor(spec: ScenarioSpec) {
    this.spec = spec;
    this.prefix = `${LAB_PREFIX_ROOT}${process.pid}-${randomBytes(2).toString('hex')}`;
    live.add(this);
    installHooks();
  }

  /** Builds the scenario's network. On failure, whatever was built is torn down before rethrowing. */
  static build(spec: ScenarioSpec, opts: BuildOptions = {}): Topology {
    const t = new Topology(spec);
    try {
      t.construct(opts);
    } catch (e) {
      t.destroy();
      throw e;
    }
    return t;
  }

  /** Namespace of a node. */
  ns(node: string): string {
    if (!this.spec.nodes[node]) throw new Error(`unknown node '${node}' in ${this.spec.file}`);
    return `${this.prefix}-${node}`;
  }

  /** Runs a command in a node's namespace; returns stdout. */
  exec(node: string, cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.ns(node), cmd, ...args]);
  }

  /** `ip netns exec NS` prefix for spawning a process in a node. */
  prefixFor(node: string): string[] {
    return ['ip', 'netns', 'exec', this.ns(node)];
  }

  private addNamespace(name: string): void {
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // IPv4 only: no IPv6 link-local addresses, DAD or router solicitations in the lab.
    sh('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
  }

  private construct(opts: BuildOptions): void {
    const spec = this.spec;
    for (const node of Object.keys(spec.nodes)) this.addNamespace(this.ns(node));
    let vethIndex = 0;
    for (const [segName, seg] of Object.entries(spec.segments)) {
      const sw = `${this.prefix}-sw-${segName}`;
      this.addNamespace(sw);
      sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
      const prefixLength = seg.cidr.split('/')[1]!;
      for (const [node, address] of Object.entries(seg.members)) {
        const ns = this.ns(node);
        // Temporary names unique in the whole system, renamed once inside their namespaces.
        const tag = `${(process.pid % 10000).toString(36)}${randomBytes(2).toString('hex')}${(vethIndex++).toString(36)}`;
        const a = `ila${tag}`.slice(0, 15);
        const b = `ilb${tag}`.slice(0, 15);
        sh('ip', ['link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', sw]);
        sh('ip', ['-n', ns, 'link', 'set', a, 'name', segName]);
        sh('ip', ['-n', ns, 'addr', 'add', `${address}/${prefixLength}`, 'dev', segName]);
        sh('ip', ['-n', ns, 'link', 'set', segName, 'up']);
        sh('ip', ['-n', sw, 'link', 'set', b, 'master', 'br0']);
        sh('ip', ['-n', sw, 'link', 'set', b, 'up']);
        if (seg.wan && opts.loss && opts.loss > 0) this.exec(node, 'iptables', lossRule(segName, opts.loss));
      }
    }
    for (const [name, node] of Object.entries(spec.nodes)) {
      if (node.forward || node.nat) this.exec(name, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      for (const [dest, via] of node.routes ?? []) sh('ip', ['-n', this.ns(name), 'route', 'add', dest, 'via', via]);
      if (node.nat) {
        const inside = spec.segments[node.nat.inside]!;
        const rules = natRules(node.nat, {
          inside: node.nat.inside,
          outside: node.nat.outside,
          publicAddress: spec.segments[node.nat.outside]!.members[name]!,
          insideHosts: Object.entries(inside.members).filter(([n]) => n !== name).map(([, a]) => a),
          tag: `nat_${name}`.slice(0, 30),
        });
        for (const rule of rules) this.exec(name, 'iptables', rule);
      }
    }
  }

  /** The iptables rules of a node (`iptables-save`), for reports and debugging. */
  rules(node: string): string {
    return this.exec(node, 'iptables-save', []);
  }

  /** Kills every process in our namespaces and deletes them. Idempotent; never throws. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [...this.namespaces].reverse()) deleteNamespace(ns);
    live.delete(this);
  }
}

function deleteNamespace(ns: string): void {
  try {
    const pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    sh('ip', ['netns', 'delete', ns]);
  } catch {
    /* already gone */
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes namespaces of labs whose creating process is gone (a killed test run). Labs of live
 * processes (another run in parallel) are left alone. Returns the names deleted.
 */
export function removeStaleLabs(): string[] {
  let names: string[] = [];
  try {
    names = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(LAB_PREFIX_ROOT));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(name.slice(LAB_PREFIX_ROOT.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) continue;
    if (pid === process.pid && [...live].some((t) => name.startsWith(t.prefix))) continue;
    deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

/** Names of lab namespaces that exist now (for the "nothing left behind" check). */
export function labNamespaces(): string[] {
  try {
    return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(LAB_PREFIX_ROOT));
  } catch {
    return [];
  }
}
