import { expect } from 'chai';
import type { ManualClock } from '../../lib/base/clock.js';
import { isStunPacket, StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { decodeChannelData, isChannelData } from '../../lib/turn/channel-data.js';
import type { TurnClient, TurnError } from '../../lib/turn/client.js';
import { CHANNEL_LIFETIME_MS, PERMISSION_LIFETIME_MS, retryDelay } from '../../lib/turn/upkeep.js';
import { allocate, flush, KEY, PEER, reply, type FakeSocket } from './scripted-server.js';

/**
 * Permission and channel upkeep (RFC 8656 §9, §12) against the scripted server under a
 * ManualClock: failed refreshes are retried with the back-off of upkeep.ts, and a channel whose
 * binding lapsed is no longer used for ChannelData.
 */

describe('turn/upkeep: retry back-off derived from the lifetimes', () => {
  it('starts at lifetime/60, doubles, caps at lifetime/10, and lands before expiry', () => {
    // Permission (300 s): 5 s, 10 s, 20 s, 30 s (cap) once lapsed; bounded by half the time left before.
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(PERMISSION_LIFETIME_MS, n, 0))).to.deep.equal([5000, 10_000, 20_000, 30_000, 30_000]);
    expect([1, 2, 3].map((n) => retryDelay(CHANNEL_LIFETIME_MS, n, 0))).to.deep.equal([10_000, 20_000, 40_000]);
    expect(retryDelay(CHANNEL_LIFETIME_MS, 10, 0)).to.equal(60_000);
    expect(retryDelay(PERMISSION_LIFETIME_MS, 3, 30_000)).to.equal(15_000);
    expect(retryDelay(PERMISSION_LIFETIME_MS, 1, 500)).to.equal(1000);
    expect(retryDelay(PERMISSION_LIFETIME_MS, 1000, 0)).to.equal(30_000);
  });
});

/** Requests the client sent since `from` (an index into socket.sent), with where they were. */
function requestsSince(socket: FakeSocket, from: number): StunMessage[] {
  return socket.sent.slice(from).filter(isStunPacket).map((b) => StunMessage.decode(b)).filter((m) => m.messageClass === 'request');
}

