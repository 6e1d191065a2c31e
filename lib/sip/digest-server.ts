/**
 * HTTP Digest authentication as a SIP server (UAS) sees it: RFC 3261 §22.4 on RFC 7616 (the digest
 * computation, qop=auth) with RFC 8760 (SHA-256 and MD5 for SIP). Pure apart from node:crypto and the
 * Clock: the Phone's request gate (./request-gate.ts) calls it for every out-of-dialog request.
 *
 * - Challenges: one `WWW-Authenticate` per algorithm, SHA-256 first then MD5 (RFC 8760 §2.4: "listed
 *   in order of preference, most preferred first"; RFC 7616 §3.7), `qop="auth"`, the same nonce in both.
 * - Nonces are stateless (RFC 7616 §5.4 suggests the time and a secret): base64url of an 8-byte issue
 *   time (ms), 8 random bytes and the first 16 bytes of HMAC-SHA-256(server secret, time ‖ random). A
 *   nonce that verifies but is older than `nonceLifetimeMs` gets a fresh challenge with `stale=true`
 *   (RFC 7616 §3.3), not a failure.
 * - Replay: per nonce the highest `nc` accepted is kept (only after a successful check, so a scanner
 *   cannot fill the table); a request must carry a larger `nc` (RFC 7616 §3.4: "the server can detect
 *   request replays by maintaining its own copy of this count").
 * - Rate limit: failed checks (an Authorization for our realm that does not verify) are counted per
 *   source address; the attempt that reaches `maxFailures` within `failureWindowMs` gets 403, and for
 *   `blockMs` after it every out-of-dialog request from that address is dropped unanswered (counted):
 *   no amplification, and a scanner that waits for answers gives up (RFC 3261 §26.3.2.4).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';

/** Digest algorithms of RFC 8760 §2 we offer (the `-sess` variants are not offered). */
export type DigestAlgorithm = 'SHA-256' | 'MD5';

/** Algorithms in the order challenges are sent (most preferred first, RFC 8760 §2.4). */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

/** The parameters of one digest computation (RFC 7616 §3.4.1-§3.4.3, qop=auth). */
export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  /** SIP method (RFC 3261 §22.4: the "method" of A2 is the request's method). */
  method: string;
  /** The `uri` parameter (the Request-URI as the client wrote it). */
  uri: string;
  nonce: string;
  /** 8 hex digits. */
  nc: string;
  cnonce: string;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(text, 'utf8').digest('hex');
}

/**
 * The `response` value (RFC 7616 §3.4.1): H(H(A1) ":" nonce ":" nc ":" cnonce ":" "auth" ":" H(A2)),
 * A1 = username ":" realm ":" password (§3.4.2), A2 = method ":" uri (§3.4.3), lower-case hex.
 */
export function digestResponse(input: DigestInput): string {
  const ha1 = hash(input.algorithm, `${input.username}:${input.realm}:${input.password}`);
  const ha2 = hash(input.algorithm, `${input.method}:${input.uri}`);
  return hash(input.algorithm, `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:auth:${ha2}`);
}

/**
 * Parses a `Digest k=v, k="v", ...` credentials or challenge value (RFC 7616 §3.4, RFC 3261 §25.1
 * `digest-response`). Returns lower-cased parameter names with unquoted values, or undefined when the
 * scheme is not Digest or the syntax is broken (the caller counts it as a failed attempt).
 */
export function parseDigestParams(value: string): Map<string, string> | undefined {
  const m = /^\s*digest\s+/i.exec(value);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(,|$)/y;
  re.lastIndex = m[0].length;
  while (re.lastIndex < value.length) {
    const p = re.exec(value);
    if (!p) return undefined;
    const v = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
    params.set(p[1]!.toLowerCase(), v);
    if (p[4] === '') break;
  }
  return params;
}

export interface DigestServerOptions {
  username: string;
  password: string;
  /** Protection space (RFC 3261 §22.1); default `icephone`. */
  realm?: string;
  /** How long a nonce is good for, ms (default 300 000); older ones get `stale=true`. */
  nonceLifetimeMs?: number;
  /** Failed checks per source within `failureWindowMs` before that source is refused (default 5). */
  maxFailures?: number;
  /** Window over which failures are counted, ms (default 60 000). */
  failureWindowMs?: number;
  /** How long a source that reached `maxFailures` is refused (403 once, then no answer), ms (default 60 000). */
  blockMs?: number;
  /**
   * Algorithms challenged with, most preferred first (default SHA-256 then MD5, RFC 8760 §2.4). Some
   * clients read only the first challenge: sip.js 0.21.2 keeps the last (its parser overwrites) and
   * does MD5 only; SIPVicious's svcrack reads the first and cannot do SHA-256.
   */
  algorithms?: readonly DigestAlgorithm[];
  /** Nonce key (default 32 random bytes); the same key lets a restarted server accept its nonces. */
  secret?: Buffer;
  clock?: Clock;
}

