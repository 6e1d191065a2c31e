/**
 * `make lab`: runs every scenario in scenarios/lab (clean, 5 % WAN loss, TURN stopped) and prints
 * the table: scenario, NAT types, path the draft expects, pair selected on each side, time from
 * answer to two-way media, tone found both ways.
 *
 *   npx tsx scripts/lab/run.ts [--variants clean,loss,noturn] [--only 9.1.1,9.3] [--signalling proxy|direct]
 *                              [--markdown] [--out DIR] [--repeat N]
 * Exit status 0 when every run matched its expectation (connected, or for TURN-stopped runs
 * without a direct path, failed with a reason), 1 otherwise, 2 when the lab cannot run here.
 */
import { parseArgs } from 'node:util';
import { labPrerequisites, runScenario, type ScenarioResult, type Variant, icephoneFeatures } from '../../test/helpers/lab.js';
import { loadAllScenarios, natSummary } from './scenario.js';
import { formatNotes, formatTable, resultOk } from './table.js';
import { labNamespaces, removeStaleLabs } from './topology.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'clean,loss,noturn' },
      only: { type: 'string' },
      signalling: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      out: { type: 'string' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const missing = labPrerequisites();
  if (missing) {
    process.stderr.write(`lab: cannot run: ${missing}\n`);
    return 2;
  }
  const stale = removeStaleLabs();
  if (stale.length) process.stderr.write(`lab: removed ${stale.length} namespaces left by an earlier run\n`);
  const variants = values.variants.split(',') as Variant[];
  const only = values.only?.split(',');
  const scenarios = loadAllScenarios().filter((s) => !only || only.includes(s.id) || only.includes(s.file));
  const features = icephoneFeatures();
  process.stderr.write(`lab: icephone features: --turn ${features.turn ? 'yes' : 'NO'}, --register ${features.register ? 'yes' : 'NO'}\n`);
  const signalling = values.signalling === 'direct' ? 'direct' : values.signalling === 'proxy' ? 'proxy' : undefined;
  const started = Date.now();
  const results: ScenarioResult[] = [];
  const stop = (): void => process.exit(130);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    process.stderr.write(`lab: --repeat: expected a positive integer, got '${values.repeat}'\n`);
    return 2;
  }
  for (const variant of variants) {
    for (const spec of scenarios) for (let round = 1; round <= repeat; round++) {
      process.stderr.write(`lab: ${spec.id} (${natSummary(spec)}) ${variant}${repeat > 1 ? ` #${round}` : ''} ... `);
      const r = await runScenario(spec, variant, { outDir: values.out, signalling });
      results.push(r);
      process.stderr.write(`${r.status}${r.reason ? `: ${r.reason}` : ''} (${(r.durationMs / 1000).toFixed(1)} s)\n`);
    }
  }
  process.stdout.write(formatTable(results, values.markdown) + '\n');
  process.stdout.write(`\nNotes (path the draft expects vs what icephone does):\n${formatNotes(results)}\n`);
  process.stdout.write(`\n${results.filter(resultOk).length}/${results.length} runs as expected in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const left = labNamespaces().filter((n) => n.includes(`-${process.pid}-`));
  if (left.length) process.stderr.write(`lab: namespaces left behind: ${left.join(' ')}\n`);
  return results.every(resultOk) && left.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`lab: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
