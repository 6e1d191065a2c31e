/** Issue 14: `--rtp-ports MIN-MAX` binds media sockets in the range only, skipping ports in use. */
import { expect } from 'chai';
import { parsePortRange, portRangeBinder } from '../../lib/net/port-range.js';
import type { PacketSocket } from '../../lib/net/socket.js';
import { freeUdpPort } from '../helpers/ports.js';

/** A bind that fails with EADDRINUSE on `taken` ports and records what it bound. */
function fakeBind(taken: Set<number>) {
  const bound: number[] = [];
  const bind = async (address: string, port: number): Promise<PacketSocket> => {
    if (taken.has(port)) throw Object.assign(new Error(`bind EADDRINUSE ${address}:${port}`), { code: 'EADDRINUSE' });
    taken.add(port);
    bound.push(port);
    return { local: { address, port, family: 'IPv4' }, protocol: 'udp' } as unknown as PacketSocket;
  };
  return { bind, bound };
}

describe('media port range (issue 14)', () => {
  it('parses MIN-MAX and refuses what is not a range of unprivileged ports', () => {
    expect(parsePortRange('20000-20999')).to.deep.equal({ min: 20000, max: 20999 });
    expect(parsePortRange('40000-40000')).to.deep.equal({ min: 40000, max: 40000 });
    for (const bad of ['20000', '2-1', '30000-20000', '80-90', '20000-70000', 'a-b', '']) {
      expect(() => parsePortRange(bad), bad).to.throw(RangeError);
    }
  });

  it('binds every socket inside the range, skips ports in use, and names the range when it is full', async () => {
    const taken = new Set([30001, 30003]);
    const { bind, bound } = fakeBind(taken);
    const binder = portRangeBinder({ min: 30000, max: 30004 }, undefined, bind);
    for (let i = 0; i < 3; i++) await binder('127.0.0.1');
    expect([...bound].sort()).to.deep.equal([30000, 30002, 30004]);
    let error: unknown;
    try { await binder('127.0.0.1'); } catch (e) { error = e; }
    expect(String(error)).to.include('no free UDP port on 127.0.0.1 in 30000-30004');
  });

  it('another bind error is not taken for a busy port', async () => {
    const binder = portRangeBinder({ min: 30000, max: 30009 }, undefined, async () => { throw Object.assign(new Error('bind EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' }); });
    let error: unknown;
    try { await binder('192.0.2.1'); } catch (e) { error = e; }
    expect(String(error)).to.include('EADDRNOTAVAIL');
  });

  it('binds a real UDP socket on the one port of a one-port range', async () => {
    const port = await freeUdpPort('127.0.0.1');
    const socket = await portRangeBinder({ min: port, max: port })('127.0.0.1');
    try {
      expect(socket.local.port).to.equal(port);
    } finally {
      await socket.close();
    }
  });
});