/** What to do with one out-of-dialog request. */
export type DigestVerdict =
  | { action: 'accept'; username: string; algorithm: DigestAlgorithm }
  /** 401 with these `WWW-Authenticate` values; `failure` when the request carried bad credentials. */
  | { action: 'challenge'; headers: string[]; stale: boolean; failure: boolean; why: string }
  /** The source reached the failure limit: 403 on the attempt that reached it (`newlyBlocked`), later ones dropped unanswered. */
  | { action: 'refuse'; newlyBlocked: boolean; why: string };

/** The request as the digest check needs it. */
export interface DigestRequest {
  method: string;
  /** The Request-URI exactly as on the request line. */
  requestUri: string;
  /** Every Authorization header value (RFC 3261 §20.7). */
  authorization: string[];
  /** Source IP address (the `received` of the top Via, or its sent-by host). */
  source: string;
}

/** Counters, cumulative. */
export interface DigestServerStats {
  /** 401s sent (first contact, stale nonces and failures alike). */
  challenged: number;
  accepted: number;
  /** Authorization headers for our realm that did not verify (bad response, user, nonce, replay). */
  failed: number;
  stale: number;
  /** Requests refused because their source reached the failure limit (the 403s and the dropped ones). */
  refused: number;
  /** Times a source reached the failure limit. */
  sourcesBlocked: number;
}

const NONCE_BYTES = 8 + 8 + 16;
/** Bounds on the per-source and per-nonce tables (the oldest entry goes first). */
const MAX_SOURCES = 4096;
const MAX_NONCES = 4096;

/** The UAS side of digest authentication for one set of credentials. */
export class DigestServer {
  readonly realm: string;
  readonly stats: DigestServerStats = { challenged: 0, accepted: 0, failed: 0, stale: 0, refused: 0, sourcesBlocked: 0 };
  private readonly secret: Buffer;
  private readonly clock: Clock;
  private readonly nonceLifetimeMs: number;
  private readonly maxFailures: number;
  private readonly failureWindowMs: number;
  private readonly blockMs: number;
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly sources = new Map<string, { failures: number[]; blockedUntil: number }>();
  private readonly lastNc = new Map<string, number>();

  /** @throws RangeError for an empty username or password, a realm with `"` or `\`, or an unknown algorithm. */
  constructor(private readonly opts: DigestServerOptions) {
    if (!opts.username || !opts.password) throw new RangeError('digest server needs a username and a password');
    this.realm = opts.realm ?? 'icephone';
    if (/["\\\r\n]/.test(this.realm) || /["\\\r\n]/.test(opts.username)) throw new RangeError('digest realm and username may not contain quotes, backslashes or line breaks');
    this.secret = opts.secret ?? randomBytes(32);
    this.clock = opts.clock ?? systemClock;
    this.nonceLifetimeMs = opts.nonceLifetimeMs ?? 300_000;
    this.maxFailures = opts.maxFailures ?? 5;
    this.failureWindowMs = opts.failureWindowMs ?? 60_000;
    this.blockMs = opts.blockMs ?? 60_000;
    this.algorithms = opts.algorithms?.length ? [...new Set(opts.algorithms)] : DIGEST_ALGORITHMS;
    for (const a of this.algorithms) if (a !== 'MD5' && a !== 'SHA-256') throw new RangeError(`digest algorithm ${String(a)}: expected SHA-256 or MD5`);
  }

