import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../lib/base/clock.js';
import { decodePcma, decodePcmu, encodePcma, encodePcmu } from '../../lib/rtp/g711.js';
import { RtpSession } from '../../lib/rtp/session.js';
import { WavFileSink } from '../../lib/rtp/sinks.js';
import { createSource, readWavMono, TONE_PEAK, ToneSource, WaveFile } from '../../lib/rtp/sources.js';
import { analyzeWav, assertToneInWav, toneLevel } from '../helpers/tone.js';

function rmsOf(x: Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / x.length);
}

/** Writes a WAV file with wavefile: channels given as float arrays in -1..1. */
async function writeWav(path: string, rate: number, channels: Float64Array[], bitDepth = '16'): Promise<void> {
  const w = new WaveFile();
  const scaled = channels.map((c) => (bitDepth === '32f' ? c : Float64Array.from(c, (v) => Math.round(v * (bitDepth === '8' ? 127 : 32767)) + (bitDepth === '8' ? 128 : 0))));
  w.fromScratch(channels.length, rate, bitDepth, channels.length === 1 ? scaled[0]! : scaled);
  await writeFile(path, w.toBuffer());
}

function sine(hz: number, rate: number, seconds: number, amplitude: number): Float64Array {
  return Float64Array.from({ length: Math.round(rate * seconds) }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
}

describe('audio sources, sinks and the tone helper', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icephone-rtp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('createSource', () => {
    it('makes a -10 dBFS sine with continuous phase across reads', async () => {
      const chunked = await createSource('tone:440');
      const parts: Int16Array[] = [];
      for (let i = 0; i < 50; i++) parts.push(chunked.read(160));
      const joined = new Int16Array(8000);
      parts.forEach((p, i) => joined.set(p, i * 160));
      const whole = new ToneSource(440).read(8000);
      let maxDiff = 0;
      for (let i = 0; i < 8000; i++) maxDiff = Math.max(maxDiff, Math.abs(joined[i]! - whole[i]!));
      expect(maxDiff).to.be.at.most(1);
      expect(chunked.ended).to.equal(false);
      expect(Math.max(...joined)).to.be.closeTo(TONE_PEAK, 2);
      expect(20 * Math.log10(Math.max(...joined) / 32767)).to.be.closeTo(-10, 0.01);
      expect(rmsOf(joined)).to.be.closeTo(TONE_PEAK / Math.SQRT2, 5);
      expect(toneLevel(joined, 8000, 440)).to.be.greaterThan(0.99);
    });

    it('a whole-number tone read from its shared period equals sin(2π·hz·k/8000) sample by sample, across odd read sizes', () => {
      for (const hz of [440, 1000, 997, 3999]) {
        const tone = new ToneSource(hz);
        const sizes = [1, 160, 7, 333, 200, 4096];
        let k = 0;
        for (const n of sizes) {
          const got = tone.read(n);
          expect(got.length).to.equal(n);
          for (let i = 0; i < n; i++, k++) {
            const want = Math.round(TONE_PEAK * Math.sin((2 * Math.PI * hz * k) / 8000));
            if (got[i] !== want) expect.fail(`${hz} Hz sample ${k}: ${got[i]} != ${want}`);
          }
        }
      }
    });

    it('two sources of one tone do not share a read buffer, and a fractional tone is still computed', () => {
      const a = new ToneSource(440);
      const b = new ToneSource(440);
      const first = a.read(160);
      first.fill(0);
      expect(b.read(160).some((v) => v !== 0)).to.equal(true);
      expect(a.read(160).some((v) => v !== 0)).to.equal(true);
      const frac = new ToneSource(440.5).read(8000);
      expect(toneLevel(frac, 8000, 440.5)).to.be.greaterThan(0.99);
    });

    it("'silence' gives zeros forever", async () => {
      const s = await createSource('silence');
      expect(s.read(160).every((v) => v === 0)).to.equal(true);
      expect(s.ended).to.equal(false);
    });

    const bad = ['tone:', 'tone:abc', 'tone:0', 'tone:-5', 'tone:4000', 'beep', '', 'music.mp3'];
    for (const spec of bad) {
      it(`rejects the spec '${spec}' with a one-line reason`, async () => {
        const err = await createSource(spec).then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(Error);
        expect((err as Error).message).to.match(/tone:HZ/).and.not.match(/\n/);
      });
    }

    it('rejects a missing or non-WAV file with a one-line reason naming it', async () => {
      const missing = join(dir, 'missing.wav');
      const e1 = await createSource(missing).then(() => undefined, (e: unknown) => e as Error);
      expect(e1?.message).to.include(missing).and.not.match(/\n/);
      const junk = join(dir, 'junk.wav');
      await writeFile(junk, 'this is not RIFF data at all');
      const e2 = await createSource(junk).then(() => undefined, (e: unknown) => e as Error);
      expect(e2?.message).to.include(junk).and.match(/not a usable WAV/).and.not.match(/\n/);
    });

    it('mixes a 48 kHz stereo WAV to mono and resamples it to 8 kHz without aliasing', async () => {
      const path = join(dir, 'stereo48k.wav');
      // Left: 1000 Hz at 0.5 plus 5000 Hz at 0.3 (above 4 kHz: must be filtered, else it aliases to 3000 Hz).
      // Right: silence. Mono mix = 1000 Hz at 0.25.
      const left = sine(1000, 48000, 0.5, 0.5).map((v, i) => v + 0.3 * Math.sin((2 * Math.PI * 5000 * i) / 48000));
      await writeWav(path, 48000, [left, new Float64Array(left.length)]);
      const src = await createSource(path);
      const out = src.read(4000); // 0.5 s at 8 kHz
      expect(src.ended).to.equal(true);
      const middle = out.subarray(200, 3800); // away from the edges of the filter
      expect(rmsOf(middle) / 32767).to.be.closeTo(0.25 / Math.SQRT2, 0.005);
      expect(toneLevel(middle, 8000, 1000)).to.be.greaterThan(0.99);
      expect(toneLevel(middle, 8000, 3000)).to.be.lessThan(0.001);
      const after = src.read(160);
      expect(after.every((v) => v === 0)).to.equal(true);
    });

    it('reads 8-bit, float and 16 kHz files', async () => {
      for (const [depth, rate] of [['8', 8000], ['32f', 16000], ['16', 44100]] as const) {
        const path = join(dir, `tone-${depth}-${rate}.wav`);
        await writeWav(path, rate, [sine(600, rate, 0.3, 0.5)], depth);
        const src = await createSource(path);
        const out = src.read(2400);
        expect(toneLevel(out.subarray(100, 2300), 8000, 600), `${depth}-bit at ${rate} Hz`).to.be.greaterThan(0.98);
        expect(rmsOf(out.subarray(100, 2300)) / 32767).to.be.closeTo(0.5 / Math.SQRT2, 0.02);
        expect(src.ended).to.equal(true);
      }
    });
  });

  describe('WavFileSink and assertToneInWav', () => {
    async function recordTone(spec: string, file: string, codec: 'PCMU' | 'PCMA'): Promise<string> {
      const source = await createSource(spec);
      const path = join(dir, file);
      const sink = new WavFileSink(path);
      for (let i = 0; i < 100; i++) {
        const samples = source.read(160);
        sink.write(codec === 'PCMU' ? decodePcmu(encodePcmu(samples)) : decodePcma(encodePcma(samples)));
      }
      await sink.close();
      return path;
    }

    it('records tone:440 through PCMU as an 8 kHz mono 16-bit WAV detected at 440 Hz', async () => {
      const path = await recordTone('tone:440', 'pcmu-440.wav', 'PCMU');
      const audio = await readWavMono(path);
      expect(audio).to.include({ sampleRate: 8000, channels: 1 });
      expect(audio.samples).to.have.length(16000);
      await assertToneInWav(path, 440);
      const a = await analyzeWav(path, 440);
      expect(a.durationMs).to.equal(2000);
      expect(a.dominantHz).to.be.within(438, 442);
      expect(a.toneRatio).to.be.greaterThan(0.95);
      expect(a.rms).to.be.closeTo(0.2236, 0.01);
    });

    it('does not accept a 1000 Hz tone as 440 Hz', async () => {
      const path = await recordTone('tone:1000', 'pcma-1000.wav', 'PCMA');
      await assertToneInWav(path, 1000);
      const err = await assertToneInWav(path, 440).then(() => undefined, (e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect(err!.message).to.include('dominant frequency is 1000 Hz').and.include('440 Hz');
    });

    it('does not accept silence or a nearby tone', async () => {
      const silent = await recordTone('silence', 'silence.wav', 'PCMU');
      const e1 = await assertToneInWav(silent, 440).then(() => undefined, (e: unknown) => e as Error);
      expect(e1!.message).to.match(/silence floor/);
      const near = await recordTone('tone:500', 'near.wav', 'PCMU');
      const e2 = await assertToneInWav(near, 440).then(() => undefined, (e: unknown) => e as Error);
      expect(e2, 'a 500 Hz tone passed as 440 Hz').to.be.instanceOf(Error);
    });

    it('analyzes a 48 kHz stereo file and tolerates a few Hz of drift', async () => {
      const path = join(dir, 'analyze48k.wav');
      await writeWav(path, 48000, [sine(443, 48000, 3, 0.3), sine(443, 48000, 3, 0.3)]);
      const a = await analyzeWav(path, 440, { skipMs: 500 });
      expect(a.durationMs).to.equal(3000);
      expect(a.dominantHz).to.be.within(441, 445);
      expect(a.toneRatio).to.be.greaterThan(0.9);
      await assertToneInWav(path, 440);
    });

    it('ignores writes after close and closes once', async () => {
      const path = join(dir, 'closed.wav');
      const sink = new WavFileSink(path);
      sink.write(new Int16Array(80).fill(1000));
      const p = sink.close();
      sink.write(new Int16Array(80));
      await Promise.all([p, sink.close()]);
      const audio = await readWavMono(path);
      expect(audio.samples).to.have.length(80);
      expect(audio.samples[0]).to.be.closeTo(1000 / 32767, 1e-4);
    });

    it('carries a tone end to end: tone:440 → RtpSession (PCMA) → RtpSession → WavFileSink', async () => {
      const clock = new ManualClock();
      const path = join(dir, 'session.wav');
      const sink = new WavFileSink(path);
      const receiver = new RtpSession({ clock, codec: 'PCMA', payloadType: 8, sink, sendRtp: () => {}, sendRtcp: () => {} });
      const sender = new RtpSession({
        clock, codec: 'PCMA', payloadType: 8, source: await createSource('tone:440'),
        sendRtp: (p) => receiver.receive(p), sendRtcp: (p) => receiver.receive(p),
      });
      receiver.start();
      sender.start();
      clock.advance(1999);
      sender.stop();
      receiver.stop();
      await sink.close();
      expect(sink.sampleCount).to.equal(16000);
      await assertToneInWav(path, 440);
    });
  });
});
