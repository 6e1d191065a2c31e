import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Network namespaces for tests that need a real (lossy, NATed...) network: create, join with
 * veth pairs, run commands and child processes inside, and always tear down. Every lab is
 * kept in a process-wide registry and destroyed on `destroy()`, and again (best effort) when
 * the process exits, so a failing test leaves no namespace behind.
 *
 * Addresses: only documentation ranges (198.51.100.0/24, 203.0.113.0/24) inside namespaces
 * we create; nothing touches the host's own interfaces.
 */

export interface NetnsSupport {
  ok: boolean;
  /** Why not, when `ok` is false (printed by skipping tests). */
  reason?: string;
}

/** Whether this process can create namespaces: root, `ip netns` and iptables available. */
export function netnsSupport(): NetnsSupport {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'network namespace tests need root (uid 0)' };
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch (e) {
    return { ok: false, reason: `'ip netns' is unavailable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  try {
    execFileSync('iptables', ['--version'], { stdio: 'pipe' });
  } catch {
    return { ok: false, reason: 'iptables is not installed' };
  }
  return { ok: true };
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

const labs = new Set<NetnsLab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of [...labs]) lab.destroy();
  });
}

let vethCounter = 0;

/** A set of namespaces with a common unique prefix (`icp-<pid>-<random>`), torn down together. */
export class NetnsLab {
  readonly prefix: string;
  readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(prefix = `icp-${process.pid}-${randomBytes(2).toString('hex')}`) {
    this.prefix = prefix;
    labs.add(this);
    installExitHook();
  }

  /** Creates namespace `<prefix>-<suffix>` with loopback up. */
  createNamespace(suffix: string): string {
    const name = `${this.prefix}-${suffix}`;
    run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * Joins two namespaces with a veth pair and gives each end an address (`198.51.100.1/24`).
   * The pair disappears with its namespaces.
   */
  connect(nsA: string, cidrA: string, nsB: string, cidrB: string): { ifA: string; ifB: string } {
    const tag = `${process.pid % 100000}${(vethCounter++).toString(36)}`;
    const ifA = `icpa${tag}`.slice(0, 15);
    const ifB = `icpb${tag}`.slice(0, 15);
    run('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    run('ip', ['-n', nsA, 'addr', 'add', cidrA, 'dev', ifA]);
    run('ip', ['-n', nsB, 'addr', 'add', cidrB, 'dev', ifB]);
    run('ip', ['-n', nsA, 'link', 'set', ifA, 'up']);
    run('ip', ['-n', nsB, 'link', 'set', ifB, 'up']);
    return { ifA, ifB };
  }

  /** Runs a command inside a namespace and returns its stdout. @throws on non-zero exit. */
  exec(ns: string, cmd: string, args: string[] = []): string {
    return run('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  /** Starts a child process inside a namespace; it is killed on `destroy()`. */
  spawn(ns: string, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Kills our children and deletes our namespaces. Idempotent; never throws. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) {
      if (child.exitCode === null && child.pid !== undefined) {
        try { child.kill('SIGKILL'); } catch { /* gone */ }
      }
    }
    this.children.clear();
    for (const ns of this.namespaces.reverse()) {
      try {
        // Kill anything still running in the namespace (only ours live there), then delete it.
        const pids = run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean);
        for (const pid of pids) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
        }
      } catch { /* namespace already gone */ }
      try { run('ip', ['netns', 'delete', ns]); } catch { /* already gone */ }
    }
    labs.delete(this);
  }
}
