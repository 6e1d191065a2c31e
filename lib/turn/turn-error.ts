/**
 * TURN failures as one typed error (RFC 8656 §7.4 and RFC 8489 §9.2 name what each error
 * response means for the client), and the mapping from an error response to it.
 */
import { scrub } from '../base/log.js';
import type { AddressFamily } from '../net/socket.js';
import { formatAddress } from '../net/socket.js';
import { StunAttr, type StunMessage } from '../stun/message.js';

export type TurnErrorKind =
  | 'auth' /* 401 after credentials, 441 */
  | 'quota' /* 486 */
  | 'mismatch' /* 437 */
  | 'timeout' /* no response: server unreachable */
  | 'connect' /* TCP/TLS/proxy connection failed or was lost */
  | 'rejected' /* any other error response */
  | 'protocol' /* malformed or missing attributes */
  | 'expired' /* a permission or channel binding lapsed after its refreshes failed (a warning) */
  | 'family' /* 440 Address Family not Supported, 443 Peer Address Family Mismatch */
  | 'aborted'
  | 'closed';

/** The server named in a 300 (Try Alternate) response: ALTERNATE-SERVER and, for TLS, ALTERNATE-DOMAIN (RFC 8489 §14.15, §14.16). */
export interface AlternateServer {
  address: string;
  port: number;
  domain?: string;
}

/** A TURN failure. The message is one line: "TURN server <label>: <operation> failed: <cause>". Never contains a password. */
export class TurnError extends Error {
  override readonly name = 'TurnError';
  /** The message without the "TURN server <label>: " prefix. */
  readonly detail: string;
  constructor(readonly kind: TurnErrorKind, readonly server: string, detail: string, readonly code?: number, readonly alternate?: AlternateServer) {
    super(scrub(`TURN server ${server}: ${detail}`).replace(/[\r\n]+/g, ' '));
    this.detail = scrub(detail).replace(/[\r\n]+/g, ' ');
  }
}

/** Reason phrase from a server, made safe for a one-line message. */
export function phrase(text: string): string {
  return text.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 80);
}

/** The TurnError for an error response to `what` (a request), naming the server by `label`. */
export function turnErrorFor(
  label: string,
  what: string,
  error: { code: number; reason: string },
  response: StunMessage,
  context: { sentCredentials: boolean; username: string; family: AddressFamily },
): TurnError {
  const { sentCredentials, username, family } = context;
  const got = `${error.code}${error.reason ? ` ${phrase(error.reason)}` : ''}`;
  switch (error.code) {
    case 300: {
      // RFC 8489 §10 / §14.15: ALTERNATE-SERVER has the MAPPED-ADDRESS encoding (not XOR-ed).
      let alternate: AlternateServer | undefined;
      try {
        const a = response.getMappedAddress(StunAttr.ALTERNATE_SERVER);
        const domain = response.get(StunAttr.ALTERNATE_DOMAIN)?.toString('utf8');
        if (a) alternate = { address: a.address, port: a.port, domain: domain ? phrase(domain) : undefined };
      } catch {
        alternate = undefined;
      }
      return new TurnError('rejected', label, alternate
        ? `${what} failed: ${got} to ${formatAddress(alternate)}`
        : `${what} failed: ${got} without a usable ALTERNATE-SERVER`, 300, alternate);
    }
    case 401:
      return new TurnError('auth', label, sentCredentials
        ? `${what} failed: wrong credentials for user '${username}' (${got})`
        : `${what} failed: ${got} without a usable REALM/NONCE challenge`, 401);
    case 441:
      return new TurnError('auth', label, `${what} failed: wrong credentials for user '${username}' (${got})`, 441);
    case 486:
      return new TurnError('quota', label, `${what} failed: allocation quota reached for user '${username}' (${got})`, 486);
    case 437:
      return new TurnError('mismatch', label, `${what} failed: allocation mismatch (${got})`, 437);
    case 440:
      return new TurnError('family', label, `${what} failed: no ${family} relayed addresses on this server (${got})`, 440);
    case 443:
      return new TurnError('family', label, `${what} failed: the peer is not ${family === 'IPv6' ? 'an IPv6' : 'an IPv4'} address like the relayed address (${got})`, 443);
    default:
      return new TurnError('rejected', label, `${what} failed: ${got}`, error.code);
  }
}
