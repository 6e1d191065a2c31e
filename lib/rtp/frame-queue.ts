import type { AudioSource } from './sources.js';
import type { AudioSink } from './sinks.js';

/**
 * A bounded PCM FIFO that is both an AudioSink (one call's decoded audio goes in) and an
 * AudioSource (another call, or the same one, reads it out): the building block for bridging two
 * calls or echoing a caller back. Samples are 16-bit signed, 8 kHz mono. Reads return exactly the
 * samples asked for, padded with silence when the queue runs dry; writes beyond `maxSamples` drop
 * the oldest samples (bounded memory whatever the peer sends).
 */
export class FrameQueue implements AudioSource, AudioSink {
  readonly ended = false;
  private chunks: Int16Array[] = [];
  private queued = 0;
  private closed = false;
  /** Samples dropped because the queue was full. */
  dropped = 0;

  /** @param maxSamples the bound, in samples (default 8000: 1 s at 8 kHz) */
  constructor(readonly maxSamples = 8000) {
    if (!Number.isInteger(maxSamples) || maxSamples <= 0) throw new RangeError(`maxSamples ${maxSamples} must be a positive integer`);
  }

  /** Samples waiting to be read. */
  get length(): number {
    return this.queued;
  }

  write(samples: Int16Array): void {
    if (this.closed || samples.length === 0) return;
    this.chunks.push(Int16Array.from(samples));
    this.queued += samples.length;
    while (this.queued > this.maxSamples) {
      const head = this.chunks[0]!;
      const excess = this.queued - this.maxSamples;
      if (head.length <= excess) {
        this.chunks.shift();
        this.queued -= head.length;
        this.dropped += head.length;
      } else {
        this.chunks[0] = head.subarray(excess);
        this.queued -= excess;
        this.dropped += excess;
      }
    }
  }

  read(n: number): Int16Array {
    const out = new Int16Array(n);
    let at = 0;
    while (at < n && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const take = Math.min(head.length, n - at);
      out.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
      this.queued -= take;
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.chunks = [];
    this.queued = 0;
  }
}
