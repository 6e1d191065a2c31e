import { expect } from 'chai';
import { UdpSocket } from '../../lib/net/udp.js';
import type { TransportAddress } from '../../lib/net/socket.js';

/** Resolves with the next datagram a socket receives. */
function next(s: UdpSocket): Promise<{ data: Buffer; from: TransportAddress }> {
  return new Promise((resolve) => s.onPacket((data, from) => resolve({ data, from })));
}

describe('net/udp: canonical addresses in and out (issue 10)', () => {
  const open: UdpSocket[] = [];
  async function bind(address: string): Promise<UdpSocket> {
    const s = await UdpSocket.bind(address, 0);
    open.push(s);
    return s;
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('binds a non-canonical IPv6 spelling and reports the canonical local address', async () => {
    const s = await bind('0:0:0:0:0:0:0:1');
    expect(s.local).to.include({ address: '::1', family: 'IPv6' });
  });

  it('binds an IPv4-mapped spelling as the IPv4 socket it names', async () => {
    const s = await bind('::FFFF:127.0.0.1');
    expect(s.local).to.include({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('a datagram from an IPv6 peer sent to an expanded upper-case spelling arrives from the canonical address', async () => {
    const a = await bind('::1');
    const b = await bind('::1');
    const got = next(b);
    a.send(Buffer.from('x'), { address: '0000:0000:0000:0000:0000:0000:0000:0001', port: b.local.port });
    const { from } = await got;
    expect(from).to.deep.equal({ address: '::1', port: a.local.port, family: 'IPv6' });
  });

  it('a dual-stack socket sees an IPv4 peer as IPv4 (not ::ffff:) and answers it at that address', async () => {
    const dual = await bind('::');
    const v4 = await bind('127.0.0.1');
    const atDual = next(dual);
    // An IPv4 socket given the mapped spelling sends to the IPv4 address it names.
    v4.send(Buffer.from('ping'), { address: '::ffff:127.0.0.1', port: dual.local.port });
    const { from } = await atDual;
    expect(from).to.deep.equal({ address: '127.0.0.1', port: v4.local.port, family: 'IPv4' });
    // Node refuses (EINVAL) a plain IPv4 destination on a udp6 socket: the send maps it.
    const atV4 = next(v4);
    dual.send(Buffer.from('pong'), from);
    const reply = await atV4;
    expect(reply.data.toString()).to.equal('pong');
    expect(dual.sendErrors).to.equal(0);
  });
});
