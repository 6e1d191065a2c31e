/**
 * SIPp as a peer that speaks neither `a=candidate` nor `a=alt` (scenarios/sipp-plain-uac.xml and
 * scenarios/sipp-plain-uas.xml), in both directions, with SIPp echoing RTP (`-rtp_echo`): icephone
 * falls back to plain RFC 3264 offer/answer (lib/sdp/format.ts: format 'none'), sends media to the
 * m/c line, and finds its own tone in what comes back.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const scenario = (name: string) => join(root, 'scenarios', name);

function requireSipp(ctx: Mocha.Context): void {
  if (which('sipp')) return;
  if (isRoot()) throw new Error('sipp missing although running as root: run scripts/install-deps.sh');
  process.stderr.write('skipped: sipp is not installed (scripts/install-deps.sh as root installs it)\n');
  ctx.skip();
}

/** The SDP (consecutive `x=` lines) after the header block of the first message matching `start`. */
function bodyAfter(trace: string, start: RegExp): string {
  const m = start.exec(trace);
  expect(m, `no ${start} in trace:\n${trace.slice(0, 3000)}`).to.not.equal(null);
  const rest = trace.slice(m!.index);
  const lines: string[] = [];
  for (const line of rest.slice(rest.indexOf('\n\n') + 2).split('\n')) {
    if (!/^[a-z]=/.test(line)) break;
    lines.push(line);
  }
  return lines.join('\n');
}

