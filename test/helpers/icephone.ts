/**
 * Runs the icephone CLI as a child process, with stdout (the `--json` summaries) and stderr
 * (progress, trace) captured separately. The built CLI (dist/, from `make build`, which `make test`
 * runs first) when it is up to date with every source under lib/, else the sources through tsx, so
 * tests need no build step. tsx costs about 2 s of CPU per process start against 0.7 s for the
 * built files, and the suite starts several hundred. ICEPHONE_TEST_FROM_SOURCES=1 forces tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_ENTRY = join(root, 'lib', 'cli', 'main.ts');
const BUILT_ENTRY = join(root, 'dist', 'lib', 'cli', 'main.js');

/** Whether dist/lib holds a .js at least as new as each .ts under lib/ (a stale build is never used). */
function builtIsFresh(): boolean {
  if (process.env.ICEPHONE_TEST_FROM_SOURCES === '1' || !existsSync(BUILT_ENTRY)) return false;
  const walk = (dir: string): boolean => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (!walk(path)) return false;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const built = join(root, 'dist', relative(root, path)).replace(/\.ts$/, '.js');
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs) return false;
      }
    }
    return true;
  };
  return walk(join(root, 'lib'));
}

/** Node arguments that start the icephone CLI (then its own arguments follow): built or through tsx. */
export const CLI_NODE_ARGS: readonly string[] = builtIsFresh() ? [BUILT_ENTRY] : ['--import', 'tsx', CLI_ENTRY];

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface IcephoneRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (128+signal when killed). */
  exited: Promise<number>;
  /** Resolves with the first match of `re` in stderr. */
  waitForStderr(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Parsed `--json` summaries printed so far. */
  summaries(): any[];
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `icephone ARGS...`; `prefix` runs it under another command (e.g. `ip netns exec NS`). */
export function runIcephone(args: string[], opts: { prefix?: string[]; echo?: string } = {}): IcephoneRun {
  const cmd = opts.prefix?.length ? opts.prefix[0] : process.execPath;
  const full = [...(opts.prefix?.slice(1) ?? []), ...(opts.prefix?.length ? [process.execPath] : []), ...CLI_NODE_ARGS, ...args];
  const child = spawn(cmd, full, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (opts.echo) for (const l of d.toString().split('\n')) if (l) process.stderr.write(`[${opts.echo}] ${l}\n`);
    for (const w of [...waiters]) {
      const m = err.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? 128 + (signal ? 15 : 0));
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStderr(re, timeoutMs) {
      const m = err.match(re);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const w = { re, resolve };
        waiters.push(w);
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in stderr:\n${err.slice(-3000)}`));
        }, timeoutMs);
        void exited.then(() => {
          clearTimeout(t);
          const m2 = err.match(re);
          if (m2) resolve(m2);
          else reject(new Error(`process exited before ${re} appeared; stderr:\n${err.slice(-3000)}`));
        });
        const orig = w.resolve;
        w.resolve = (m) => {
          clearTimeout(t);
          orig(m);
        };
      });
    },
    summaries() {
      return out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l));
    },
    kill(signal = 'SIGTERM') {
      child.kill(signal);
    },
  };
}

/** Waits for a run to exit, killing it after `timeoutMs`; returns the exit code. */
export async function exitWithin(run: IcephoneRun, timeoutMs: number): Promise<number> {
  const t = setTimeout(() => run.kill('SIGKILL'), timeoutMs);
  try {
    return await run.exited;
  } finally {
    clearTimeout(t);
  }
}
