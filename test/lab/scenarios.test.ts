/**
 * The NAT lab (draft-rosenberg-sipping-ice-01 §9 on real networks): every scenario in
 * scenarios/lab, built with network namespaces and iptables NATs (scripts/lab), coturn and
 * kamailio placed as the scenario says, two icephones (or SIPp as a non-ICE gateway) calling each
 * other. Three runs per scenario: clean, 5 % random loss on the WAN links, and TURN stopped
 * (coturn --stun-only), which must still connect where a direct path exists and fail with a
 * reason where none does. Every connected run must have selected the pair the draft expects
 * (candidate types on both sides, `expect` in the scenario file) or one of the scenario's listed
 * alternatives (`expect.alternatives`, each with its reason). As root the lab never skips: a
 * missing tool or icephone feature fails the test with what is missing.
 *
 * `LAB_SIGNALLING=direct` runs calls without the registrar (INVITE straight to the callee where
 * the scenario says it is reachable).
 */
import { expect } from 'chai';
import { loadAllScenarios, natSummary } from '../../scripts/lab/scenario.js';
import { labNamespaces } from '../../scripts/lab/topology.js';
import { labPrerequisites, runScenario, type ScenarioResult, type Variant } from '../helpers/lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const scenarios = loadAllScenarios();

function explain(r: ScenarioResult): string {
  const side = (name: string, s: ScenarioResult['caller']): string =>
    s ? `${name}: exit ${s.exitCode}, pair ${s.pair?.text ?? 'none'}, tone ${s.toneOk ? 'yes' : 'no'}${s.failure ? `, ${s.failure}` : ''}` : `${name}: -`;
  const timing = r.answerToMediaMs !== undefined ? `; answer to two-way media ${r.answerToMediaMs} ms` : '';
  return `${r.scenario.id} ${r.variant}: ${r.status}${r.reason ? ` (${r.reason})` : ''}; ${side('caller', r.caller)}; ${side('callee', r.callee)}${timing}`;
}

/**
 * Scenarios of a variant run LAB_CONCURRENCY (default 3) at a time: each has its own namespaces
 * (a per-topology prefix), its own coturn and kamailio inside them, and spends most of its time
 * waiting on calls, not on the CPU; one after the other they took 3.5 of the suite's minutes.
 * `before` starts them; each `it` waits for its own scenario's result and checks it.
 */
const LAB_CONCURRENCY = Math.max(1, Number(process.env['LAB_CONCURRENCY'] ?? 3) || 3);

function runAll(variant: Variant): Map<string, Promise<ScenarioResult>> {
  const results = new Map<string, Promise<ScenarioResult>>();
  let running = 0;
  const queue: Array<() => void> = [];
  const slot = (): Promise<void> => (running < LAB_CONCURRENCY ? (running++, Promise.resolve()) : new Promise((r) => queue.push(() => { running++; r(); })));
  const release = () => {
    running--;
    queue.shift()?.();
  };
  for (const spec of scenarios) {
    const p = slot().then(() => runScenario(spec, variant)).finally(release);
    p.catch(() => undefined); // awaited (and reported) by the scenario's own test
    results.set(spec.id, p);
  }
  return results;
}

for (const variant of ['clean', 'loss', 'noturn'] as Variant[]) {
  describe(`NAT lab: draft §9 scenarios (${variant === 'clean' ? 'clean network' : variant === 'loss' ? '5% random loss on the WAN links' : 'TURN server stopped'})`, function () {
    this.timeout(90_000);
    before(function () {
      const missing = labPrerequisites();
      if (missing && isRoot) throw new Error(`the NAT lab cannot run: ${missing} (scripts/install-deps.sh installs the tools)`);
      if (missing) {
        process.stderr.write(`skipped: ${missing}\n`);
        this.skip();
      }
      runs = runAll(variant);
    });
    after(async () => {
      // Whatever a failed test left running finishes (and tears its namespaces down) before the next variant.
      await Promise.allSettled([...runs.values()]);
    });
    let runs = new Map<string, Promise<ScenarioResult>>();

    for (const spec of scenarios) {
      const direct = spec.expect.withoutTurn === 'connects';
      const what =
        variant === 'noturn' && !direct
          ? 'fails with a clear reason (no direct path)'
          : `connects with two-way audio, pair as the draft expects: A ${spec.expect.caller.join('->')}${spec.phones[spec.call.to]?.sipp ? ' (m/c line)' : `, B ${spec.expect.callee.join('->')}`}`;
      it(`${spec.id} ${spec.title} [${natSummary(spec)}]: ${what}`, async function () {
        const r = await runs.get(spec.id)!;
        process.stderr.write(`      ${explain(r)}\n`);
        const directAsked = process.env['LAB_SIGNALLING'] === 'direct';
        if (r.status === 'needs' && directAsked) {
          process.stderr.write(`      skipped under LAB_SIGNALLING=direct: ${r.reason}\n`);
          this.skip();
        }
        if (r.status === 'needs') throw new Error(`needs ${r.needs}: ${r.reason}`);
        // The default is the real deployment: both phones registered, the call by address-of-record
        // through kamailio (or through it as outbound proxy to the gateway). Never a silent fallback.
        if (!directAsked) expect(r.signalling, 'SIP through the registrar/proxy').to.equal('proxy');
        if (variant === 'noturn' && !direct) {
          expect(r.status, explain(r)).to.equal('expected-fail');
          expect(r.reason, 'a one-line reason').to.be.a('string').and.not.equal('');
          return;
        }
        expect(r.status, explain(r)).to.equal('pass');
        expect(r.caller?.toneOk, `caller heard the callee's tone: ${explain(r)}`).to.equal(true);
        if (r.callee) expect(r.callee.toneOk, `callee heard the caller's tone: ${explain(r)}`).to.equal(true);
        expect(r.caller?.pair, 'caller names its selected pair').to.not.equal(undefined);
        // The path the draft expects (candidate types on both sides); on the lossy and TURN-stopped
        // runs the same, since loss does not change reachability and TURN was never on the path.
        const path = r.pathAsDraft ? 'draft' : r.pathAlternative;
        expect(path, `path as the draft says (A ${spec.expect.caller.join('->')}, B ${spec.expect.callee.join('->')}: ${spec.expect.path}) or a listed alternative: ${explain(r)}`).to.be.a('string');
        if (r.pathAlternative) process.stderr.write(`      alternative path: ${r.pathAlternative}\n`);
      });
    }
  });
}

describe('NAT lab: teardown', () => {
  it('leaves no namespace behind', () => {
    expect(labNamespaces().filter((n) => n.includes(`-${process.pid}-`))).to.deep.equal([]);
  });
});