  /** A new nonce bound to the secret and the current time. */
  makeNonce(): string {
    const body = Buffer.alloc(16);
    body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.clock.now()))), 0);
    randomBytes(8).copy(body, 8);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(body).digest().subarray(0, 16);
  }

  /** `fresh`, `stale` (ours but expired) or `invalid` (not made with our secret). */
  nonceState(nonce: string): 'fresh' | 'stale' | 'invalid' {
    if (!/^[A-Za-z0-9_-]+$/.test(nonce)) return 'invalid';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return 'invalid';
    const body = raw.subarray(0, 16);
    if (!timingSafeEqual(raw.subarray(16), this.mac(body))) return 'invalid';
    const issued = Number(body.readBigUInt64BE(0));
    const age = this.clock.now() - issued;
    return age >= 0 && age <= this.nonceLifetimeMs ? 'fresh' : 'stale';
  }

  /** The `WWW-Authenticate` values for a 401 (RFC 7616 §3.3), one per algorithm in preference order. */
  challengeHeaders(stale = false): string[] {
    const nonce = this.makeNonce();
    return this.algorithms.map((a) => `Digest realm="${this.realm}", nonce="${nonce}", algorithm=${a}, qop="auth"${stale ? ', stale=true' : ''}`);
  }

  /** Whether `source` is refused now (reached the failure limit less than `blockMs` ago). */
  isBlocked(source: string): boolean {
    const s = this.sources.get(source);
    return s !== undefined && s.blockedUntil > this.clock.now();
  }

  /** Checks one out-of-dialog request (RFC 3261 §22.4, RFC 7616 §3.4). Never throws on bad input. */
  check(req: DigestRequest): DigestVerdict {
    if (this.isBlocked(req.source)) {
      this.stats.refused++;
      return { action: 'refuse', newlyBlocked: false, why: `${req.source} is refused after ${this.maxFailures} failed attempts` };
    }
    const ours = req.authorization.map((v) => parseDigestParams(v)).find((p) => p?.get('realm') === this.realm);
    const malformed = req.authorization.length > 0 && req.authorization.every((v) => parseDigestParams(v) === undefined);
    if (!ours) {
      if (malformed) return this.fail(req.source, 'malformed Authorization');
      return this.challenge(false, false, req.authorization.length ? 'credentials for another realm' : 'no credentials');
    }
    const why = this.verify(ours, req);
    if (why === 'stale') {
      this.stats.stale++;
      return this.challenge(true, false, 'stale nonce');
    }
    if (why) return this.fail(req.source, why);
    this.stats.accepted++;
    return { action: 'accept', username: this.opts.username, algorithm: (ours.get('algorithm')?.toUpperCase() ?? 'MD5') as DigestAlgorithm };
  }

  /** Why the credentials do not verify, 'stale', or undefined when they do. */
  private verify(p: Map<string, string>, req: DigestRequest): string | undefined {
    const algorithm = (p.get('algorithm') ?? 'MD5').toUpperCase();
    if (!this.algorithms.includes(algorithm as DigestAlgorithm)) return `algorithm ${algorithm} not offered`;
    const nonce = p.get('nonce') ?? '';
    const response = (p.get('response') ?? '').toLowerCase();
    const nc = p.get('nc') ?? '';
    const cnonce = p.get('cnonce') ?? '';
    const uri = p.get('uri') ?? '';
    // RFC 7616 §3.3: qop=auth was offered, and "the client MUST use one of the offered qop values".
    if ((p.get('qop') ?? '').toLowerCase() !== 'auth') return 'qop is not auth';
    if (!/^[0-9a-fA-F]{8}$/.test(nc) || !cnonce) return 'bad nc or cnonce';
    // RFC 7616 §3.4.6: the uri parameter must name the request's target.
    if (uri !== req.requestUri) return 'uri does not match the Request-URI';
    const state = this.nonceState(nonce);
    if (state === 'invalid') return 'nonce not issued by us';
    const expected = digestResponse({ algorithm: algorithm as DigestAlgorithm, username: this.opts.username, realm: this.realm, password: this.opts.password, method: req.method, uri, nonce, nc, cnonce });
    const userOk = p.get('username') === this.opts.username;
    const responseOk = response.length === expected.length && timingSafeEqual(Buffer.from(response), Buffer.from(expected));
    if (!userOk || !responseOk) return 'wrong username or password';
    // Only a correct response can say the nonce is stale (RFC 7616 §3.3: the client knew the password).
    if (state === 'stale') return 'stale';
    const count = parseInt(nc, 16);
    const last = this.lastNc.get(nonce);
    if (last !== undefined && count <= last) return `replayed nc ${nc}`;
    this.lastNc.delete(nonce);
    this.lastNc.set(nonce, count);
    while (this.lastNc.size > MAX_NONCES) this.lastNc.delete(this.lastNc.keys().next().value!);
    return undefined;
  }

  private challenge(stale: boolean, failure: boolean, why: string): DigestVerdict {
    this.stats.challenged++;
    return { action: 'challenge', headers: this.challengeHeaders(stale), stale, failure, why };
  }

  private fail(source: string, why: string): DigestVerdict {
    this.stats.failed++;
    const now = this.clock.now();
    const s = this.sources.get(source) ?? { failures: [], blockedUntil: 0 };
    this.sources.delete(source);
    this.sources.set(source, s);
    while (this.sources.size > MAX_SOURCES) this.sources.delete(this.sources.keys().next().value!);
    s.failures = s.failures.filter((t) => now - t < this.failureWindowMs);
    s.failures.push(now);
    if (s.failures.length >= this.maxFailures) {
      s.failures = [];
      s.blockedUntil = now + this.blockMs;
      this.stats.sourcesBlocked++;
      this.stats.refused++;
      return { action: 'refuse', newlyBlocked: true, why: `${why}; ${source} refused for ${Math.round(this.blockMs / 1000)} s after ${this.maxFailures} failed attempts` };
    }
    return this.challenge(false, true, why);
  }
}
