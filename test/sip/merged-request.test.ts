/**
 * RFC 3261 §8.2.2.2 merged requests, with the index that replaced sip.js's linear scan
 * (lib/sip/sipjs/merged-request-index.ts, issue 14): the same request arriving by a second path (same
 * From tag, Call-ID and CSeq, no To tag, another branch) still gets 482 Loop Detected while the first
 * one's transaction lives, and a request that differs in any of the three is still answered as new.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Phone } from '../../lib/sip/user-agent.js';
import { IndexedServerMap } from '../../lib/sip/sipjs/merged-request-index.js';

interface Reply { status: number; callId: string; cseq: string; text: string }

function sdp(port: number): string {
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

describe('sip: merged requests (RFC 3261 §8.2.2.2) through the server index', function () {
  this.timeout(20000);
  let answerer: Phone;
  let socket: Socket;
  let port: number;
  const replies: Reply[] = [];
  before(async () => {
    answerer = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence' } });
    answerer.on('incoming', (call) => void answerer.answer(call, { provisional: 'none' }));
    socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    port = (socket.address() as { port: number }).port;
    socket.on('message', (data) => {
      const text = data.toString('utf8');
      const status = /^SIP\/2\.0 (\d{3})/.exec(text);
      if (!status) return;
      replies.push({ status: Number(status[1]), callId: /^Call-ID:\s*(\S+)/im.exec(text)?.[1] ?? '', cseq: /^CSeq:\s*(.+)$/im.exec(text)?.[1]?.trim() ?? '', text });
    });
  });
  after(async () => {
    socket?.close();
    await answerer?.stop();
  });

  function invite(callId: string, fromTag: string, cseq: number, branch: string): void {
    const body = sdp(40000);
    const ruri = `sip:merge@127.0.0.1:${answerer.port}`;
    const lines = [
      `INVITE ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`, 'Max-Forwards: 70',
      `From: <sip:t@127.0.0.1:${port}>;tag=${fromTag}`, `To: <${ruri}>`, `Call-ID: ${callId}`, `CSeq: ${cseq} INVITE`,
      `Contact: <sip:t@127.0.0.1:${port}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ];
    socket.send(lines.join('\r\n'), answerer.port, '127.0.0.1');
  }

  async function finalFor(callId: string, cseq: number, branch?: string): Promise<Reply> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = replies.find((x) => x.callId === callId && x.cseq === `${cseq} INVITE` && x.status >= 200 && (!branch || x.text.includes(`branch=${branch}`)));
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no final response for ${callId} CSeq ${cseq}${branch ? ` branch ${branch}` : ''}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  it('answers 482 to a second copy on another branch, and answers requests differing in From tag, Call-ID or CSeq as new', async () => {
    // Twenty answered calls first, so the core holds their INVITE servers (Timer L, 32 s) as under load.
    for (let i = 0; i < 20; i++) invite(`m-${i}`, `f${i}`, 1, `z9hG4bKm${i}`);
    for (let i = 0; i < 20; i++) expect((await finalFor(`m-${i}`, 1)).status).to.equal(200);
    invite('m-5', 'f5', 1, 'z9hG4bKother5');
    expect((await finalFor('m-5', 1, 'z9hG4bKother5')).status).to.equal(482);
    // Same Call-ID and CSeq, another From tag: a new request (answered, not 482).
    invite('m-6', 'g6', 1, 'z9hG4bKnewtag6');
    expect((await finalFor('m-6', 1, 'z9hG4bKnewtag6')).status).to.not.equal(482);
    // Same From tag and Call-ID, another CSeq.
    invite('m-7', 'f7', 2, 'z9hG4bKcseq7');
    expect((await finalFor('m-7', 2, 'z9hG4bKcseq7')).status).to.not.equal(482);
  });
});

describe('sip: IndexedServerMap', () => {
  const server = (fromTag: string, callId: string, cseq: number) => ({ transaction: { request: { fromTag, callId, cseq } } });

  it('without a probe, values() and iteration see every server; with one, only the probed request\'s', () => {
    const map = new IndexedServerMap<ReturnType<typeof server>>();
    const a = server('f1', 'c1', 1);
    const b = server('f2', 'c2', 1);
    const c = server('f1', 'c1', 1);
    map.set('a', a).set('b', b).set('c', c);
    expect([...map.values()]).to.deep.equal([a, b, c]);
    map.probeFor({ fromTag: 'f1', callId: 'c1', cseq: 1 });
    expect([...map.values()]).to.deep.equal([a, c]);
    // A probe serves one values() call.
    expect([...map.values()]).to.have.length(3);
    map.probeFor({ fromTag: 'f9', callId: 'c1', cseq: 1 });
    expect([...map.values()]).to.deep.equal([]);
  });

  it('a known id drops the probe (sip.js then skips its test); endProbe drops an unused one', () => {
    const map = new IndexedServerMap<ReturnType<typeof server>>();
    map.set('a', server('f1', 'c1', 1)).set('b', server('f2', 'c2', 1));
    map.probeFor({ fromTag: 'f1', callId: 'c1', cseq: 1 });
    expect(map.has('a')).to.equal(true);
    expect([...map.values()]).to.have.length(2);
    map.probeFor({ fromTag: 'f1', callId: 'c1', cseq: 1 });
    expect(map.has('zz')).to.equal(false);
    expect([...map.values()]).to.have.length(1);
    map.probeFor({ fromTag: 'f1', callId: 'c1', cseq: 1 });
    map.endProbe();
    expect([...map.values()]).to.have.length(2);
  });

  it('delete, replace and clear keep the index in step with the map', () => {
    const map = new IndexedServerMap<ReturnType<typeof server>>();
    for (let i = 0; i < 100; i++) map.set(`id${i}`, server(`f${i % 10}`, `c${i % 10}`, 1));
    expect(map.groups).to.equal(10);
    for (let i = 0; i < 100; i += 2) map.delete(`id${i}`);
    expect(map.size).to.equal(50);
    expect(map.groups).to.equal(5);
    map.set('id1', server('x', 'y', 3));
    map.probeFor({ fromTag: 'f1', callId: 'c1', cseq: 1 });
    expect([...map.values()]).to.have.length(9);
    for (const id of [...map.keys()]) map.delete(id);
    expect(map.groups).to.equal(0);
    map.set('z', server('a', 'b', 1));
    map.clear();
    expect(map.groups).to.equal(0);
    expect(map.size).to.equal(0);
  });
});
