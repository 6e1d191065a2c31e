/**
 * Audio sinks for decoded received audio (8 kHz mono 16-bit linear PCM unless stated).
 * WavFileSink records a call to a WAV file, written with wavefile.
 */
import { writeFile } from 'node:fs/promises';
import { WaveFile } from './sources.js';

export interface AudioSink {
  /** Appends samples. Writing after close() is ignored. */
  write(samples: Int16Array): void;
  /** Flushes and releases the sink; later calls resolve at once. */
  close(): Promise<void>;
}

/**
 * Collects samples in memory and writes a 16-bit PCM mono WAV file on close().
 * Memory use is 2 octets per sample (57 MB per hour at 8 kHz).
 */
export class WavFileSink implements AudioSink {
  private chunks: Int16Array[] = [];
  private total = 0;
  private closing: Promise<void> | undefined;

  /**
   * @param path file to create (replaced if it exists)
   * @param sampleRate rate in Hz written to the header; the samples are not resampled
   */
  constructor(readonly path: string, readonly sampleRate = 8000) {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`WAV sample rate ${sampleRate} is not a positive integer`);
  }

  /** Samples written so far. */
  get sampleCount(): number {
    return this.total;
  }

  write(samples: Int16Array): void {
    if (this.closing || samples.length === 0) return;
    this.chunks.push(Int16Array.from(samples));
    this.total += samples.length;
  }

  close(): Promise<void> {
    if (!this.closing) {
      const all = new Int16Array(this.total);
      let at = 0;
      for (const c of this.chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.chunks = [];
      const wav = new WaveFile();
      wav.fromScratch(1, this.sampleRate, '16', all);
      this.closing = writeFile(this.path, wav.toBuffer());
    }
    return this.closing;
  }
}

/** Keeps every written sample in memory (tests, level meters). */
export class MemorySink implements AudioSink {
  private chunks: Int16Array[] = [];
  closed = false;

  write(samples: Int16Array): void {
    if (!this.closed) this.chunks.push(Int16Array.from(samples));
  }

  /** All samples written so far, concatenated. */
  get samples(): Int16Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const all = new Int16Array(total);
    let at = 0;
    for (const c of this.chunks) {
      all.set(c, at);
      at += c.length;
    }
    return all;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
