import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';

/**
 * SIP calls over UDP with 20% random loss in each direction: two namespaces joined by a veth
 * pair, `iptables ... -m statistic --mode random --probability 0.2 -j DROP` on INPUT in each,
 * one sip.js UserAgent (on our transport) per namespace as a child process. Every call must
 * be established and hung up with a 200 to the BYE, and retransmissions must have happened.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const peerScript = path.join(here, 'fixtures', 'loss-peer.ts');
const CALLS = 12;
const LOSS = '0.2';

interface Line { event: string; [k: string]: unknown }

/** Collects JSON lines from a child's stdout; resolves `waitFor(event)` when one arrives. */
function lines(child: ChildProcess, tag: string, stderr: string[]) {
  const got: Line[] = [];
  const waiters: Array<{ event: string; resolve: (l: Line) => void }> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const l = JSON.parse(text) as Line;
        got.push(l);
        for (const w of waiters.filter((x) => x.event === l.event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      } catch {
        stderr.push(`${tag} stdout: ${text}`);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => stderr.push(`${tag}: ${d.toString().trimEnd()}`));
  return {
    got,
    waitFor(event: string, ms: number): Promise<Line> {
      const found = got.find((l) => l.event === event);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${tag}: no '${event}' within ${ms} ms\n${stderr.slice(-20).join('\n')}`)), ms);
        waiters.push({ event, resolve: (l) => { clearTimeout(timer); resolve(l); } });
        child.once('exit', (code) => {
          if (!got.some((l) => l.event === event)) {
            clearTimeout(timer);
            reject(new Error(`${tag} exited (${code}) before '${event}'\n${stderr.slice(-20).join('\n')}`));
          }
        });
      });
    },
  };
}

describe('SIP over UDP with 20% packet loss each way (network namespaces)', function () {
  this.timeout(300_000);
  const support = netnsSupport();
  let lab: NetnsLab | undefined;

  before(function () {
    if (!support.ok) {
      console.log(`    skipped: ${support.reason}`);
      this.skip();
    }
  });

  after(() => {
    lab?.destroy();
  });

  it(`completes ${CALLS} calls in a row, with retransmissions`, async () => {
    lab = new NetnsLab();
    const a = lab.createNamespace('a');
    const b = lab.createNamespace('b');
    lab.connect(a, '198.51.100.1/24', b, '198.51.100.2/24');
    for (const ns of [a, b]) {
      lab.exec(ns, 'iptables', ['-A', 'INPUT', '-m', 'statistic', '--mode', 'random', '--probability', LOSS, '-j', 'DROP']);
    }
    expect(lab.exec(a, 'iptables', ['-S', 'INPUT'])).to.include('--probability 0.2');

    const stderr: string[] = [];
    const node = process.execPath;
    const spawnOpts = { cwd: repoRoot };
    const uas = lab.spawn(b, node, ['--import', 'tsx', peerScript, 'uas', '--listen', '198.51.100.2:5060'], spawnOpts);
    const uasOut = lines(uas, 'uas', stderr);
    await uasOut.waitFor('ready', 30_000);

    const uac = lab.spawn(a, node, [
      '--import', 'tsx', peerScript, 'uac', '--listen', '198.51.100.1:5060',
      '--target', 'sip:bob@198.51.100.2:5060', '--calls', String(CALLS), '--hold', '300',
    ], spawnOpts);
    const uacOut = lines(uac, 'uac', stderr);
    const uacDone = await uacOut.waitFor('done', 280_000);
    uas.kill('SIGTERM');
    const uasDone = await uasOut.waitFor('done', 10_000);

    const calls = uacOut.got.filter((l) => l.event === 'call');
    const summary = { calls, uac: uacDone, uas: uasDone };
    console.log(`      ${JSON.stringify(summary.calls.map((c) => `${c.established ? 'ok' : 'FAIL'}/${c.byeStatus}/${c.ms}ms`))}`);
    console.log(`      uac ${JSON.stringify(uacDone.stats)} wire-retransmissions=${String(uacDone.wireRetransmissions)}`);
    console.log(`      uas ${JSON.stringify(uasDone.stats)} wire-retransmissions=${String(uasDone.wireRetransmissions)}`);

    expect(calls).to.have.length(CALLS);
    for (const c of calls) {
      expect(c.established, JSON.stringify(c)).to.equal(true);
      expect(c.byeStatus, JSON.stringify(c)).to.equal(200);
    }
    expect(uasDone.established).to.equal(CALLS);
    const uacStats = uacDone.stats as { retransmissionsSent: number; retransmissionsAbsorbed: number };
    const uasStats = uasDone.stats as { retransmissionsSent: number; retransmissionsAbsorbed: number };
    const layerWork = uacStats.retransmissionsSent + uasStats.retransmissionsSent + uacStats.retransmissionsAbsorbed + uasStats.retransmissionsAbsorbed;
    const wire = Number(uacDone.wireRetransmissions) + Number(uasDone.wireRetransmissions);
    expect(wire, 'no message was ever sent twice: was loss applied?').to.be.greaterThan(0);
    expect(layerWork, 'the retransmission layer never acted').to.be.greaterThan(0);
  });
});
