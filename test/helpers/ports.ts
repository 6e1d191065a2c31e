/**
 * Free ports for test peers, found by binding a candidate port and closing again.
 *
 * There is a window between closing and the peer binding. Two things keep it safe:
 *  - every port handed out is kept in a per-process reservation set and never handed out twice
 *    (nor as a neighbour of a {@link freePortPair} port), so tests of one mocha run do not collide;
 *  - candidates come from below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
 *    32768-60999 by default), where no process's `bind(0)` or outgoing connection lands, so a peer
 *    or benchmark binding ports of its own meanwhile cannot take ours (seen: a SIP listen port
 *    taken by another process between the check and the peer's bind). Where that window is too
 *    small, port 0 is used as before.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const reserved = new Set<number>();

function isIPv6(host: string): boolean {
  return host.includes(':');
}

/** Binds a UDP socket to `host:port` (0: any) and returns the bound port, or undefined if it failed. */
function bindUdp(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind(port, host, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

/** Listens with TCP on `host:port` (0: any) and returns the bound port, or undefined if it failed. */
function bindTcp(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

const ATTEMPTS = 50;

/** Ports below the ephemeral range that tests may use: [from, to], or undefined to use port 0. */
const STATIC_WINDOW: { from: number; to: number } | undefined = (() => {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the common default
  }
  const from = Math.max(10000, low - 12000);
  const to = low - 3; // room for a pair (P, P+1) and its neighbour
  return to - from >= 1000 ? { from, to } : undefined;
})();

/** A candidate port: random in the static window, else whatever `bind(0)` gives. */
function candidate(host: string, bindZero: (host: string) => Promise<number | undefined>, check: (host: string, port: number) => Promise<number | undefined>): Promise<number | undefined> {
  if (!STATIC_WINDOW) return bindZero(host);
  const port = STATIC_WINDOW.from + Math.floor(Math.random() * (STATIC_WINDOW.to - STATIC_WINDOW.from + 1));
  return check(host, port);
}

async function pick(host: string, first: (host: string) => Promise<number | undefined>, check: (port: number) => Promise<boolean>, span: number): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = await first(host);
    if (port === undefined || port + span - 1 > 65535) continue;
    let clash = false;
    for (let p = port - 1; p < port + span; p++) if (reserved.has(p)) clash = true;
    if (clash || !(await check(port))) continue;
    for (let p = port; p < port + span; p++) reserved.add(p);
    return port;
  }
  throw new Error(`no free port found on ${host} after ${ATTEMPTS} attempts`);
}

/** A UDP port free on `host`. */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return pick(host, (h) => candidate(h, (x) => bindUdp(x, 0), bindUdp), async () => true, 1);
}

/** A TCP port free on `host`. */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return pick(host, (h) => candidate(h, (x) => bindTcp(x, 0), bindTcp), async () => true, 1);
}

/**
 * A port P free for both UDP and TCP on `host`, with P+1 also free (UDP and TCP): what a SIP peer
 * that listens on UDP and TCP P and TLS P+1 needs (baresip's `sip_listen H:P` does exactly that).
 * P and P+1 are reserved, and no later call returns P-1..P+1.
 */
export function freePortPair(host = '127.0.0.1'): Promise<number> {
  return pick(
    host,
    (h) => candidate(h, (x) => bindUdp(x, 0), bindUdp),
    async (port) =>
      (await bindTcp(host, port)) === port &&
      (await bindUdp(host, port + 1)) === port + 1 &&
      (await bindTcp(host, port + 1)) === port + 1,
    2,
  );
}
