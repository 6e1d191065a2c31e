/**
 * Shared pieces of `make bench` (scripts/bench/run.ts): sizes (BENCH_TINY=1 for the smoke run that
 * `make test` does), the result row type, and small helpers for child processes and /proc.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const TINY = process.env.BENCH_TINY === '1';

/** One line of the table / one entry of bench/results.json. */
export interface BenchRow {
  benchmark: string;
  metric: string;
  value: number | null;
  unit: string;
  /** Same-run baseline and value/baseline, where the issue names one. */
  baseline?: { name: string; value: number | null; ratio: number | null };
  target?: string;
  /** true/false when a target exists; null when not measurable here. */
  met?: boolean | null;
  note?: string;
  /** Share of the machine's CPU time stolen by the hypervisor while this row's benchmark ran, in % (run.ts; /proc/stat). */
  stealPct?: number;
}

/** How to start the icephone CLI: the built dist/ when present (`make bench` builds), else tsx on the sources. */
export function icephoneCommand(): string[] {
  const dist = join(ROOT, 'dist', 'lib', 'cli', 'main.js');
  if (existsSync(dist) && process.env.BENCH_FROM_SOURCES !== '1') return [process.execPath, dist];
  return [process.execPath, '--import', 'tsx', join(ROOT, 'lib', 'cli', 'main.ts')];
}

/** utime+stime of a process in seconds, and its RSS in bytes (Linux /proc). */
export function procUsage(pid: number): { cpuSec: number; rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuSec: ticks / 100, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}

export function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number | null {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function ratio(value: number | null, base: number | null): number | null {
  if (value === null || base === null || base === 0) return null;
  return Math.round((value / base) * 100) / 100;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function round(n: number | null, digits = 1): number | null {
  if (n === null || !Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
