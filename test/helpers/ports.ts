/**
 * Free ports for test peers, found by binding port 0 and closing again.
 *
 * There is a window between closing and the peer binding, so every port handed out is also kept
 * in a per-process reservation set and never handed out twice (nor as a neighbour of a
 * {@link freePortPair} port), which removes collisions between tests of one mocha run.
 */
import { createSocket } from 'node:dgram';
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
  return pick(host, (h) => bindUdp(h, 0), async () => true, 1);
}

/** A TCP port free on `host`. */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return pick(host, (h) => bindTcp(h, 0), async () => true, 1);
}

/**
 * A port P free for both UDP and TCP on `host`, with P+1 also free (UDP and TCP): what a SIP peer
 * that listens on UDP and TCP P and TLS P+1 needs (baresip's `sip_listen H:P` does exactly that).
 * P and P+1 are reserved, and no later call returns P-1..P+1.
 */
export function freePortPair(host = '127.0.0.1'): Promise<number> {
  return pick(
    host,
    (h) => bindUdp(h, 0),
    async (port) =>
      (await bindTcp(host, port)) === port &&
      (await bindUdp(host, port + 1)) === port + 1 &&
      (await bindTcp(host, port + 1)) === port + 1,
    2,
  );
}
