/**
 * Audio sources for the RTP sender: 8 kHz mono 16-bit linear PCM pulled one packet at a time.
 * A source is a tone (`tone:HZ`), silence, or a WAV file of any rate and channel count
 * (mixed to mono and resampled to 8 kHz when opened). WAV files are read with wavefile.
 */
import { readFile } from 'node:fs/promises';
import * as wavefileModule from 'wavefile';

/**
 * wavefile's WaveFile class. The package is CommonJS with an ESM "module" entry: Node's own
 * loader exposes it as `default.WaveFile`, loaders that honour "module" (tsx) as a named
 * export, so both shapes are accepted.
 */
export const WaveFile: typeof wavefileModule.WaveFile = (() => {
  const mod = wavefileModule as unknown as { WaveFile?: typeof wavefileModule.WaveFile; default?: { WaveFile?: typeof wavefileModule.WaveFile } };
  const ctor = mod.WaveFile ?? mod.default?.WaveFile;
  if (!ctor) throw new Error('the wavefile package does not export WaveFile');
  return ctor;
})();

/** Sample rate of every AudioSource, in Hz (the G.711 clock rate, RFC 3551 §4.5.14). */
export const SOURCE_SAMPLE_RATE = 8000;

export interface AudioSource {
  /** Returns exactly `n` samples (8 kHz mono 16-bit); silence once the source has ended. */
  read(n: number): Int16Array;
  /** True once a finite source (a WAV file) has delivered all its samples. */
  readonly ended: boolean;
}

/** Peak amplitude of generated tones: -10 dBFS (10^(-10/20) of full scale). */
export const TONE_PEAK = Math.round(32767 * 10 ** (-10 / 20));

/**
 * One period of a tone whose frequency divides into the sample rate: `sampleRate / gcd(hz, sampleRate)`
 * samples (200 for 440 Hz at 8 kHz, at most 8,000), shared by every ToneSource of that tone, so
 * a busy answerer playing the default tone to hundreds of calls copies samples instead of computing
 * 160 sines per packet per call. Keyed by `hz/peak/sampleRate`; a handful of entries at most.
 */
const TONE_PERIODS = new Map<string, Int16Array>();
const MAX_PERIOD = 8000;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function tonePeriod(hz: number, peak: number, sampleRate: number): Int16Array | undefined {
  if (!Number.isInteger(hz) || !Number.isInteger(sampleRate)) return undefined;
  const length = sampleRate / gcd(hz, sampleRate);
  if (length > MAX_PERIOD) return undefined;
  const key = `${hz}/${peak}/${sampleRate}`;
  let period = TONE_PERIODS.get(key);
  if (!period) {
    period = new Int16Array(length);
    for (let k = 0; k < length; k++) period[k] = Math.round(peak * Math.sin((2 * Math.PI * hz * k) / sampleRate));
    if (TONE_PERIODS.size < 64) TONE_PERIODS.set(key, period);
  }
  return period;
}

/**
 * A continuous sine wave at `hz`, phase carried across reads so packets join without clicks.
 * Sample k is `round(peak * sin(2π * hz * k / sampleRate))`. A whole-number frequency is read from
 * one precomputed period (see TONE_PERIODS); any other is computed per sample.
 */
export class ToneSource implements AudioSource {
  readonly ended = false;
  private phase = 0;
  private readonly step: number;
  private readonly period: Int16Array | undefined;
  /** Index of the next sample in `period`. */
  private position = 0;

  /**
   * @param hz tone frequency in Hz, above 0 and below half the sample rate
   * @param peak peak amplitude in 16-bit units (default -10 dBFS)
   * @throws Error when hz is not between 0 and half the sample rate
   */
  constructor(readonly hz: number, private readonly peak = TONE_PEAK, sampleRate = SOURCE_SAMPLE_RATE) {
    if (!(hz > 0 && hz < sampleRate / 2)) throw new Error(`tone frequency ${hz} Hz is not between 0 and ${sampleRate / 2} Hz`);
    this.step = (2 * Math.PI * hz) / sampleRate;
    this.period = tonePeriod(hz, peak, sampleRate);
  }

  read(n: number): Int16Array {
    const out = new Int16Array(n);
    const period = this.period;
    if (period) {
      let filled = 0;
      while (filled < n) {
        const take = Math.min(n - filled, period.length - this.position);
        out.set(period.subarray(this.position, this.position + take), filled);
        filled += take;
        this.position = (this.position + take) % period.length;
      }
      return out;
    }
    for (let i = 0; i < n; i++) {
      out[i] = Math.round(this.peak * Math.sin(this.phase));
      this.phase += this.step;
    }
    // Keep the phase small so precision does not degrade over long calls.
    this.phase %= 2 * Math.PI;
    return out;
  }
}

/** Endless silence. */
export class SilenceSource implements AudioSource {
  readonly ended = false;
  read(n: number): Int16Array {
    return new Int16Array(n);
  }
}

/** Plays a buffer of 8 kHz samples once, then silence with `ended` true. */
export class BufferSource implements AudioSource {
  private position = 0;

  constructor(private readonly samples: Int16Array) {}

  get ended(): boolean {
    return this.position >= this.samples.length;
  }

  read(n: number): Int16Array {
    const out = new Int16Array(n);
    const take = Math.min(n, this.samples.length - this.position);
    if (take > 0) {
      out.set(this.samples.subarray(this.position, this.position + take));
      this.position += take;
    }
    return out;
  }
}

