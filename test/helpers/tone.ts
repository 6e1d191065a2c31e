/**
 * Tone detection for checking recordings in tests (interop calls record with --record and
 * assert the peer's tone arrived). Uses the Goertzel algorithm on Hann-windowed blocks, so a
 * tone a few Hz off (peer clock drift, resampling) still counts, while another tone does not.
 */
import { readWavMono } from '../../lib/rtp/sources.js';

/** Block length for tone measurement, seconds (Hann main lobe about ±40 Hz). */
const LEVEL_BLOCK_S = 0.05;
/** Block length for the dominant-frequency scan, seconds (main lobe about ±20 Hz). */
const SCAN_BLOCK_S = 0.1;
/** At most this many blocks, evenly spread, are used by the scan (bounds the cost on long files). */
const SCAN_MAX_BLOCKS = 60;

function hann(length: number): Float64Array {
  const w = new Float64Array(length);
  for (let i = 0; i < length; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / Math.max(1, length - 1));
  return w;
}

/** Goertzel: |X(f)|² of `x[start..start+length)` multiplied by `window`, at `hz`. */
function goertzelPower(x: ArrayLike<number>, start: number, window: Float64Array, sampleRate: number, hz: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * hz) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < window.length; i++) {
    const s0 = x[start + i]! * window[i]! + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coefficient * s1 * s2;
}

/**
 * Fraction (0..1) of the signal's energy that is a sinusoid at `hz` (within roughly ±15 Hz).
 * Computed per 50 ms Hann-windowed block with Goertzel and combined energy-weighted, scaled so
 * a pure tone at `hz` gives 1 whatever its amplitude. Silence gives 0.
 */
export function toneLevel(samples: Float64Array | Int16Array, sampleRate: number, hz: number): number {
  const blockLength = Math.min(samples.length, Math.max(16, Math.round(LEVEL_BLOCK_S * sampleRate)));
  if (blockLength < 2) return 0;
  const window = hann(blockLength);
  let sumW = 0;
  let sumW2 = 0;
  for (const w of window) {
    sumW += w;
    sumW2 += w * w;
  }
  // For x = A sin(ωn): |X|² ≈ A²(Σw)²/4 and Σ(wx)² ≈ A²Σw²/2, so this scale makes the ratio 1.
  const scale = (2 * sumW2) / (sumW * sumW);
  let toneEnergy = 0;
  let totalEnergy = 0;
  for (let start = 0; start + blockLength <= samples.length; start += blockLength) {
    let energy = 0;
    for (let i = 0; i < blockLength; i++) {
      const v = samples[start + i]! * window[i]!;
      energy += v * v;
    }
    if (energy === 0) continue;
    toneEnergy += Math.min(energy, scale * goertzelPower(samples, start, window, sampleRate, hz));
    totalEnergy += energy;
  }
  return totalEnergy === 0 ? 0 : Math.min(1, toneEnergy / totalEnergy);
}

/** Strongest frequency in 100..3500 Hz (below Nyquist): 10 Hz scan, then refined in 1 Hz steps. */
function dominantFrequency(samples: Float64Array, sampleRate: number): number {
  const blockLength = Math.min(samples.length, Math.round(SCAN_BLOCK_S * sampleRate));
  if (blockLength < 16) return 0;
  const window = hann(blockLength);
  const blockCount = Math.floor(samples.length / blockLength);
  const used = Math.min(blockCount, SCAN_MAX_BLOCKS);
  const starts: number[] = [];
  for (let b = 0; b < used; b++) starts.push(Math.floor((b * blockCount) / used) * blockLength);
  const power = (hz: number): number => starts.reduce((sum, s) => sum + goertzelPower(samples, s, window, sampleRate, hz), 0);
  const top = Math.min(3500, sampleRate / 2 - 10);
  let best = 0;
  let bestPower = -1;
  for (let hz = 100; hz <= top; hz += 10) {
    const p = power(hz);
    if (p > bestPower) [best, bestPower] = [hz, p];
  }
  if (bestPower <= 0) return 0;
  const coarse = best;
  for (let hz = coarse - 9; hz <= coarse + 9; hz++) {
    const p = power(hz);
    if (p > bestPower) [best, bestPower] = [hz, p];
  }
  return best;
}

export interface WavAnalysis {
  /** Duration of the whole file, ms. */
  durationMs: number;
  /** RMS of the analyzed part, as a fraction of full scale (a -10 dBFS-peak sine gives about 0.22). */
  rms: number;
  /** toneLevel() of the analyzed part at the requested frequency. */
  toneRatio: number;
  /** Strongest frequency of the analyzed part, Hz (0 for silence). */
  dominantHz: number;
}

/**
 * Reads a WAV file (any channel count, mixed to mono; any rate) and measures it.
 * @param opts.skipMs ignore this much audio at the start (call setup, jitter buffer fill)
 */
export async function analyzeWav(path: string, hz: number, opts: { skipMs?: number } = {}): Promise<WavAnalysis> {
  const audio = await readWavMono(path);
  const durationMs = (audio.samples.length * 1000) / audio.sampleRate;
  const skip = Math.min(audio.samples.length, Math.round(((opts.skipMs ?? 0) * audio.sampleRate) / 1000));
  const samples = audio.samples.subarray(skip);
  let sumSquares = 0;
  for (const v of samples) sumSquares += v * v;
  const rms = samples.length > 0 ? Math.sqrt(sumSquares / samples.length) : 0;
  return {
    durationMs,
    rms,
    toneRatio: toneLevel(samples, audio.sampleRate, hz),
    dominantHz: dominantFrequency(samples, audio.sampleRate),
  };
}

/** RMS below this (about -50 dBFS) is treated as silence. */
export const SILENCE_RMS = 0.003;

/**
 * Throws unless `path` clearly holds a tone at `hz`: toneRatio > 0.5, dominant frequency within
 * 15 Hz, and RMS above SILENCE_RMS. The error names what was found instead.
 */
export async function assertToneInWav(path: string, hz: number, opts: { skipMs?: number } = {}): Promise<void> {
  const a = await analyzeWav(path, hz, opts);
  const problems: string[] = [];
  if (!(a.rms > SILENCE_RMS)) problems.push(`rms ${a.rms.toFixed(4)} is at or below the silence floor ${SILENCE_RMS}`);
  if (!(a.toneRatio > 0.5)) problems.push(`only ${(a.toneRatio * 100).toFixed(1)}% of the energy is at ${hz} Hz`);
  if (!(Math.abs(a.dominantHz - hz) <= 15)) problems.push(`dominant frequency is ${a.dominantHz} Hz`);
  if (problems.length > 0) {
    const dbfs = a.rms > 0 ? (20 * Math.log10(a.rms)).toFixed(1) : '-inf';
    throw new Error(
      `no ${hz} Hz tone in ${path}: ${problems.join('; ')} (duration ${Math.round(a.durationMs)} ms, rms ${a.rms.toFixed(4)} = ${dbfs} dBFS, dominant ${a.dominantHz} Hz, tone ratio ${a.toneRatio.toFixed(3)})`,
    );
  }
}