/** Moves the clock in `step` ms steps, letting the client's promise callbacks run in between. */
async function run(clock: ManualClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

/** What the client put on the wire since `from`: ChannelData, Send indications, requests by method. */
function wire(socket: FakeSocket, from: number): { channelData: number[]; sendIndications: number; requests: number[] } {
  const out = { channelData: [] as number[], sendIndications: 0, requests: [] as number[] };
  for (const b of socket.sent.slice(from)) {
    if (isChannelData(b)) out.channelData.push(decodeChannelData(b).channel);
    else if (isStunPacket(b)) {
      const m = StunMessage.decode(b);
      if (m.messageClass === 'indication' && m.method === StunMethod.Send) out.sendIndications++;
      if (m.messageClass === 'request') out.requests.push(m.method);
    }
  }
  return out;
}

/**
 * Answers every request of `method` the client sent since `from` that has not been answered:
 * success, or an error code.
 */
function answer(client: TurnClient, socket: FakeSocket, answered: Set<string>, method: number, how: 'success' | number): number {
  let n = 0;
  for (const m of requestsSince(socket, 0)) {
    const id = m.transactionId.toString('hex');
    if (m.method !== method || answered.has(id)) continue;
    answered.add(id);
    n++;
    if (how === 'success') reply(client, m, 'success', () => {}, { key: KEY });
    else reply(client, m, 'error', (r) => r.addErrorCode(how), { key: KEY });
  }
  return n;
}

describe('turn/client: permission and channel upkeep (RFC 8656 §9, §12)', () => {
  it('a failed permission refresh is retried after 5 s, then 10 s, until it succeeds; Send indications continue meanwhile', async () => {
    const { client, socket, clock } = await allocate({ autoChannel: false });
    const answered = new Set<string>();
    const warnings: TurnError[] = [];
    client.on('warning', (e) => warnings.push(e));
    client.send(Buffer.from('one'), PEER);
    await flush();
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 'success')).to.equal(1);
    await flush();
    const start = clock.now();
    await run(clock, 240_000, 10_000);
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 500)).to.equal(1); // the refresh at 4 minutes
    await flush();
    expect(warnings.map((w) => w.code)).to.deep.equal([500]);
    let mark = socket.sent.length;
    await run(clock, 4900);
    expect(wire(socket, mark).requests).to.deep.equal([]);
    await run(clock, 100);
    expect(wire(socket, mark).requests).to.deep.equal([StunMethod.CreatePermission]); // first retry: 5 s
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 508)).to.equal(1);
    await flush();
    mark = socket.sent.length;
    await run(clock, 9900);
    expect(wire(socket, mark).requests).to.deep.equal([]);
    await run(clock, 100);
    expect(wire(socket, mark).requests).to.deep.equal([StunMethod.CreatePermission]); // second retry: 10 s later
    // Still within the 5 minutes: the permission holds and data goes out as Send indications.
    mark = socket.sent.length;
    client.send(Buffer.from('two'), PEER);
    expect(wire(socket, mark).sendIndications).to.equal(1);
    const retriedAt = clock.now();
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 'success')).to.equal(1);
    await flush();
    // The next refresh comes 4 minutes after the successful retry was sent.
    mark = socket.sent.length;
    await run(clock, 240_000 - 100, 10_000);
    expect(wire(socket, mark).requests).to.deep.equal([]);
    await run(clock, 100);
    expect(wire(socket, mark).requests).to.deep.equal([StunMethod.CreatePermission]);
    expect(retriedAt - start).to.equal(255_000);
    expect(warnings.map((w) => w.kind)).to.deep.equal(['rejected', 'rejected']);
  });

  it('a permission whose refreshes go unanswered lapses at 5 minutes: sends queue until a new permission exists', async () => {
    const { client, socket, clock } = await allocate({ autoChannel: false });
    const answered = new Set<string>();
    const warnings: TurnError[] = [];
    client.on('warning', (e) => warnings.push(e));
    client.send(Buffer.from('one'), PEER);
    await flush();
    answer(client, socket, answered, StunMethod.CreatePermission, 'success');
    await flush();
    // The server goes silent: the refresh at 240 s times out at 279.5 s, its retry is still
    // retransmitting when the permission runs out at 300 s.
    await run(clock, 299_900, 100);
    let mark = socket.sent.length;
    client.send(Buffer.from('before'), PEER);
    expect(wire(socket, mark).sendIndications).to.equal(1);
    await run(clock, 200);
    expect(warnings.map((w) => w.kind)).to.deep.equal(['timeout', 'expired']);
    expect(warnings[1]!.message).to.match(/permission for 198\.51\.100\.20 lapsed after 1 failed refresh$/);
    mark = socket.sent.length;
    client.send(Buffer.from('after'), PEER);
    expect(wire(socket, mark).sendIndications).to.equal(0); // queued: the server has no permission any more
    // The retry in flight is answered at last: the queued packet goes out.
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 'success')).to.be.at.least(1);
    await flush();
    const after = socket.sent.slice(mark).filter(isStunPacket).map((b) => StunMessage.decode(b))
      .filter((m) => m.messageClass === 'indication').map((m) => m.get(StunAttr.DATA)!.toString());
    expect(after).to.deep.equal(['after']);
  });

  it('a channel whose refreshes keep failing lapses at 10 minutes: ChannelData stops, Send indications take over, a rebind restores it', async () => {
    const { client, socket, clock } = await allocate();
    const answered = new Set<string>();
    const warnings: TurnError[] = [];
    client.on('warning', (e) => warnings.push(e));
    const bound = client.bindChannel(PEER);
    await flush();
    answer(client, socket, answered, StunMethod.ChannelBind, 'success');
    expect(await bound).to.equal(0x4000);
    // Permissions are refreshed fine all along; every ChannelBind refresh is refused.
    const bindTimes: number[] = [];
    for (let t = 0; t < 600_000; t += 100) {
      clock.advance(100);
      await flush();
      answer(client, socket, answered, StunMethod.CreatePermission, 'success');
      const before = bindTimes.length;
      for (const m of requestsSince(socket, 0)) if (m.method === StunMethod.ChannelBind && !answered.has(m.transactionId.toString('hex'))) bindTimes.push(clock.now());
      if (bindTimes.length > before) answer(client, socket, answered, StunMethod.ChannelBind, 403);
      await flush();
      if (t === 590_000) {
        const mark = socket.sent.length;
        client.send(Buffer.from('still bound'), PEER);
        expect(wire(socket, mark).channelData).to.deep.equal([0x4000]); // the binding holds until 10 minutes
      }
    }
    // Refresh at 540 s, then retries after 10 s, 20 s, then half the time left (15 s, 7.5 s, ...), at least 1 s.
    expect(bindTimes.slice(0, 5)).to.deep.equal([540_000, 550_000, 570_000, 585_000, 592_500]);
    expect(bindTimes.every((t) => t < 600_000)).to.equal(true);
    expect(bindTimes.length).to.be.within(7, 9);
    await run(clock, 1000);
    expect(warnings.filter((w) => w.kind === 'expired').map((w) => w.message)).to.deep.equal([
      'TURN server 203.0.113.5:3478/udp: channel 0x4000 to 198.51.100.20:6000 lapsed after ' + `${bindTimes.length} failed refreshes: using Send indications until it is bound again`,
    ]);
    let mark = socket.sent.length;
    client.send(Buffer.from('lapsed'), PEER);
    let out = wire(socket, mark);
    expect(out.channelData).to.deep.equal([]);
    expect(out.sendIndications).to.equal(1);
    expect(out.requests).to.deep.equal([StunMethod.ChannelBind]); // the back-off has passed: rebind on this send
    const rebind = requestsSince(socket, mark)[0]!;
    expect(rebind.get(StunAttr.CHANNEL_NUMBER)!.readUInt16BE(0)).to.equal(0x4000);
    mark = socket.sent.length;
    client.send(Buffer.from('while rebinding'), PEER);
    out = wire(socket, mark);
    expect(out).to.deep.equal({ channelData: [], sendIndications: 1, requests: [] });
    answer(client, socket, answered, StunMethod.ChannelBind, 'success');
    await flush();
    mark = socket.sent.length;
    client.send(Buffer.from('bound again'), PEER);
    expect(wire(socket, mark).channelData).to.deep.equal([0x4000]);
    expect(client.stats.channels).to.equal(1);
  });

  it('a rebind refused once waits out the back-off: further sends use Send indications without a ChannelBind each', async () => {
    const { client, socket, clock } = await allocate();
    const answered = new Set<string>();
    client.on('warning', () => {});
    client.send(Buffer.from('first'), PEER);
    await flush();
    // ChannelBind and CreatePermission both went out? Only the ChannelBind (it installs the permission too).
    expect(wire(socket, 0).requests.filter((m) => m !== StunMethod.Allocate)).to.deep.equal([StunMethod.ChannelBind]);
    answer(client, socket, answered, StunMethod.ChannelBind, 403);
    await flush();
    // The bind failed: the queued packet goes out as a Send indication once a permission exists.
    expect(answer(client, socket, answered, StunMethod.CreatePermission, 'success')).to.equal(1);
    await flush();
    expect(client.stats.sendIndications).to.equal(1);
    let mark = socket.sent.length;
    for (let i = 0; i < 5; i++) client.send(Buffer.from(`n${i}`), PEER);
    expect(wire(socket, mark)).to.deep.equal({ channelData: [], sendIndications: 5, requests: [] });
    await run(clock, 10_000);
    mark = socket.sent.length;
    client.send(Buffer.from('later'), PEER);
    expect(wire(socket, mark).requests).to.deep.equal([StunMethod.ChannelBind]);
  });

  it('a 437 to a permission refresh means the allocation is gone', async () => {
    const { client, socket, clock } = await allocate({ autoChannel: false });
    const answered = new Set<string>();
    const closed: string[] = [];
    client.on('closed', (r) => closed.push(r));
    const created = client.createPermission(PEER);
    await flush();
    answer(client, socket, answered, StunMethod.CreatePermission, 'success');
    await created;
    await run(clock, 240_000, 10_000);
    answer(client, socket, answered, StunMethod.CreatePermission, 437);
    await flush();
    expect(closed).to.have.length(1);
    expect(client.allocated).to.equal(false);
  });
});
