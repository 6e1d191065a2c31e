/**
 * Child processes for interop tests (baresip, SIPp, coturn, kamailio, tinyproxy ...).
 *
 * Every child started here has its stdout and stderr captured into one ring buffer (and, on
 * request, copied to a log file), can be waited on for a line of output or for its exit, and is
 * recorded in a process-wide registry: `killAllChildren()` (also run from a `process.on('exit')`
 * handler) sends SIGKILL to whatever is left, so a failed test does not leave peers holding ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, type WriteStream } from 'node:fs';
import { delimiter, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { TimeoutError } from '../../lib/base/errors.js';
import { testTempDir } from './tmp.js';

/** Options for {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /** Short name used in messages and log file names (default: the command's base name). */
  name?: string;
  cwd?: string;
  /** Environment; default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /**
   * Copy all output to a log file: `true` puts `<name>-<pid>.log` in a fresh temporary directory,
   * a string is the file's path.
   */
  log?: boolean | string;
  /** Characters of output kept in memory (default 1 MiB); older output is dropped. */
  ringChars?: number;
  /**
   * Start the child in its own process group and signal the whole group (default false). Use it
   * for shell wrappers whose own children must die with them.
   */
  processGroup?: boolean;
  /** Echo every output line to this process's stderr, prefixed with the name (default false). */
  echo?: boolean;
}

/** Options for {@link ManagedProcess.waitForOutput}. */
export interface WaitForOutputOptions {
  /** Only output after this mark (from {@link ManagedProcess.mark}) counts. */
  since?: number;
  /**
   * Match only complete lines (output up to the last line break), so that a match never sees a
   * line half-written and `onLine` listeners have already run for the matching line.
   */
  wholeLines?: boolean;
}

const registry = new Set<ManagedProcess>();

/** After the child exits, how long to wait for its output pipes to close before calling it ended. */
const EXIT_OUTPUT_GRACE_MS = 250;

/** How long {@link ManagedProcess.stop} waits after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 2000;

/** A spawned child with captured output. Create with {@link spawnProcess}. */
export class ManagedProcess {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Path of the log file, when logging was asked for. */
  readonly logPath: string | undefined;
  /** Exit code, or 128 + signal number when killed by a signal; undefined while running. */
  exitCode: number | undefined;
  /** Signal that ended the child, if any. */
  signal: NodeJS.Signals | undefined;
  /** Error from spawning (e.g. ENOENT), if any. */
  spawnError: Error | undefined;

  private readonly child: ChildProcess;
  private readonly ringChars: number;
  private readonly processGroup: boolean;
  private readonly echo: boolean;
  private readonly logStream: WriteStream | undefined;
  private text = '';
  /** Total characters ever received; `text` holds the last `text.length` of them. */
  private total = 0;
  /** Value of `total` just after the last line break received. */
  private lineEnd = 0;
  private partialLine = '';
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly exitPromise: Promise<number>;

