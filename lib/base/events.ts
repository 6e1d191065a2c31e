import { errorStack, escapeControls } from './log.js';
import { EventEmitter } from 'node:events';

/**
 * A typed EventEmitter. `Events` maps an event name to its listener's argument tuple.
 * `safeEmit` catches a listener's exception and reports it on 'listener-error' instead
 * of unwinding into the protocol code that emitted.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class TypedEmitter<Events extends { [K in keyof Events]: any[] }> {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.once(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  protected emit<K extends keyof Events & string>(event: K, ...args: Events[K]): boolean {
    return this.emitter.emit(event, ...args);
  }

  /** Emits, but a throwing listener is logged to stderr rather than propagated. */
  protected safeEmit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    try {
      this.emitter.emit(event, ...args);
    } catch (e) {
      process.stderr.write(`icephone: listener for '${event}' threw: ${escapeControls(errorStack(e), true)}\n`);
    }
  }

  /** Resolves with the event's arguments the next time it fires. */
  waitFor<K extends keyof Events & string>(event: K): Promise<Events[K]> {
    return new Promise((resolve) => this.emitter.once(event, (...args: unknown[]) => resolve(args as Events[K])));
  }

  /** Number of listeners of `event` (to skip building an event nobody listens to). */
  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.emitter.listenerCount(event);
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
  }
}
