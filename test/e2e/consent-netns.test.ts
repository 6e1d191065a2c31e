/**
 * Consent freshness (RFC 7675) on a real network: two icephone processes in network namespaces;
 * mid-call every non-SIP UDP datagram is dropped with iptables. Consent checks stop being answered,
 * consent expires 30 s after the last answer (RFC 7675 §5.1), media stops and the call ends with
 * consent named as the reason. SIP keeps working, so the hang-up (BYE) still gets through.
 */
import { expect } from 'chai';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';

const A_IP = '198.51.100.1';
const B_IP = '198.51.100.2';
const SIP_PORT = 5060;

/** Packets counted so far by the first DROP rule of the INPUT chain in `ns`. */
function dropCount(lab: NetnsLab, ns: string): number {
  const out = lab.exec(ns, 'iptables', ['-L', 'INPUT', '-v', '-n', '-x']);
  const line = out.split('\n').find((l) => /DROP/.test(l));
  return line ? Number(line.trim().split(/\s+/)[0]) : 0;
}

describe('e2e: consent freshness (RFC 7675) with the media path blocked mid-call', function () {
  this.timeout(120_000);
  const support = netnsSupport();
  let lab: NetnsLab | undefined;

  before(function () {
    if (!support.ok) {
      console.log(`    skipped: ${support.reason}`);
      this.skip();
    }
  });
  afterEach(() => lab?.destroy());

  it('RTP from the blocked side stops within 35 s and the summary names consent', async () => {
    lab = new NetnsLab();
    const a = lab.createNamespace('a');
    const b = lab.createNamespace('b');
    lab.connect(a, `${A_IP}/24`, b, `${B_IP}/24`);
    const callee = runIcephone(['answer', '--listen', `${B_IP}:${SIP_PORT}`, '--max-calls', '1', '--play', 'tone:660', '--json'], { prefix: ['ip', 'netns', 'exec', b] });
    await callee.waitForStderr(/sip: listening/, 20000);
    const caller = runIcephone(['call', `sip:bob@${B_IP}:${SIP_PORT}`, '--listen', `${A_IP}:${SIP_PORT}`, '--duration', '90', '--play', 'tone:440', '--json'], { prefix: ['ip', 'netns', 'exec', a] });
    await caller.waitForStderr(/ice: selected pair/, 20000);
    await new Promise((r) => setTimeout(r, 2000));
    // Block media both ways (everything UDP but SIP); count what is dropped.
    for (const ns of [a, b]) lab.exec(ns, 'iptables', ['-A', 'INPUT', '-p', 'udp', '!', '--dport', String(SIP_PORT), '!', '--sport', String(SIP_PORT), '-j', 'DROP']);
    const blockedAt = Date.now();
    // Both sides run consent checks; whichever expires first hangs up (BYE over the SIP that still
    // works) and names consent, the other ends on that BYE.
    const [code, calleeCode] = await Promise.all([exitWithin(caller, 60_000), exitWithin(callee, 60_000)]);
    const endedAfterMs = Date.now() - blockedAt;
    const [cs] = caller.summaries();
    const [bs] = callee.summaries();
    expect(cs, caller.stderr().slice(-3000)).to.not.equal(undefined);
    expect(bs, callee.stderr().slice(-3000)).to.not.equal(undefined);
    const lost = [cs, bs].filter((x) => /consent/i.test(x.call.reason ?? ''));
    expect(lost.length, `reasons: ${cs.call.reason} / ${bs.call.reason}`).to.be.at.least(1);
    expect(lost[0].ice.state).to.equal('failed');
    expect(lost[0].ice.reason).to.match(/consent/i);
    expect(endedAfterMs).to.be.at.most(35_000);
    expect(endedAfterMs).to.be.at.least(20_000);
    expect(code).to.be.a('number');
    expect(calleeCode).to.be.a('number');
    // Nothing more arrives at the dropping rules: both sides stopped sending media.
    const before = [dropCount(lab, a), dropCount(lab, b)];
    await new Promise((r) => setTimeout(r, 1500));
    const after = [dropCount(lab, a), dropCount(lab, b)];
    expect(before[0], 'B->A media was blocked').to.be.greaterThan(0);
    expect(after).to.deep.equal(before);
  });
});
