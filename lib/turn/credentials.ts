import { createHmac } from 'node:crypto';
import { redact } from '../base/log.js';

/**
 * TURN credentials for the long-term credential mechanism (RFC 8489 §9.2): a static
 * username/password, or REST-style ephemeral credentials derived from a secret shared with
 * the server (draft-uberti-behave-turn-rest-00 §2.2, what coturn's `--use-auth-secret
 * --static-auth-secret=S` checks):
 *
 *     username = <expiry as UNIX seconds> ":" <user>
 *     password = base64(HMAC-SHA1(secret, username))
 *
 * The server recomputes the password from the username and refuses the request once the
 * timestamp has passed.
 */

export interface TurnCredentials {
  username: string;
  password: string;
  /** When the credentials stop working, milliseconds since the UNIX epoch; undefined for static ones. */
  expiresAt?: number;
}

/** Source of credentials for each new allocation. `get()` is cheap and synchronous. */
export interface CredentialProvider {
  get(): TurnCredentials;
}

/** The REST-API password for `username`: base64 HMAC-SHA1 keyed with the shared secret. */
export function ephemeralPassword(secret: string, username: string): string {
  return createHmac('sha1', Buffer.from(secret, 'utf8')).update(Buffer.from(username, 'utf8')).digest('base64');
}

/**
 * Ephemeral credentials valid for `ttlSec` seconds from `nowMs` (default Date.now()).
 * The secret and the derived password are registered with `redact()` so they never reach a log.
 * @returns `expiresAt` in milliseconds since the UNIX epoch (the expiry second × 1000).
 * @throws RangeError for a non-positive ttl or a user containing no characters.
 */
export function ephemeralCredentials(secret: string, user: string, ttlSec: number, nowMs: number = Date.now()): { username: string; password: string; expiresAt: number } {
  if (!Number.isFinite(ttlSec) || ttlSec <= 0) throw new RangeError(`credential lifetime ${ttlSec} s must be positive`);
  if (user.length === 0) throw new RangeError('ephemeral credentials need a non-empty user');
  redact(secret);
  const expiry = Math.floor(nowMs / 1000) + Math.ceil(ttlSec);
  const username = `${expiry}:${user}`;
  const password = ephemeralPassword(secret, username);
  redact(password);
  return { username, password, expiresAt: expiry * 1000 };
}

/** A provider that always returns the same username and password (the password is redacted from logs). */
export function staticCredentials(username: string, password: string): CredentialProvider {
  redact(password);
  const value: TurnCredentials = { username, password };
  return { get: () => value };
}

export interface EphemeralCredentialOptions {
  /** Renew when less than this many seconds of validity remain. Default: min(300, ttl / 2). */
  renewBeforeSec?: number;
  /** Wall clock in milliseconds since the UNIX epoch (default Date.now); injectable for tests. */
  now?: () => number;
}

/**
 * Hands out REST-style ephemeral credentials and mints new ones before the current ones
 * expire, so every allocation starts with at least `renewBeforeSec` of validity left.
 * (An allocation keeps the username it was created with: RFC 8656 §7.2 ties later requests on
 * it to that username, so renewal only helps new allocations.)
 */
export class EphemeralCredentialProvider implements CredentialProvider {
  private current: TurnCredentials & { expiresAt: number };
  private readonly renewBeforeMs: number;
  private readonly now: () => number;
  /** How many times credentials were minted (1 after construction). */
  renewals = 0;

  constructor(private readonly secret: string, private readonly user: string, private readonly ttlSec: number, opts: EphemeralCredentialOptions = {}) {
    redact(secret);
    this.now = opts.now ?? Date.now;
    this.renewBeforeMs = (opts.renewBeforeSec ?? Math.min(300, ttlSec / 2)) * 1000;
    this.current = this.mint();
  }

  private mint(): TurnCredentials & { expiresAt: number } {
    this.renewals++;
    return ephemeralCredentials(this.secret, this.user, this.ttlSec, this.now());
  }

  get(): TurnCredentials {
    if (this.current.expiresAt - this.now() < this.renewBeforeMs) this.current = this.mint();
    return this.current;
  }
}
