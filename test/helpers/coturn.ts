/**
 * Debian's coturn (`turnserver` 4.6) as a test peer: started in the foreground on 127.0.0.1 (and
 * ::1 with `ipv6`) with free ports, its own pidfile and userdb in a temporary directory, and its log on stdout
 * (`--log-file=stdout --simple-log`, plus `--verbose` so session lines such as
 * "refreshed" and "closed (2nd stage)" appear) captured for assertions.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';
import { freeTcpPort, freeUdpPort } from './ports.js';
import { spawnProcess, which, type ManagedProcess } from './process.js';
import { testTempDir } from './tmp.js';

export interface CoturnOptions {
  /** Static users for `--lt-cred-mech` (default: alice / wonderland-42 and bob / builder-7). */
  users?: Array<{ name: string; password: string }>;
  /** REST-style ephemeral credentials (`--use-auth-secret --static-auth-secret=S`) instead of users. */
  authSecret?: string;
  /** Also listen for TLS (self-signed certificate for 127.0.0.1 / localhost made with openssl). */
  tls?: boolean;
  /** `--max-allocate-lifetime` in seconds. */
  maxAllocateLifetime?: number;
  realm?: string;
  /** Number of relay ports (default 100). */
  relayPorts?: number;
  extraArgs?: string[];
  /**
   * Also listen on ::1 and relay on ::1 (`--listening-ip=::1 --relay-ip=::1`), so that clients
   * reach it over IPv6 and get IPv6 relayed addresses with REQUESTED-ADDRESS-FAMILY (RFC 6156).
   */
  ipv6?: boolean;
  /** Relay on ::1 only (no IPv4 relay address): IPv4 allocations get 440. Implies listening on ::1. */
  ipv6RelayOnly?: boolean;
  /** Echo coturn's output to stderr. */
  echo?: boolean;
}

export interface Coturn {
  host: '127.0.0.1';
  /** '::1' when started with `ipv6`/`ipv6RelayOnly` (same port). */
  host6?: '::1';
  /** UDP and TCP listening port. */
  port: number;
  /** TLS listening port, when `tls` was asked for. */
  tlsPort?: number;
  realm: string;
  users: Array<{ name: string; password: string }>;
  /** PEM of the self-signed certificate (tls only): pass it as `ca`. */
  certPem?: Buffer;
  dir: string;
  process: ManagedProcess;
  /** Everything coturn has printed so far. */
  log(): string;
  /** Waits for `pattern` in the log (after `since`, from process.mark()). */
  waitForLog(pattern: RegExp, timeoutMs: number, since?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** True when Debian's turnserver is installed. */
export function haveCoturn(): boolean {
  return which('turnserver') !== undefined;
}

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** Sends STUN Binding requests until coturn answers on UDP (its log has no "listening" line). */
async function waitForBinding(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<boolean> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const deadline = Date.now() + timeoutMs;
  try {
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    while (Date.now() < deadline) {
      const request = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { socket.off('message', onMessage); resolve(false); }, 200);
        const onMessage = (msg: Buffer): void => {
          if (msg.length >= 20 && msg.subarray(8, 20).equals(request.transactionId)) {
            clearTimeout(timer);
            socket.off('message', onMessage);
            resolve(true);
          }
        };
        socket.on('message', onMessage);
        socket.send(request.encode(), port, host);
      });
      if (answered) return true;
    }
    return false;
  } finally {
    socket.close();
  }
}

