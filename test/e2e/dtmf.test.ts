/**
 * DTMF (RFC 4733) between icephone processes and from SIPp playing the RFC 2833 pcaps Debian's
 * sip-tester ships: digits arrive once each, in order, and are listed in `dtmf.received`.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PCAP_DIR = '/usr/share/sip-tester';

describe('e2e: DTMF (RFC 4733 telephone-event)', function () {
  this.timeout(60000);

  it('icephone call --dtmf 1234567890*#ABCD: the icephone callee reports every digit once, in order', async () => {
    const port = await freePortPair();
    const answer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--json']);
    await answer.waitForStderr(/sip: listening/, 15000);
    const digits = '1234567890*#ABCD';
    const call = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '6', '--dtmf', digits, '--json', '--trace']);
    const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
    expect(callCode, call.stderr().slice(-3000)).to.equal(0);
    expect(answerCode, answer.stderr().slice(-3000)).to.equal(0);
    expect(call.stderr()).to.match(/^a=rtpmap:101 telephone-event\/8000\r?$/m);
    expect(call.stderr()).to.match(/^a=fmtp:101 0-16\r?$/m);
    const [cs] = call.summaries();
    const [as] = answer.summaries();
    expect(cs.call.dtmf.sent).to.equal(digits);
    expect(as.call.dtmf.received).to.equal(digits);
    // One event per digit with its duration (100 ms by default).
    const lines = answer.stderr().match(/^dtmf: received (\S) \((\d+) ms\)$/gm) ?? [];
    expect(lines).to.have.length(digits.length);
    for (const l of lines) expect(Number(/\((\d+) ms\)/.exec(l)![1])).to.be.within(90, 110);
  });

  describe('SIPp plays the sip-tester RFC 2833 pcaps to `icephone answer`', function () {
    before(function () {
      const pcaps = existsSync(PCAP_DIR) && existsSync(join(PCAP_DIR, 'dtmf_2833_1.pcap'));
      if (which('sipp') && pcaps) return;
      if (isRoot()) throw new Error('sipp or its DTMF pcaps missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: sipp (sip-tester) is not installed\n');
      this.skip();
    });

    it('digits 1, 5, 9, *, # and 0 played from the pcaps appear, with their values, in dtmf.received', async () => {
      const port = await freePortPair();
      const answer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--json', '--trace']);
      await answer.waitForStderr(/sip: listening/, 15000);
      const sipPort = await freeUdpPort();
      const mediaPort = await freePortPair();
      const sipp = spawnProcess('sipp', [
        `127.0.0.1:${port}`, '-sf', join(root, 'scenarios', 'sipp-dtmf-uac.xml'), '-s', 'bob', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
        '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
      ], { name: 'sipp-dtmf', cwd: testTempDir('icephone-sipp-') });
      try {
        expect(await sipp.waitForExit(40000), sipp.tail(3000)).to.equal(0);
        await exitWithin(answer, 15000);
        const [s] = answer.summaries();
        expect(s, answer.stderr().slice(-3000)).to.not.equal(undefined);
        expect(s.call.dtmf.received).to.equal('159*#0');
      } finally {
        await sipp.stop();
      }
    });
  });
});
