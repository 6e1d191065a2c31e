/**
 * The small share of `make fuzz` (issue 13): every fuzz target on 2,000 inputs (the same inputs
 * each run: seed 1), the regression seeds of test/fixtures/fuzz/regressions.json, and checks that
 * the harness itself still finds what it must (a crash, a slow input, a hang) and replays by index.
 * A failure names the input: replay it with the command in the message, then fix the parser or,
 * when the bug is outside the project, guard it in the parser that hands the bytes on.
 *
 * Time: `make fuzz` holds every input to 100 ms on a quiet machine. This share runs inside the
 * whole suite, on a machine that may be busy, so it is not a timing test: an input counts as slow
 * here only past SLOW_MS (1 s), which catches a parser that blows up (quadratic, catastrophic
 * backtracking: seconds) and not a scheduler's hiccup. Speed itself is `make fuzz`'s and `make bench`'s.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { InputSource, runOne, runTarget, showInput, signatureOf, type TargetReport } from '../../scripts/fuzz/engine.js';
import { regressionInputs, regressionSeeds, seedBytes, TARGETS, targetNamed } from '../../scripts/fuzz/targets/index.js';
import { misbehaving } from '../../scripts/fuzz/targets/selftest.js';

const ROOT = join(import.meta.dirname, '..', '..');
const INPUTS = Number(process.env.FUZZ_TEST_INPUTS ?? 2000);
const SEED = 1;
/** An input slower than this is a finding here (see above); FUZZ_TEST_SLOW_MS overrides. */
const SLOW_MS = Number(process.env.FUZZ_TEST_SLOW_MS ?? 1000);

function explain(r: TargetReport): string {
  return r.findings.map((f) => {
    const t = targetNamed(f.target) ?? { kind: 'bytes' as const };
    return `${f.kind} x${f.count}: ${f.error} at ${f.signature}; replay: npx tsx scripts/fuzz/run.ts --only ${f.target} --seed ${f.seed} --replay ${f.index}; minimal: ${showInput(t, f.minimal ?? f.input, 600)}`;
  }).join('\n');
}

describe(`fuzz: every parser of network bytes, ${INPUTS} inputs each (make fuzz runs 10^6)`, function () {
  this.timeout(120_000);

  it('covers the parsers issue 13 names', () => {
    expect(TARGETS.map((t) => t.name)).to.include.members([
      'sip-datagram', 'sip-stream', 'sdp-description', 'sdp-candidate', 'sdp-alt', 'sdp-preconditions', 'stun', 'turn-channel-data', 'rtp', 'rtcp', 'stun-stream',
      'srtp', 'srtcp', 'sdp-crypto',
    ]);
  });

  for (const target of TARGETS) {
    it(`${target.name}: no untyped exception, no input over ${SLOW_MS} ms`, () => {
      const report = runTarget(target, { inputs: INPUTS, seed: SEED, slowMs: SLOW_MS, extraSeeds: regressionInputs(target.name) });
      expect(report.inputs).to.equal(INPUTS);
      expect(report.findings.length, explain(report)).to.equal(0);
      // A target that refuses or accepts everything is not exercising its parser.
      expect(report.accepted, 'accepted').to.be.greaterThan(0);
      expect(report.rejected, 'typed rejections').to.be.greaterThan(0);
    });
  }

  describe('regression seeds (test/fixtures/fuzz/regressions.json)', () => {
    const seeds = regressionSeeds();

    it('name a target, an input, what was found and what was done', () => {
      for (const s of seeds) {
        expect(targetNamed(s.target), s.target).to.not.equal(undefined);
        expect((s.text ?? s.hex ?? '').length, JSON.stringify(s)).to.be.greaterThan(0);
        expect(s.finding).to.be.a('string').and.not.equal('');
        expect(s.status).to.be.a('string').and.not.equal('');
      }
    });

    for (const [i, s] of seeds.entries()) {
      if (s.open) {
        // Pinned both ways: when the fix lands this fails, and the entry becomes a plain regression seed.
        it(`#${i} OPEN ${s.target}: still reproduces (set "open": false once fixed): ${s.finding.slice(0, 90)}…`, () => {
          const target = targetNamed(s.target)!;
          target.prepare?.();
          const t0 = performance.now();
          const r = runOne(target, seedBytes(s));
          const ms = performance.now() - t0;
          expect('error' in r || ms > 100, `took ${ms.toFixed(1)} ms without an untyped exception`).to.equal(true);
        });
        continue;
      }
      it(`#${i} ${s.target}: ${s.finding.slice(0, 70)}… is now refused or accepted, quickly`, () => {
        const target = targetNamed(s.target)!;
        target.prepare?.();
        const t0 = performance.now();
        const r = runOne(target, seedBytes(s));
        const ms = performance.now() - t0;
        expect('error' in r ? signatureOf(r.error).error : 'ok').to.equal('ok');
        expect(ms).to.be.below(SLOW_MS);
      });
    }
  });

  describe('the harness', () => {
    it('reports a crash (minimised), a slow input and a typed rejection for what they are', () => {
      const report = runTarget(misbehaving('selftest', false), { inputs: 60, seed: SEED, slowMs: 250 });
      const crash = report.findings.find((f) => f.kind === 'crash');
      expect(crash, explain(report)).to.not.equal(undefined);
      expect(crash!.error).to.match(/^TypeError: crashed on/);
      expect(crash!.minimal!.toString('latin1')).to.equal('crash');
      expect(report.findings.some((f) => f.kind === 'slow' && f.input.toString() === 'slow'), explain(report)).to.equal(true);
      expect(report.rejected).to.be.greaterThan(0);
      expect(report.accepted).to.be.greaterThan(0);
    });

    it('makes the same input for the same (seed, target, index), whatever ran before', () => {
      for (const target of TARGETS) {
        const a = new InputSource(target, 42);
        const b = new InputSource(target, 42);
        const indices = [0, 7, 1234, 4321, 999_999];
        const forward = indices.map((i) => a.at(i).toString('hex'));
        const backward = [...indices].reverse().map((i) => b.at(i).toString('hex')).reverse();
        expect(backward, target.name).to.deep.equal(forward);
      }
    });

    it('run.ts prints the table, and its watchdog names an input that never returns', () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'fuzz', 'run.ts'), '--inputs', '60', '--only', 'stun,rtp,selftest', '--jobs', '2', '--slow-ms', '250', '--hang-ms', '3000'], {
        cwd: ROOT, env: { ...process.env, ICEPHONE_FUZZ_SELFTEST: '1' }, encoding: 'utf8', timeout: 90_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-3000)).to.equal(1);
      expect(r.stdout).to.match(/^\| target \| inputs \| accepted \| typed rejections \| crashes \| slow \(>250 ms\) \| hangs \| slowest ms \|/m);
      // The real targets: no crash, no hang (a worker still booting is not hanging). Their speed is make fuzz's business.
      expect(r.stdout).to.match(/^\| stun \| 60 \| \d+ \| \d+ \| 0 \| \d+ \| 0 \|/m);
      expect(r.stdout).to.match(/^\| rtp \| 60 \| \d+ \| \d+ \| 0 \| \d+ \| 0 \|/m);
      expect(r.stdout).to.match(/^\| selftest \| 60 \| \d+ \| \d+ \| [1-9]\d* \| [1-9]\d* \| [1-9]\d* \|/m);
      expect(r.stdout).to.match(/^- selftest: hang, \d+ input\(s\): no return within 3000 ms$/m);
      expect(r.stdout).to.include('--only selftest --seed 1 --replay 4');
    });
  });
});
