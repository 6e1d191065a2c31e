/**
 * NAT behaviour probe (RFC 5780 §4.3 and §4.4 tests), run inside a namespace behind a NAT:
 *   node --import tsx scripts/lab/stun-probe.ts SERVER_IP:PORT ALT_SERVER_IP
 * against coturn listening on two addresses (which turns on its RFC 5780 support: CHANGE-REQUEST
 * answered from the other address and/or port, OTHER-ADDRESS in responses). Prints one JSON line:
 * - mapping: the mapped addresses seen by SERVER:PORT, ALT:PORT and ALT:PORT+1 from one local
 *   socket; equal → endpoint-independent, different per address or port → dependent.
 * - filtering: whether responses sent from another address and port (change IP+port), and from
 *   the same address but another port (change port), came back; both → endpoint-independent,
 *   only the second → address-dependent, neither → address-and-port-dependent.
 * - hairpin: whether a packet sent to our own mapped address came back to us.
 */
import { createSocket, type Socket } from 'node:dgram';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';

interface Mapped { address: string; port: number }

function parseHostPort(s: string): Mapped {
  const [address, port] = s.split(':');
  return { address: address!, port: Number(port ?? 3478) };
}

function binding(socket: Socket, to: Mapped, change: number | undefined, timeoutMs = 700, tries = 3): Promise<Mapped | undefined> {
  return new Promise((resolve) => {
    const request = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
    if (change !== undefined) {
      const v = Buffer.alloc(4);
      v.writeUInt32BE(change);
      request.attributes.push({ type: StunAttr.CHANGE_REQUEST, value: v });
    }
    const bytes = request.encode();
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    const onMessage = (msg: Buffer): void => {
      try {
        if (msg.length < 20 || !msg.subarray(8, 20).equals(request.transactionId)) return;
        const response = StunMessage.decode(msg);
        done(response.reflexiveAddress());
      } catch {
        /* not ours */
      }
    };
    const done = (m: Mapped | undefined): void => {
      if (timer) clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(m ? { address: m.address, port: m.port } : undefined);
    };
    const send = (): void => {
      if (attempts++ >= tries) return done(undefined);
      socket.send(bytes, to.port, to.address);
      timer = setTimeout(send, timeoutMs);
    };
    socket.on('message', onMessage);
    send();
  });
}

async function hairpin(socket: Socket, self: Mapped): Promise<boolean> {
  const token = Buffer.from(`hairpin-${Math.random()}`);
  return new Promise((resolve) => {
    const onMessage = (msg: Buffer): void => {
      if (msg.equals(token)) finish(true);
    };
    const timer = setTimeout(() => finish(false), 1000);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(ok);
    };
    socket.on('message', onMessage);
    socket.send(token, self.port, self.address);
  });
}

async function main(): Promise<void> {
  const primary = parseHostPort(process.argv[2] ?? '');
  const altAddress = process.argv[3];
  if (!primary.address || !altAddress) throw new Error('usage: stun-probe SERVER_IP:PORT ALT_SERVER_IP');
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, r));
  // Filtering tests first, each on a fresh socket, before anything was sent to ALT: the lab's
  // address-dependent recipe remembers addresses per NAT, not per mapping (see nat.ts).
  const probeFilter = async (change: number): Promise<boolean> => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, r));
    // Open the mapping towards the primary address and port only, then ask for a changed origin.
    const opened = await binding(s, primary, undefined);
    const answered = opened ? await binding(s, primary, change) : undefined;
    s.close();
    return answered !== undefined;
  };
  const fromOtherAddressAndPort = await probeFilter(0x06);
  const fromOtherPort = await probeFilter(0x02);
  const toPrimary = await binding(socket, primary, undefined);
  const toAlt = await binding(socket, { address: altAddress, port: primary.port }, undefined);
  const toAltPort = await binding(socket, { address: altAddress, port: primary.port + 1 }, undefined);
  const hairpinned = toPrimary ? await hairpin(socket, toPrimary) : false;
  socket.close();
  const local = `${toPrimary ? 'ok' : 'no answer'}`;
  const same = (a?: Mapped, b?: Mapped): boolean => !!a && !!b && a.address === b.address && a.port === b.port;
  const mapping = !toPrimary || !toAlt ? 'unknown' : same(toPrimary, toAlt) && same(toPrimary, toAltPort) ? 'endpoint-independent'
    : same(toPrimary, toAlt) ? 'address-dependent' : 'address-and-port-dependent';
  const filtering = fromOtherAddressAndPort ? 'endpoint-independent' : fromOtherPort ? 'address-dependent' : 'address-and-port-dependent';
  process.stdout.write(JSON.stringify({ primary: local, mapped: [toPrimary, toAlt, toAltPort], mapping, filtering, fromOtherAddressAndPort, fromOtherPort, hairpin: hairpinned }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`stun-probe: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
