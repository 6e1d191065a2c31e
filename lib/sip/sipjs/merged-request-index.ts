/**
 * RFC 3261 §8.2.2.2 merged-request detection at a cost that does not grow with the calls handled.
 *
 * sip.js 0.21.2's `UserAgentCore#receiveRequest` (core/user-agent-core/user-agent-core.js) tests
 * every request without a To tag whose branch it does not know against every user agent server the
 * core holds: `Array.from(this.userAgentServers.values()).some(...)`, comparing From tag, Call-ID and
 * CSeq. An answered INVITE's server stays in that map 64·T1 = 32 s after its 2xx (RFC 6026 §8.7,
 * Timer L), so at R calls/s each new INVITE scanned about 32·R servers: under SIPp load at 100
 * calls/s that scan (and the array it copies) was 6% of the answerer's CPU, and its cost per call
 * grows linearly with the rate (issue 14, `node --cpu-prof`).
 *
 * `indexMergedRequests(core)` replaces the core's `userAgentServers` Map with a Map that also keeps
 * its servers grouped by (From tag, Call-ID, CSeq) of their request, and wraps the core's
 * `receiveRequest` so that, while it runs for a request without a To tag, the first `values()` call
 * (sip.js's merged-request test, the only place that reads `values()`, and the first thing it reads)
 * yields only the servers under that request's key. Those are exactly the servers the test's
 * predicate can accept, so its answer (482 Loop Detected or not) is the same; every other read of the
 * Map (`get`, `has`, `forEach`, iteration, later `values()` calls) sees all of it.
 *
 * Internals used: `UserAgentCore#userAgentServers` (instance field), `UserAgentCore#receiveRequest`
 * (private in the typings; listed in ./internals.ts), `UserAgentServer#transaction.request`.
 */
import type { Core } from 'sip.js';

type UserAgentCore = Core.UserAgentCore;

interface ServerLike {
  transaction?: { request?: { fromTag?: string; callId?: string; cseq?: number } };
}

interface RequestLike {
  toTag?: string;
  fromTag?: string;
  callId?: string;
  cseq?: number;
}

interface CoreInternals {
  userAgentServers: Map<string, ServerLike>;
  receiveRequest(message: RequestLike): void;
}

function keyOf(fromTag: string | undefined, callId: string | undefined, cseq: number | undefined): string {
  return `${fromTag ?? ''}\u0000${callId ?? ''}\u0000${cseq ?? ''}`;
}

function serverKey(server: ServerLike): string {
  const r = server.transaction?.request;
  return keyOf(r?.fromTag, r?.callId, r?.cseq);
}

/** `Map<transaction id, user agent server>` that also groups its servers by their request's (From tag, Call-ID, CSeq). */
export class IndexedServerMap<V extends ServerLike> extends Map<string, V> {
  private readonly byRequest = new Map<string, Set<V>>();
  /** Set for one `values()` call: the key of the request sip.js is about to test. */
  private probe: string | undefined;

  override set(id: string, server: V): this {
    const previous = super.get(id);
    if (previous !== undefined) this.unindex(previous);
    super.set(id, server);
    const key = serverKey(server);
    let group = this.byRequest.get(key);
    if (!group) this.byRequest.set(key, (group = new Set()));
    group.add(server);
    return this;
  }

  /** As Map#has; a probe is dropped when the id is known (sip.js then skips its merged-request test). */
  override has(id: string): boolean {
    const known = super.has(id);
    if (known) this.probe = undefined;
    return known;
  }

  override delete(id: string): boolean {
    const server = super.get(id);
    if (server === undefined) return false;
    this.unindex(server);
    return super.delete(id);
  }

  override clear(): void {
    this.byRequest.clear();
    super.clear();
  }

  /** All servers, or (once, right after `probeFor`) only those whose request has the probed key. */
  override values(): MapIterator<V> {
    const key = this.probe;
    if (key === undefined) return super.values();
    this.probe = undefined;
    return (this.byRequest.get(key) ?? new Set<V>()).values();
  }

  /** The next `values()` call yields only the servers whose request has `message`'s From tag, Call-ID and CSeq. */
  probeFor(message: RequestLike): void {
    this.probe = keyOf(message.fromTag, message.callId, message.cseq);
  }

  /** Ends a probe `values()` did not consume. */
  endProbe(): void {
    this.probe = undefined;
  }

  /** Number of (From tag, Call-ID, CSeq) groups held (tests: the index is pruned with the Map). */
  get groups(): number {
    return this.byRequest.size;
  }

  private unindex(server: V): void {
    const key = serverKey(server);
    const group = this.byRequest.get(key);
    if (!group) return;
    group.delete(server);
    if (group.size === 0) this.byRequest.delete(key);
  }
}

const indexed = new WeakSet<object>();

/**
 * Installs the index on `core` (once per core; see the file comment). Servers already held are
 * carried over.
 */
export function indexMergedRequests(core: UserAgentCore): void {
  if (indexed.has(core)) return;
  indexed.add(core);
  const c = core as unknown as CoreInternals;
  const map = new IndexedServerMap<ServerLike>();
  for (const [id, server] of c.userAgentServers) map.set(id, server);
  c.userAgentServers = map;
  const inner = c.receiveRequest.bind(core);
  c.receiveRequest = (message) => {
    if (message.toTag) {
      inner(message);
      return;
    }
    map.probeFor(message);
    try {
      inner(message);
    } finally {
      map.endProbe();
    }
  };
}
