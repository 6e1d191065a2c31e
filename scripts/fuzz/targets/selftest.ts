/**
 * Targets that misbehave on purpose, so the tests can check that the harness reports what it
 * must (a crash, a slow input, a hang) instead of passing by accident. Listed only when
 * ICEPHONE_FUZZ_SELFTEST=1 (test/fuzz/fuzz.test.ts sets it for the runner it spawns).
 */
import { ParseError } from '../../../lib/base/errors.js';
import type { FuzzTarget } from '../engine.js';

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* spin */ }
}

/** 'crash' anywhere: TypeError; exactly 'slow': 400 ms; exactly 'hang' (with `hang`): never returns; 'bad…': ParseError. */
export function misbehaving(name: string, hang: boolean): FuzzTarget {
  return {
    name,
    about: 'harness self-test: throws, stalls and hangs on purpose',
    kind: 'text',
    seeds: () => ['ok', 'bad input', 'a crash here', 'slow', ...(hang ? ['hang'] : [])].map((s) => Buffer.from(s)),
    run(input) {
      const text = input.toString('latin1');
      if (text === 'hang' && hang) for (;;) busy(1000);
      if (text === 'slow') busy(400);
      if (text.includes('crash')) throw new TypeError(`crashed on ${JSON.stringify(text)}`);
      if (text.startsWith('bad')) throw new ParseError('refused', 'selftest');
      return 'accepted';
    },
  };
}

export const SELFTEST_TARGETS: FuzzTarget[] = [misbehaving('selftest', true)];