  constructor(command: string, args: readonly string[], options: SpawnProcessOptions = {}) {
    this.command = command;
    this.args = [...args];
    this.name = options.name ?? command.split('/').pop() ?? command;
    this.ringChars = options.ringChars ?? 1 << 20;
    this.processGroup = options.processGroup ?? false;
    this.echo = options.echo ?? false;

    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.processGroup,
    });

    if (options.log !== undefined && options.log !== false) {
      this.logPath =
        typeof options.log === 'string'
          ? options.log
          : join(testTempDir('icephone-log-'), `${this.name}-${this.child.pid ?? 'nopid'}.log`);
      this.logStream = createWriteStream(this.logPath);
      this.logStream.on('error', () => undefined);
    }

    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.append(chunk));
    this.child.stderr?.on('data', (chunk: string) => this.append(chunk));

    registry.add(this);
    this.exitPromise = new Promise<number>((resolve) => {
      this.child.on('error', (error) => {
        this.spawnError = error;
        // 'exit' may not follow a failed spawn.
        if (this.child.pid === undefined) this.finish(127, undefined, resolve);
      });
      // 'close' comes after the output streams have ended, so every line has been seen. A
      // grandchild that inherited the pipes can hold them open after the child exits, so 'exit'
      // is also taken as the end after a short grace period.
      const finishWith = (code: number | null, signal: NodeJS.Signals | null): void => {
        const signalNumber = signal ? (osConstants.signals[signal] ?? 0) : 0;
        this.finish(code ?? 128 + signalNumber, signal ?? undefined, resolve);
      };
      this.child.on('close', finishWith);
      this.child.on('exit', (code, signal) => {
        setTimeout(() => finishWith(code, signal), EXIT_OUTPUT_GRACE_MS).unref();
      });
    });
  }

  /** Process id (undefined when spawning failed). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the child has exited (or could not be spawned). */
  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  /** Captured output (stdout and stderr interleaved as they arrived), at most `ringChars` of it. */
  output(): string {
    return this.text;
  }

  /** The last `chars` characters of output, for error messages. */
  tail(chars = 2000): string {
    return this.text.slice(-chars);
  }

  /** A position in the output stream; pass it as `since` to wait only for later output. */
  mark(): number {
    return this.total;
  }

  /** Calls `listener` with every complete output line (split at `\n` or `\r`). Returns an unsubscribe function. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /**
   * Resolves with the first match of `pattern` in the captured output (already printed output
   * counts, unless `since` says otherwise). Rejects with a TimeoutError after `timeoutMs`, or at once
   * when the child exits without having printed it; both messages carry the output's tail.
   */
  waitForOutput(pattern: RegExp, timeoutMs: number, options: WaitForOutputOptions = {}): Promise<RegExpMatchArray> {
    const regex = new RegExp(pattern.source, pattern.flags.replace('g', ''));
    const search = (): RegExpMatchArray | null => {
      const base = this.total - this.text.length;
      const skip = options.since === undefined ? 0 : Math.max(0, options.since - base);
      const end = options.wholeLines ? Math.max(0, this.lineEnd - base) : this.text.length;
      return this.text.slice(skip, Math.max(skip, end)).match(regex);
    };
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = (): boolean => {
        const match = search();
        if (match) {
          done();
          resolve(match);
          return true;
        }
        if (this.exited) {
          done();
          reject(new Error(`${this.name} exited (${this.describeExit()}) without printing ${regex}; output ends:\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`${this.name} did not print ${regex} within ${timeoutMs} ms; output ends:\n${this.tail()}`, timeoutMs));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.changeListeners.delete(onChange);
      };
      const onChange = (): void => {
        check();
      };
      this.changeListeners.add(onChange);
      check();
    });
  }

  /** Resolves with the exit code (128 + signal number when signalled); rejects with a TimeoutError. */
  waitForExit(timeoutMs: number): Promise<number> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new TimeoutError(`${this.name} (pid ${this.pid}) still running after ${timeoutMs} ms; output ends:\n${this.tail()}`, timeoutMs));
      }, timeoutMs);
      void this.exitPromise.then((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Sends a signal (to the process group when started with `processGroup`). No-op once exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exited || this.child.pid === undefined) return;
    try {
      if (this.processGroup) process.kill(-this.child.pid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM, then SIGKILL after {@link STOP_GRACE_MS}; resolves with the exit code. */
  async stop(): Promise<number> {
    if (this.exitCode !== undefined) return this.exitCode;
    this.kill('SIGTERM');
    try {
      return await this.waitForExit(STOP_GRACE_MS);
    } catch {
      this.kill('SIGKILL');
      return this.waitForExit(STOP_GRACE_MS * 2);
    }
  }

  private describeExit(): string {
    if (this.spawnError) return `spawn failed: ${this.spawnError.message}`;
    return this.signal ? `signal ${this.signal}` : `code ${this.exitCode}`;
  }

  private append(chunk: string): void {
    this.logStream?.write(chunk);
    this.total += chunk.length;
    this.text += chunk;
    if (this.text.length > this.ringChars) this.text = this.text.slice(this.text.length - this.ringChars);

    const pieces = (this.partialLine + chunk).split(/\r\n|\r|\n/);
    this.partialLine = pieces.pop() ?? '';
    if (pieces.length > 0) this.lineEnd = this.total - this.partialLine.length;
    if (this.partialLine.length > 65536) this.partialLine = this.partialLine.slice(-65536);
    for (const line of pieces) this.emitLine(line);
    for (const listener of [...this.changeListeners]) listener();
  }

  private emitLine(line: string): void {
    if (this.echo && line.trim() !== '') process.stderr.write(`[${this.name}] ${line}\n`);
    for (const listener of [...this.lineListeners]) listener(line);
  }

  private finish(code: number, signal: NodeJS.Signals | undefined, resolve: (code: number) => void): void {
    if (this.exitCode !== undefined) return;
    if (this.partialLine !== '') {
      this.emitLine(this.partialLine);
      this.partialLine = '';
    }
    this.lineEnd = this.total;
    this.exitCode = code;
    this.signal = signal;
    registry.delete(this);
    this.logStream?.end();
    for (const listener of [...this.changeListeners]) listener();
    resolve(code);
  }
}

/** Starts `command` with `args`, capturing its output. Never throws for a missing binary: check `spawnError`/`waitForExit`. */
export function spawnProcess(command: string, args: readonly string[] = [], options: SpawnProcessOptions = {}): ManagedProcess {
  return new ManagedProcess(command, args, options);
}

/** Children started by this process that have not exited yet. */
export function liveChildren(): ManagedProcess[] {
  return [...registry];
}

/** SIGKILLs every child still running (synchronous, so it works from an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of registry) child.kill('SIGKILL');
}

/** Stops every child still running (SIGTERM, then SIGKILL) and waits for them. For `after`/`afterEach` hooks. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...registry].map((child) => child.stop()));
}

process.on('exit', killAllChildren);

/**
 * Full path of an executable named `cmd` on PATH (plus /usr/sbin and /sbin, where Debian puts
 * `ip` and `iptables` for non-root users), or undefined.
 */
export function which(cmd: string): string | undefined {
  const candidates = cmd.includes('/')
    ? [cmd]
    : [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, cmd));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** True when this process runs as root (uid 0). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Skips the current test (or the suite, from a `before` hook) unless `cond` holds, printing
 * `skipped: <reason>` to stderr first. Call as `skipUnless.call(this, cond, reason)` from a
 * `function () {}` test or hook.
 */
export function skipUnless(this: Mocha.Context, cond: unknown, reason: string): void {
  if (cond) return;
  process.stderr.write(`skipped: ${reason}\n`);
  this.skip();
}
