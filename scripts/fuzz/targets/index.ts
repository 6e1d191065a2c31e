/**
 * Every fuzz target, in table order, and the regression seeds of test/fixtures/fuzz/regressions.json.
 * A new parser of network bytes gets a target here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuzzTarget } from '../engine.js';
import { MEDIA_TARGETS } from './media.js';
import { SDP_TARGETS } from './sdp.js';
import { SELFTEST_TARGETS } from './selftest.js';
import { SIP_TARGETS } from './sip.js';
import { SRTP_TARGETS } from './srtp.js';

/** The parsers of network bytes; `ICEPHONE_FUZZ_SELFTEST=1` adds the harness's own misbehaving target. */
export const TARGETS: FuzzTarget[] = [
  ...SIP_TARGETS, ...SDP_TARGETS, ...MEDIA_TARGETS, ...SRTP_TARGETS,
  ...(process.env.ICEPHONE_FUZZ_SELFTEST === '1' ? SELFTEST_TARGETS : []),
];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}

/** One input that once crashed or stalled a parser (see the fixture's README). */
export interface RegressionSeed {
  target: string;
  /** The input: `text` (UTF-8) or `hex`. */
  text?: string;
  hex?: string;
  /** What it did when found: exception and place, or the time it took. */
  finding: string;
  /** Appended in order, each `times` times (default 1): long inputs without a long fixture line. */
  append?: Array<{ text?: string; hex?: string; times?: number }>;
  /** What was done about it. */
  status: string;
  /**
   * Not fixed yet (the fix is outside the parsers this harness may guard): listed by run.ts and as
   * pending tests, not fed to the fuzzer. Set false once fixed, and it becomes a regression seed.
   */
  open?: boolean;
}

export const REGRESSIONS_PATH = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'fuzz', 'regressions.json');

export function regressionSeeds(): RegressionSeed[] {
  return (JSON.parse(readFileSync(REGRESSIONS_PATH, 'utf8')) as { seeds: RegressionSeed[] }).seeds;
}

export function seedBytes(seed: RegressionSeed): Buffer {
  const bytes = (v: { text?: string; hex?: string }) => (v.hex !== undefined ? Buffer.from(v.hex, 'hex') : Buffer.from(v.text ?? '', 'utf8'));
  const parts: Buffer[] = [bytes(seed)];
  for (const a of seed.append ?? []) parts.push(...Array<Buffer>(a.times ?? 1).fill(bytes(a)));
  return Buffer.concat(parts);
}

/** Regression inputs of one target, open findings left out (run first, and mutated like any seed). */
export function regressionInputs(target: string): Buffer[] {
  return regressionSeeds().filter((s) => s.target === target && !s.open).map(seedBytes);
}

/** Findings recorded in the fixture and not fixed yet. */
export function openFindings(): RegressionSeed[] {
  return regressionSeeds().filter((s) => s.open === true);
}