/** Starts coturn and waits until it answers STUN. @throws Error with coturn's output when it does not start. */
export async function startCoturn(opts: CoturnOptions = {}): Promise<Coturn> {
  const dir = testTempDir('icephone-coturn-');
  const realm = opts.realm ?? 'icephone.test';
  const users = opts.users ?? (opts.authSecret ? [] : [{ name: 'alice', password: 'wonderland-42' }, { name: 'bob', password: 'builder-7' }]);
  let port = await freeUdpPort();
  // The listening port serves UDP and TCP: find one free for both.
  for (let i = 0; i < 20; i++) {
    const tcp = await freeTcpPort();
    if (tcp === port) break;
    port = await freeUdpPort();
  }
  const relayCount = opts.relayPorts ?? 100;
  const minPort = 20000 + Math.floor(Math.random() * 40000);
  const ipv6 = opts.ipv6 === true || opts.ipv6RelayOnly === true;
  const args = [
    '-n', '--verbose', '--listening-ip=127.0.0.1', ...(ipv6 ? ['--listening-ip=::1'] : []), `--listening-port=${port}`,
    ...(opts.ipv6RelayOnly ? [] : ['--relay-ip=127.0.0.1']), ...(ipv6 ? ['--relay-ip=::1'] : []),
    `--min-port=${minPort}`, `--max-port=${minPort + relayCount - 1}`, `--realm=${realm}`,
    '--log-file=stdout', '--simple-log', '--no-cli', `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb')}`, '--allow-loopback-peers', '--no-dtls', '--no-multicast-peers',
    '--fingerprint',
  ];
  if (opts.authSecret) args.push('--use-auth-secret', `--static-auth-secret=${opts.authSecret}`);
  else args.push('--lt-cred-mech', ...users.map((u) => `--user=${u.name}:${u.password}`));
  let tlsPort: number | undefined;
  let certPem: Buffer | undefined;
  if (opts.tls) {
    const { cert, key } = makeCertificate(dir);
    certPem = readFileSync(cert);
    tlsPort = await freeTcpPort();
    args.push(`--tls-listening-port=${tlsPort}`, `--cert=${cert}`, `--pkey=${key}`);
  } else {
    args.push('--no-tls');
  }
  if (opts.maxAllocateLifetime !== undefined) args.push(`--max-allocate-lifetime=${opts.maxAllocateLifetime}`);
  args.push(...(opts.extraArgs ?? []));

  const proc = spawnProcess('turnserver', args, { name: 'turnserver', echo: opts.echo });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await proc.waitForOutput(/Total General servers/, 10_000);
    if (!(await waitForBinding(port, 5000))) throw new Error(`turnserver does not answer STUN on 127.0.0.1:${port}; output ends:\n${proc.tail()}`);
    if (ipv6 && !(await waitForBinding(port, 5000, '::1'))) throw new Error(`turnserver does not answer STUN on [::1]:${port}; output ends:\n${proc.tail()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    host: '127.0.0.1', host6: ipv6 ? '::1' : undefined, port, tlsPort, realm, users, certPem, dir, process: proc,
    log: () => proc.output(),
    waitForLog: (pattern, timeoutMs, since) => proc.waitForOutput(pattern, timeoutMs, { since }),
    stop,
  };
}

export interface HttpProxyProcess {
  host: '127.0.0.1';
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** True when Debian's tinyproxy is installed. */
export function haveTinyproxy(): boolean {
  return which('tinyproxy') !== undefined;
}

/**
 * Debian's tinyproxy in the foreground (`-d`) on 127.0.0.1, allowing CONNECT only to
 * `connectPorts` (the TURN server's TCP/TLS ports). Its INFO log shows each CONNECT request.
 */
export async function startTinyproxy(connectPorts: number[]): Promise<HttpProxyProcess> {
  const dir = testTempDir('icephone-tinyproxy-');
  const port = await freeTcpPort();
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(config, [
    `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', 'Allow 127.0.0.1', 'LogLevel Info', 'MaxClients 20',
    ...connectPorts.map((p) => `ConnectPort ${p}`), '',
  ].join('\n'));
  const proc = spawnProcess('tinyproxy', ['-d', '-c', config], { name: 'tinyproxy' });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await proc.waitForOutput(/Accepting connections/, 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host: '127.0.0.1', port, process: proc, stop };
}