describe('e2e: SIPp as a non-ICE peer (plain SDP, RTP echo)', function () {
  this.timeout(60000);
  before(function () {
    requireSipp(this);
  });

  it('icephone (--sdp both) calls SIPp: plain answer, media to its m/c line, own tone echoed back', async () => {
    const dir = testTempDir('icephone-sipp-');
    const sipPort = await freePortPair();
    const mediaPort = await freePortPair();
    const sipp = spawnProcess('sipp', [
      '-sf', scenario('sipp-plain-uas.xml'), '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
      '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
    ], { name: 'sipp-uas', cwd: dir });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const caller = runIcephone([
        'call', `sip:sipp@127.0.0.1:${sipPort}`, '--listen', '127.0.0.1:0', '--duration', '3',
        '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
      ]);
      const code = await exitWithin(caller, 30000);
      expect(code, caller.stderr().slice(-4000)).to.equal(0);
      const trace = caller.stderr();
      const offer = bodyAfter(trace, /^INVITE sip:/m);
      const answer = bodyAfter(trace, /^SIP\/2\.0 200 OK\n(?:.+\n)*?CSeq: \d+ INVITE\n/m);
      // Our offer carries both formats (the default), m/c on the address most likely to work.
      expect(offer).to.match(/^a=candidate:/m);
      expect(offer).to.match(/^a=alt:/m);
      const mc = /^c=IN IP4 (\S+)[\s\S]*^m=audio (\d+)/m.exec(offer)!;
      expect(offer).to.match(new RegExp(`^a=alt:\\S+ \\S+ : \\S+ \\S+ ${mc[1]!.replace(/\./g, '\\.')} ${mc[2]}`, 'm'));
      // SIPp answers plainly; media goes to its m/c line.
      expect(answer).to.not.match(/^a=(candidate|alt|ice-ufrag):/m);
      expect(answer).to.match(new RegExp(`^m=audio ${mediaPort} `, 'm'));
      const [s] = caller.summaries();
      expect(s.ice.format).to.equal('none');
      expect(s.rtp.packetsSent).to.be.greaterThan(100);
      expect(s.rtp.packetsReceived, 'echoed RTP').to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'caller.wav'), 440);
      expect(await sipp.waitForExit(15000), sipp.tail(3000)).to.equal(0);
    } finally {
      await sipp.stop();
    }
  });

  it('SIPp calls icephone (answer): plain answer without a=candidate or a=alt, media to the m/c line, own tone echoed back', async () => {
    const dir = testTempDir('icephone-sipp-');
    const port = await freePortPair();
    const callee = runIcephone([
      'answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1',
      '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace',
    ]);
    await callee.waitForStderr(/sip: listening/, 15000);
    const sipPort = await freeUdpPort();
    const mediaPort = await freePortPair();
    const sipp = spawnProcess('sipp', [
      `127.0.0.1:${port}`, '-sf', scenario('sipp-plain-uac.xml'), '-s', 'bob', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
      '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
    ], { name: 'sipp-uac', cwd: dir });
    try {
      const code = await exitWithin(callee, 30000);
      expect(code, callee.stderr().slice(-4000)).to.equal(0);
      const trace = callee.stderr();
      const offer = bodyAfter(trace, /^INVITE sip:/m);
      const answer = bodyAfter(trace, /^SIP\/2\.0 200 OK\n(?:.+\n)*?CSeq: \d+ INVITE\n/m);
      expect(offer).to.not.match(/^a=(candidate|alt|ice-ufrag):/m);
      // An offer with neither format gets a plain answer (lib/sdp/format.ts).
      expect(answer).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd):/m);
      expect(answer).to.match(/^m=audio \d+ RTP\/AVP 0/m);
      const [s] = callee.summaries();
      expect(s.ice.format).to.equal('none');
      expect(s.rtp.packetsSent).to.be.greaterThan(100);
      expect(s.rtp.packetsReceived, 'echoed RTP').to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'callee.wav'), 660);
      expect(await sipp.waitForExit(15000), sipp.tail(3000)).to.equal(0);
    } finally {
      await sipp.stop();
    }
  });

  it('SIPp holds icephone with a re-INVITE a=sendonly: the answer says a=recvonly and icephone\'s RTP stops until a=sendrecv', async () => {
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--json', '--trace']);
    await callee.waitForStderr(/sip: listening/, 15000);
    // SIPp's SDP names this socket: it timestamps icephone's RTP and echoes it back.
    const media = createSocket('udp4');
    media.bind(0, '127.0.0.1');
    await once(media, 'listening');
    const arrivals: Array<{ t: number; marker: boolean }> = [];
    media.on('message', (data, rinfo) => {
      if (data.length < 12 || data[0] >> 6 !== 2) return;
      arrivals.push({ t: Date.now(), marker: (data[1] & 0x80) !== 0 });
      media.send(data, rinfo.port, rinfo.address);
    });
    const sipPort = await freeUdpPort();
    const sipp = spawnProcess('sipp', [
      `127.0.0.1:${port}`, '-sf', scenario('sipp-hold-uac.xml'), '-s', 'bob', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
      '-key', 'mport', String(media.address().port), '-nostdin', '-timeout', '40s', '-timeout_error',
    ], { name: 'sipp-hold', cwd: testTempDir('icephone-sipp-') });
    try {
      // SIPp fails the call unless each 200 carries the direction RFC 3264 §6.1 asks for.
      expect(await sipp.waitForExit(30000), sipp.tail(3000)).to.equal(0);
      await exitWithin(callee, 15000);
      const trace = callee.stderr();
      expect(trace).to.match(/^a=recvonly\r?$/m);
      // The longest silence in icephone's stream is the hold (2 s between the re-INVITEs).
      let gap = { ms: 0, at: 0 };
      for (let i = 1; i < arrivals.length; i++) {
        const ms = arrivals[i].t - arrivals[i - 1].t;
        if (ms > gap.ms) gap = { ms, at: i };
      }
      expect(gap.ms, 'RTP paused while held').to.be.within(1500, 2600);
      expect(arrivals.slice(0, gap.at).length, 'RTP before the hold').to.be.greaterThan(50);
      expect(arrivals.slice(gap.at).length, 'RTP after the resume').to.be.greaterThan(50);
      expect(arrivals[gap.at].marker, 'a new talkspurt after the resume').to.equal(true);
      const [s] = callee.summaries();
      expect(s.call.holds.map((h: any) => h.by)).to.deep.equal(['remote']);
      expect(s.call.holds[0].endMs).to.not.equal(null);
    } finally {
      await sipp.stop();
      media.close();
    }
  });
});
