/**
 * Runs every benchmark of `make bench` once at a tiny size (BENCH_TINY=1) so the harness cannot
 * rot; the figures themselves are not checked (benchmarks, not timed tests). Needs sipp, baresip
 * and root for network namespaces for the full set; those parts report "not installed" otherwise.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testTempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('make bench (tiny run)', function () {
  this.timeout(330_000);

  it('runs every benchmark (the SRTP path row included), prints the table and writes results JSON', () => {
    const out = join(testTempDir('icephone-bench-'), 'results.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'bench', 'run.ts')], {
      cwd: ROOT, env: { ...process.env, BENCH_TINY: '1', BENCH_OUT: out }, encoding: 'utf8', timeout: 320_000,
    });
    expect(r.status, `${r.stderr}`.slice(-3000)).to.equal(0);
    expect(r.stdout).to.match(/^\| benchmark \| metric \| value/);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { tiny: boolean; rows: Array<{ benchmark: string; value: number | null }>; failures: string[] };
    expect(results.tiny).to.equal(true);
    expect(results.failures).to.deep.equal([]);
    const names = new Set(results.rows.map((row) => row.benchmark));
    for (const name of ['sip-parse', 'sipp-load', 'scale-out', 'per-call-cpu', 'rss-after-load', 'kill-mid-run', 'concurrent-calls', 'answer-to-media', 'stun-responder', 'rtp-path', 'srtp-path', 'gateway-bridge', 'trickle-setup']) expect([...names]).to.include(name);
    // The SRTP row really ran SRTP: packets were unprotected, none refused, and the ratio is to rtp-path.
    const srtp = results.rows.find((row) => row.benchmark === 'srtp-path') as { value: number | null; note?: string; baseline?: { name: string; ratio: number | null } };
    expect(srtp.value).to.be.greaterThan(0);
    expect(srtp.baseline?.name).to.equal('rtp-path (same run)');
    expect(srtp.baseline?.ratio).to.be.greaterThan(0);
    expect(srtp.note).to.match(/; [1-9]\d* unprotected, 0 refused$/);
    // The gateway row bridged calls (CPU measured) against a same-run baseline of direct calls.
    const gateway = results.rows.find((row) => row.benchmark === 'gateway-bridge') as { value: number | null; note?: string; baseline?: { name: string; ratio: number | null } };
    expect(gateway.value).to.be.greaterThan(0);
    expect(gateway.baseline?.name).to.match(/same run/);
    expect(gateway.note).to.match(/^3\/3 ICE-connected/);
    const parse = results.rows.find((row) => row.benchmark === 'sip-parse')!;
    expect(parse.value).to.be.greaterThan(0);
  });
});
