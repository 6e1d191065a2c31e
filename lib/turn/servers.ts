/**
 * STUN/TURN server URIs (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:` with `?transport=`),
 * as WebRTC's iceServers write them.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UsageError } from '../base/errors.js';

export type IceServerScheme = 'stun' | 'stuns' | 'turn' | 'turns';

export interface IceServerUri {
  scheme: IceServerScheme;
  /** Host name or IP literal (without brackets). */
  host: string;
  /** Explicit port, or the scheme's default (3478, TLS 5349) when absent. */
  port: number;
  /** Whether the URI named the port (RFC 7065: no port means DNS SRV may be used). */
  explicitPort: boolean;
  transport: 'udp' | 'tcp';
  /** The URI as given. */
  uri: string;
}

const URI_RE = /^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/**
 * Parses an RFC 7064/7065 URI.
 * @throws UsageError with a one-line reason for anything else.
 */
export function parseIceServerUri(uri: string): IceServerUri {
  const m = URI_RE.exec(uri.trim());
  if (!m) throw new UsageError(`not a STUN/TURN URI (RFC 7064/7065): '${uri}'`);
  const scheme = m[1] as IceServerScheme;
  if ((scheme === 'stun' || scheme === 'stuns') && m[4]) throw new UsageError(`'?transport=' is not allowed in a ${scheme}: URI: '${uri}'`);
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  if (m[2].startsWith('[') && isIP(host) !== 6) throw new UsageError(`bad IPv6 literal in '${uri}'`);
  const secure = scheme === 'stuns' || scheme === 'turns';
  const port = m[3] ? Number(m[3]) : secure ? 5349 : 3478;
  if (port < 1 || port > 65535) throw new UsageError(`port out of range in '${uri}'`);
  const transport = (m[4] as 'udp' | 'tcp' | undefined) ?? (secure ? 'tcp' : 'udp');
  return { scheme, host, port, explicitPort: m[3] !== undefined, transport, uri };
}

/**
 * Resolves a server's host to an IP address (A/AAAA via the system resolver).
 * @throws Error naming the server when it does not resolve.
 */
export async function resolveServerAddress(server: IceServerUri): Promise<string> {
  if (isIP(server.host)) return server.host;
  try {
    const r = await lookup(server.host);
    return r.address;
  } catch (e) {
    throw new Error(`${server.uri}: cannot resolve '${server.host}': ${e instanceof Error ? e.message : String(e)}`);
  }
}
