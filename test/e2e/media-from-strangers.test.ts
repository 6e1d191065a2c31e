/**
 * Media only from the peer (RFC 8445 §11; issue 13): during an ICE call between two icephones on
 * loopback, a third process sends RTP with another SSRC and a 1000 Hz tone to the callee's media
 * port. It is counted as dropped, the callee's recording holds the caller's 440 Hz tone and not
 * the stranger's, and the recording is as long as the call. The same with the draft's a=alt engine
 * on both sides (`--sdp alt`), whose media paths are filtered the same way.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { encodePcmu } from '../../lib/rtp/g711.js';
import { serializeRtp } from '../../lib/rtp/packet.js';
import { readWavMono } from '../../lib/rtp/sources.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';
import { assertToneInWav, toneLevel } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const VARIANTS = [
  {
    name: 'ICE (a=candidate)', sdp: [] as string[], ready: /ice: selected pair/,
    // The callee's media port: its host candidate for component 1 in the answer it sent.
    mediaPort: (answer: string) => Number(/^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 (\d+) typ host/m.exec(answer)![1]),
  },
  {
    // The draft's engine (lib/ice/alt-agent.ts): media only from the chosen path's alternate and
    // the addresses that passed its checks (draft-rosenberg-sipping-ice-01 §5.5, §5.6).
    name: 'the draft\'s a=alt (--sdp alt on both sides)', sdp: ['--sdp', 'alt'], ready: /media: flowing/,
    mediaPort: (answer: string) => Number(/^a=alt:\S+ \S+ : \S+ \S+ 127\.0\.0\.1 (\d+)/m.exec(answer)![1]),
  },
];

describe('e2e: RTP from a third party during a call', function () {
  this.timeout(40000);

  for (const variant of VARIANTS) {
    it(`${variant.name}: is counted and dropped; the recording holds the peer's tone only and lasts as long as the call`, async () => {
      const dir = testTempDir('icephone-stranger-');
      const port = await freePortPair();
      const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace', ...variant.sdp]);
      await callee.waitForStderr(/sip: listening/, 15000);
      const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '4', '--play', 'tone:440', '--json', ...variant.sdp]);
      await callee.waitForStderr(variant.ready, 15000);
      const trace = callee.stderr();
      const answer = trace.slice(trace.search(/^>>> to .*\nSIP\/2\.0 200 OK/m));
      const mediaPort = variant.mediaPort(answer);
      const stranger = createSocket('udp4');
      stranger.bind(0, '127.0.0.1');
      await once(stranger, 'listening');
      // 2 s of a 1000 Hz tone at 50 packets/s, another SSRC.
      for (let i = 0; i < 100; i++) {
        const samples = new Int16Array(160);
        for (let n = 0; n < 160; n++) samples[n] = Math.round(12000 * Math.sin((2 * Math.PI * 1000 * (i * 160 + n)) / 8000));
        stranger.send(serializeRtp({ marker: i === 0, payloadType: 0, sequenceNumber: i, timestamp: i * 160 + 5_000_000, ssrc: 0x5151, payload: encodePcmu(samples) }), mediaPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 20));
      }
      stranger.close();
      const [cc, ac] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
      expect(cc, caller.stderr().slice(-2000)).to.equal(0);
      expect(ac, callee.stderr().slice(-2000)).to.equal(0);
      const [s] = callee.summaries();
      if (variant.sdp.length) expect(s.ice.format, 'the call used a=alt').to.equal('alt');
      expect(s.dropped.mediaFromStrangers, 'stranger packets counted').to.be.at.least(95);
      await assertToneInWav(join(dir, 'callee.wav'), 440);
      const heard = await readWavMono(join(dir, 'callee.wav'));
      expect(toneLevel(Int16Array.from(heard.samples, (v) => Math.round(v * 32767)), heard.sampleRate, 1000), 'no 1000 Hz from the stranger').to.be.lessThan(0.05);
      // The recording is as long as the media part of the call (4 s), not stretched by foreign timestamps.
      expect(heard.samples.length / heard.sampleRate).to.be.within(3, 5.5);
    });
  }
});
