/**
 * Replay list as a sliding window, RFC 3711 §3.3.2: the highest authenticated index and one bit
 * for each of the `size` indices at and below it. An index above the highest is new; one that
 * fell out of the window is too old (rejected, as the RFC lets a receiver do for anything left of
 * the window); one inside it is new unless its bit is set.
 *
 * `check` never changes state, `accept` is called only after the packet authenticated (RFC 3711
 * §3.3: the replay list is updated in step 7, after the tag check of step 5), so a forged packet cannot move
 * the window. Memory is size/8 octets, fixed at construction.
 */

/** Smallest window (RFC 3711 §3.3.2: "SRTP-WINDOW-SIZE MUST be at least 64"). */
export const MIN_REPLAY_WINDOW_SIZE = 64;
/**
 * Largest window: the index estimation of RFC 3711 §3.3.1 only tells packets apart within
 * half the 16-bit sequence space, so a larger window could not be used for SRTP.
 */
export const MAX_REPLAY_WINDOW_SIZE = 32768;
/** Window size when none is configured: twice the minimum, room for ordinary jitter-buffer reordering. */
export const DEFAULT_REPLAY_WINDOW_SIZE = 128;

/** What the window says about an index before the packet is authenticated. */
export type ReplayVerdict = 'new' | 'replayed' | 'too-old';

export class ReplayWindow {
  /** Highest accepted index, -1 before the first. */
  private top = -1;
  private readonly bits: Uint32Array;

  /**
   * @param size number of indices remembered (64..32768, RFC 3711 §3.3.2).
   * @throws RangeError on a size outside that range or not an integer.
   */
  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW_SIZE) {
    if (!Number.isInteger(size) || size < MIN_REPLAY_WINDOW_SIZE || size > MAX_REPLAY_WINDOW_SIZE) {
      throw new RangeError(`replay window size ${size} is not an integer in ${MIN_REPLAY_WINDOW_SIZE}..${MAX_REPLAY_WINDOW_SIZE}`);
    }
    this.bits = new Uint32Array(Math.ceil(size / 32));
  }

  /** Highest index accepted so far, undefined before the first. */
  get highest(): number | undefined {
    return this.top < 0 ? undefined : this.top;
  }

  /** Classifies a non-negative integer index without recording it. */
  check(index: number): ReplayVerdict {
    if (index > this.top) return 'new';
    if (this.top - index >= this.size) return 'too-old';
    return this.isSet(index) ? 'replayed' : 'new';
  }

  /**
   * Records an authenticated index, sliding the window forward when it is the new highest.
   * @returns false (and changes nothing) for an index `check` would not call new.
   */
  accept(index: number): boolean {
    if (this.check(index) !== 'new') return false;
    if (index > this.top) {
      if (this.top < 0 || index - this.top >= this.size) {
        this.bits.fill(0);
      } else {
        // The slots of top+1 .. index-1 held indices that have now left the window.
        for (let k = this.top + 1; k < index; k++) this.clear(k);
      }
      this.top = index;
    }
    this.set(index);
    return true;
  }

  private slot(index: number): [word: number, mask: number] {
    const position = index % this.size;
    return [position >>> 5, 1 << (position & 31)];
  }

  private isSet(index: number): boolean {
    const [word, mask] = this.slot(index);
    return (this.bits[word]! & mask) !== 0;
  }

  private set(index: number): void {
    const [word, mask] = this.slot(index);
    this.bits[word]! |= mask;
  }

  private clear(index: number): void {
    const [word, mask] = this.slot(index);
    this.bits[word]! &= ~mask;
  }
}