/** A decoded WAV file: mono samples scaled to -1..1 and their rate in Hz. */
export interface MonoAudio {
  samples: Float64Array;
  sampleRate: number;
  /** Channel count of the file before mixing. */
  channels: number;
}

// wavefile's typings declare `fmt` as `object`; these are the fields read here.
interface WavFormat {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/**
 * Decodes WAV bytes to mono floats (channels averaged). Handles integer and float PCM,
 * WAVE_FORMAT_EXTENSIBLE, G.711 A-law/mu-law and IMA ADPCM files.
 * @throws Error with a one-line reason when the bytes are not a usable WAV file.
 */
export function decodeWavMono(bytes: Uint8Array): MonoAudio {
  const wav = new WaveFile(bytes);
  const fmt = wav.fmt as WavFormat;
  const channels = fmt.numChannels;
  const sampleRate = fmt.sampleRate;
  if (!(channels >= 1) || !(sampleRate > 0)) throw new Error(`WAV header has ${channels} channels at ${sampleRate} Hz`);
  if (fmt.audioFormat === 6) wav.fromALaw();
  else if (fmt.audioFormat === 7) wav.fromMuLaw();
  else if (fmt.audioFormat === 17) wav.fromIMAADPCM();
  else if (fmt.audioFormat !== 1 && fmt.audioFormat !== 3 && fmt.audioFormat !== 0xfffe) {
    throw new Error(`WAV audio format ${fmt.audioFormat} is not PCM, float, A-law, mu-law or IMA ADPCM`);
  }
  // Normalize every integer/float depth to 32-bit float in -1..1.
  if (wav.bitDepth !== '32f') wav.toBitDepth('32f');
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const planes: Float64Array[] = channels === 1 ? [raw as Float64Array] : (raw as Float64Array[]);
  const length = planes[0]?.length ?? 0;
  const samples = new Float64Array(length);
  for (const plane of planes) for (let i = 0; i < length; i++) samples[i]! += plane[i]! / planes.length;
  return { samples, sampleRate, channels };
}

/** Reads a WAV file as mono floats. @throws Error with a one-line reason naming the file. */
export async function readWavMono(path: string): Promise<MonoAudio> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`cannot read WAV file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return decodeWavMono(bytes);
  } catch (e) {
    throw new Error(`${path} is not a usable WAV file: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Resamples mono audio with a Blackman-windowed sinc low-pass (band edge at 0.45 of the lower
 * of the two rates, about 10 zero crossings each side), evaluated per output sample.
 */
export function resample(input: Float64Array, fromRate: number, toRate: number): Float64Array {
  if (fromRate === toRate) return Float64Array.from(input);
  const outLength = Math.floor((input.length * toRate) / fromRate);
  const out = new Float64Array(outLength);
  // Cutoff in cycles per input sample.
  const cutoff = (0.45 * Math.min(fromRate, toRate)) / fromRate;
  const zeroCrossings = 10;
  const halfWidth = Math.ceil(zeroCrossings / (2 * cutoff));
  for (let n = 0; n < outLength; n++) {
    const center = (n * fromRate) / toRate;
    const first = Math.max(0, Math.ceil(center - halfWidth));
    const last = Math.min(input.length - 1, Math.floor(center + halfWidth));
    let acc = 0;
    let weightSum = 0;
    for (let k = first; k <= last; k++) {
      const x = k - center;
      const arg = 2 * cutoff * x;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      const t = (x / halfWidth + 1) / 2; // 0..1 across the window
      const window = 0.42 - 0.5 * Math.cos(2 * Math.PI * t) + 0.08 * Math.cos(4 * Math.PI * t);
      const weight = sinc * window;
      acc += input[k]! * weight;
      weightSum += weight;
    }
    out[n] = weightSum !== 0 ? acc / weightSum : 0;
  }
  return out;
}

/** Float samples in -1..1 to 16-bit, rounded and clamped. */
export function floatToInt16(samples: Float64Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767)));
  }
  return out;
}

/** Opens a WAV file as an 8 kHz mono source. @throws Error with a one-line reason. */
export async function createWavSource(path: string): Promise<BufferSource> {
  const audio = await readWavMono(path);
  return new BufferSource(floatToInt16(resample(audio.samples, audio.sampleRate, SOURCE_SAMPLE_RATE)));
}

/**
 * Creates a source from a CLI-style spec (`--play`): `tone:HZ` (sine at -10 dBFS), `silence`,
 * or a path ending in `.wav`.
 * @throws Error with a one-line reason for a bad spec or an unreadable file.
 */
export async function createSource(spec: string): Promise<AudioSource> {
  const trimmed = spec.trim();
  if (trimmed === 'silence') return new SilenceSource();
  const tone = /^tone:(.*)$/i.exec(trimmed);
  if (tone) {
    const hz = Number(tone[1]);
    if (tone[1]!.trim() === '' || !Number.isFinite(hz) || hz <= 0 || hz >= SOURCE_SAMPLE_RATE / 2) {
      throw new Error(`bad tone spec '${spec}': expected tone:HZ with 0 < HZ < ${SOURCE_SAMPLE_RATE / 2}`);
    }
    return new ToneSource(hz);
  }
  if (/\.wav$/i.test(trimmed)) return createWavSource(trimmed);
  throw new Error(`bad audio source '${spec}': expected tone:HZ, silence, or a .wav file path`);
}
