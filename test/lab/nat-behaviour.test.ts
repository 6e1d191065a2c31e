/**
 * Evidence for the NAT recipes (scripts/lab/nat.ts): each RFC 4787 behaviour the lab builds is
 * measured from behind it with RFC 5780 tests against coturn listening on two addresses
 * (scripts/lab/stun-probe.ts): mapping stability towards two server addresses (and another port),
 * filtering of responses from another address and port (CHANGE-REQUEST), and hairpinning.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { FilteringBehaviour, MappingBehaviour, ScenarioSpec } from '../../scripts/lab/scenario.js';
import { Topology } from '../../scripts/lab/topology.js';
import { labPrerequisites } from '../helpers/lab.js';
import { spawnProcess, type ManagedProcess } from '../helpers/process.js';
import { testTempDir } from '../helpers/tmp.js';

function probeScenario(mapping: MappingBehaviour, filtering: FilteringBehaviour): ScenarioSpec {
  return {
    id: 'probe', title: 'NAT behaviour probe', file: 'probe',
    expect: { caller: ['-', '-'], callee: ['-', '-'], path: '-', withoutTurn: 'connects' },
    nodes: {
      client: { routes: [['default', '10.0.9.254']] },
      nat: { nat: { inside: 'lan', outside: 'wan', mapping, filtering } },
      server: {},
    },
    segments: {
      lan: { cidr: '10.0.9.0/24', members: { client: '10.0.9.1', nat: '10.0.9.254' } },
      wan: { cidr: '203.0.113.0/24', members: { nat: '203.0.113.1', server: '203.0.113.10' } },
    },
    phones: {}, call: { from: '', to: '' },
  } as unknown as ScenarioSpec;
}

const cases: Array<{ name: string; mapping: MappingBehaviour; filtering: FilteringBehaviour }> = [
  { name: 'full cone', mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  { name: 'restricted cone', mapping: 'endpoint-independent', filtering: 'address-dependent' },
  { name: 'port-restricted cone', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  { name: 'symmetric (--random-fully)', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
];

describe('NAT lab: NAT recipes behave as RFC 4787 names them (RFC 5780 probe against coturn)', function () {
  this.timeout(60_000);
  before(function () {
    const missing = labPrerequisites();
    if (missing && typeof process.getuid === 'function' && process.getuid() === 0) throw new Error(`the NAT lab cannot run: ${missing}`);
    if (missing) {
      process.stderr.write(`skipped: ${missing}\n`);
      this.skip();
    }
  });

  for (const c of cases) {
    it(`${c.name}: ${c.mapping} mapping, ${c.filtering} filtering, no hairpinning`, async () => {
      const topology = Topology.build(probeScenario(c.mapping, c.filtering) as ScenarioSpec);
      let coturn: ManagedProcess | undefined;
      try {
        topology.exec('server', 'ip', ['addr', 'add', '203.0.113.11/24', 'dev', 'wan']);
        const dir = testTempDir('icephone-probe-');
        // Two listening addresses turn on coturn's RFC 5780 support (alternate port: 3479).
        coturn = spawnProcess('ip', [...topology.prefixFor('server').slice(1), 'turnserver', '-n', '--listening-ip', '203.0.113.10', '--listening-ip', '203.0.113.11',
          '--listening-port', '3478', '--no-tls', '--no-dtls', '--no-cli', '--stun-only', '--log-file=stdout', '--simple-log',
          `--pidfile=${join(dir, 'pid')}`, `--userdb=${join(dir, 'db')}`], { name: 'turnserver-probe' });
        for (let i = 0; i < 50 && !/203\.0\.113\.11:3479/.test(topology.exec('server', 'ss', ['-Hlun'])); i++) await new Promise((r) => setTimeout(r, 100));
        const run = spawnSync('ip', [...topology.prefixFor('client').slice(1), process.execPath, '--import', 'tsx', 'scripts/lab/stun-probe.ts', '203.0.113.10:3478', '203.0.113.11'], {
          encoding: 'utf8', timeout: 30_000,
        });
        expect(run.status, run.stderr).to.equal(0);
        const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
        process.stderr.write(`      ${c.name}: ${JSON.stringify(result)}\n`);
        expect(result.primary).to.equal('ok');
        expect(result.mapped[0].address).to.equal('203.0.113.1');
        expect(result.mapping, 'mapping').to.equal(c.mapping);
        expect(result.filtering, 'filtering').to.equal(c.filtering);
        expect(result.hairpin, 'hairpinning').to.equal(false);
      } finally {
        await coturn?.stop();
        topology.destroy();
      }
    });
  }
});
