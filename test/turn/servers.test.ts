import { expect } from 'chai';
import type { SrvRecord } from 'node:dns';
import { ManualClock } from '../../lib/base/clock.js';
import { TimeoutError } from '../../lib/base/errors.js';
import {
  AllServersFailedError, firstWorking, orderSrvRecords, parseIceServerUri, resolveIceServer, srvName, type IceServerResolver,
} from '../../lib/turn/servers.js';

/** A resolver answering from tables, recording what was asked (no DNS traffic). */
function fakeResolver(srv: Record<string, SrvRecord[]>, hosts: Record<string, string[]>): IceServerResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async resolveSrv(name) {
      asked.push(`SRV ${name}`);
      const r = srv[name];
      if (!r) throw Object.assign(new Error(`querySrv ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return r;
    },
    async lookup(host) {
      asked.push(`A/AAAA ${host}`);
      const r = hosts[host];
      if (!r) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return r.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  };
}

const srv = (name: string, port: number, priority = 10, weight = 0): SrvRecord => ({ name, port, priority, weight });

describe('turn/servers: resolution (RFC 7064/7065 SRV, then A/AAAA)', () => {
  it('names the SRV service per scheme and transport', () => {
    expect(srvName(parseIceServerUri('turn:example.net'))).to.equal('_turn._udp.example.net');
    expect(srvName(parseIceServerUri('turn:example.net?transport=tcp'))).to.equal('_turn._tcp.example.net');
    expect(srvName(parseIceServerUri('turns:example.net'))).to.equal('_turns._tcp.example.net');
    expect(srvName(parseIceServerUri('stun:example.net'))).to.equal('_stun._udp.example.net');
  });

  it('an IP literal needs no DNS', async () => {
    const r = fakeResolver({}, {});
    expect(await resolveIceServer(parseIceServerUri('turn:127.0.0.1:3479?transport=tcp'), r)).to.deep.equal([{ address: '127.0.0.1', port: 3479, transport: 'tcp' }]);
    expect(await resolveIceServer(parseIceServerUri('turns:[::1]'), r)).to.deep.equal([{ address: '::1', port: 5349, transport: 'tls' }]);
    expect(r.asked).to.deep.equal([]);
  });

  it('uses SRV when there is no port: priority order, each target\'s A and AAAA', async () => {
    const r = fakeResolver(
      { '_turn._udp.example.net': [srv('b.example.net', 3479, 20), srv('a.example.net', 3478, 10)] },
      { 'a.example.net': ['192.0.2.1', '2001:db8::1'], 'b.example.net': ['192.0.2.2'] },
    );
    const out = await resolveIceServer(parseIceServerUri('turn:example.net'), r);
    expect(out).to.deep.equal([
      { address: '192.0.2.1', port: 3478, transport: 'udp' },
      { address: '2001:db8::1', port: 3478, transport: 'udp' },
      { address: '192.0.2.2', port: 3479, transport: 'udp' },
    ]);
    expect(r.asked[0]).to.equal('SRV _turn._udp.example.net');
  });

  it('turns: looks up _turns._tcp and returns transport tls', async () => {
    const r = fakeResolver({ '_turns._tcp.example.net': [srv('relay.example.net.', 443)] }, { 'relay.example.net': ['192.0.2.9'] });
    expect(await resolveIceServer(parseIceServerUri('turns:example.net'), r)).to.deep.equal([{ address: '192.0.2.9', port: 443, transport: 'tls' }]);
  });

  it('falls back to A/AAAA with the default port when there is no SRV record', async () => {
    const r = fakeResolver({}, { 'example.net': ['192.0.2.5'] });
    expect(await resolveIceServer(parseIceServerUri('turn:example.net?transport=tcp'), r)).to.deep.equal([{ address: '192.0.2.5', port: 3478, transport: 'tcp' }]);
    expect(r.asked).to.deep.equal(['SRV _turn._tcp.example.net', 'A/AAAA example.net']);
  });

  it('an explicit port skips SRV', async () => {
    const r = fakeResolver({ '_stun._udp.example.net': [srv('x.example.net', 1)] }, { 'example.net': ['192.0.2.5'] });
    expect(await resolveIceServer(parseIceServerUri('stun:example.net:19302'), r)).to.deep.equal([{ address: '192.0.2.5', port: 19302, transport: 'udp' }]);
    expect(r.asked).to.deep.equal(['A/AAAA example.net']);
  });

  it('fails naming the URI when nothing resolves, and on a "." SRV target', async () => {
    const r = fakeResolver({ '_turn._udp.gone.example': [srv('.', 0)] }, {});
    try {
      await resolveIceServer(parseIceServerUri('turn:nowhere.example'), r);
      expect.fail('resolved');
    } catch (e) {
      expect((e as Error).message).to.match(/^turn:nowhere\.example: cannot resolve 'nowhere\.example'/);
    }
    try {
      await resolveIceServer(parseIceServerUri('turn:gone.example'), r);
      expect.fail('resolved');
    } catch (e) {
      expect((e as Error).message).to.match(/not offered/);
    }
  });

  it('orders SRV records per RFC 2782: priority first, then weighted', () => {
    const records = [srv('c', 1, 20, 0), srv('a', 1, 10, 90), srv('b', 1, 10, 10)];
    expect(orderSrvRecords(records, () => 0).map((r) => r.name)).to.deep.equal(['a', 'b', 'c']);
    // random near 1 picks the last candidate of the running sum first.
    expect(orderSrvRecords(records, () => 0.999).map((r) => r.name)).to.deep.equal(['b', 'a', 'c']);
    let aFirst = 0;
    let seed = 1;
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 1000; i++) if (orderSrvRecords(records, lcg)[0]!.name === 'a') aFirst++;
    expect(aFirst).to.be.within(800, 960);
  });
});

describe('turn/servers: firstWorking (ordered failover)', () => {
  const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  it('returns the first server that works, recording earlier failures', async () => {
    const r = await firstWorking(['a', 'b', 'c'], async (s) => {
      if (s === 'a') throw new Error('a: refused');
      return `ok ${s}`;
    }, 1000);
    expect(r.result).to.equal('ok b');
    expect(r.server).to.equal('b');
    expect(r.failures.map((f) => f.error.message)).to.deep.equal(['a: refused']);
  });

  it('a hanging server costs its timeout, gets aborted, and a late result is disposed', async () => {
    const disposed: string[] = [];
    let aborted = false;
    const r = await firstWorking(['slow', 'fast'], async (s, signal) => {
      if (s === 'slow') {
        signal.addEventListener('abort', () => { aborted = true; });
        await delay(250);
        return 'late';
      }
      return 'quick';
    }, 100, { dispose: (late) => { disposed.push(late); } });
    expect(r.result).to.equal('quick');
    expect(r.elapsedMs).to.be.within(90, 220);
    expect(r.failures[0]!.error).to.be.instanceOf(TimeoutError);
    expect(aborted).to.equal(true);
    await delay(250);
    expect(disposed).to.deep.equal(['late']);
  });

  it('runs on the injected clock: a dead server costs exactly its timeout on a ManualClock, no real time', async function () {
    this.timeout(2000); // a real 60 s timer would never fire within the test
    const clock = new ManualClock();
    const disposed: string[] = [];
    let finishSlow: (v: string) => void = () => {};
    const outcome = firstWorking(['dead', 'live'], (s) => s === 'dead'
      ? new Promise<string>((resolve) => { finishSlow = resolve; })
      : new Promise<string>((resolve) => clock.setTimer(250, () => resolve('ok'))), 60_000, { clock, dispose: (late) => { disposed.push(late); } });
    await new Promise<void>((r) => setImmediate(r));
    clock.advance(59_999);
    await new Promise<void>((r) => setImmediate(r));
    expect(clock.pendingCount).to.equal(1); // still waiting on the dead server
    clock.advance(1);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    clock.advance(250);
    const r = await outcome;
    expect(r.result).to.equal('ok');
    expect(r.elapsedMs).to.equal(60_250);
    expect(r.failures[0]!.error).to.be.instanceOf(TimeoutError);
    expect(clock.pendingCount).to.equal(0); // the live attempt's timeout was cleared on the clock
    finishSlow('late');
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    expect(disposed).to.deep.equal(['late']);
  });

  it('throws AllServersFailedError with every cause on one line', async () => {
    try {
      await firstWorking([{ address: '192.0.2.1', port: 3478, transport: 'udp' }, { address: '192.0.2.2', port: 3478, transport: 'udp' }],
        async (s) => { throw new Error(`boom\nat ${s.address}`); }, 100);
      expect.fail('succeeded');
    } catch (e) {
      expect(e).to.be.instanceOf(AllServersFailedError);
      expect((e as Error).message).to.not.include('\n');
      expect((e as Error).message).to.match(/^all 2 servers failed: 192\.0\.2\.1:3478\/udp: boom at 192\.0\.2\.1; 192\.0\.2\.2:3478\/udp/);
    }
  });
});
