/**
 * The media session (lib/media/media-session.ts) answering `a=alt` offers written the
 * way deployed endpoints and middleboxes leave them, against a peer made of one loopback UDP socket
 * that answers the draft-rosenberg-sipping-ice-01 §5.5 checks with the draft's STUN server
 * (lib/stun/server.ts). Real sockets on 127.0.0.1, real clock; waits are for events.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { encodeLegacySuccessResponse, judgeLegacyRequest } from '../../lib/stun/legacy.js';
import { StunMessage } from '../../lib/stun/message.js';
import { MediaSession } from '../../lib/media/media-session.js';

interface Peer {
  socket: Socket;
  port: number;
  /** Binding requests answered, by USERNAME. */
  checks: string[];
  /** Datagrams that were not STUN (RTP/RTCP). */
  media: number;
}

/**
 * A peer alternate on 127.0.0.1 answering checks that carry one of `credentials`; the
 * MAPPED-ADDRESS it reports is `mapped` (so a value other than the real source makes the session
 * learn a peer derived address, draft §5.5).
 */
async function startPeer(credentials: Array<{ username: string; password: string }>, mapped?: { address: string; port: number }, host = '127.0.0.1'): Promise<Peer> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.bind(0, host);
  await once(socket, 'listening');
  const peer: Peer = { socket, port: socket.address().port, checks: [], media: 0 };
  socket.on('message', (data, rinfo) => {
    let msg: StunMessage;
    try {
      msg = StunMessage.decode(data);
    } catch {
      peer.media++;
      return;
    }
    if (msg.messageClass !== 'request') return;
    const verdict = judgeLegacyRequest(msg, (u) => credentials.find((c) => c.username === u));
    if (verdict.kind !== 'accept') return;
    peer.checks.push(verdict.credential.username);
    const from = { address: rinfo.address, port: rinfo.port };
    socket.send(encodeLegacySuccessResponse(msg, mapped ?? from, { address: host, port: peer.port }, verdict.credential.password), rinfo.port, rinfo.address);
  });
  return peer;
}

function offer(port: number, altLines: string[], host = '127.0.0.1'): string {
  const ip = host.includes(':') ? 'IP6' : 'IP4';
  return ['v=0', `o=deployed 1 1 IN ${ip} ${host}`, 's=-', `c=IN ${ip} ${host}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=rtcp-mux', ...altLines, ''].join('\r\n');
}

function session(host = '127.0.0.1'): MediaSession {
  return new MediaSession({ addresses: [host], includeLoopback: true, sdpFormat: 'both', play: 'silence', checkTimeoutMs: 5000 });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('media session: a=alt offers as deployed (draft-rosenberg-sipping-ice-01 §5.5, §7)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('connects to a peer whose qvalues are integer ranks, and writes its peer derived address on the 0..1 scale', async () => {
    const peer = await startPeer([{ username: 'rank2user', password: 'rank2pass' }], { address: '127.0.0.1', port: 45001 });
    cleanup.push(() => void peer.socket.close());
    const media = session();
    cleanup.push(() => media.closeAndWait());
    const ready = new Promise<void>((resolve) => media.once('media-ready', () => resolve()));
    // Rank 2 is the peer's best alternate (and the m/c address, draft §7 RECOMMENDS listing it);
    // rank 1 goes nowhere.
    await media.setDescription(offer(peer.port, [`a=alt:1 2 : rank2user rank2pass 127.0.0.1 ${peer.port}`, 'a=alt:2 1 : rank1user rank1pass 127.0.0.1 9']));
    const answer = (await media.getDescription()).body;
    expect(answer).to.match(/^a=alt:/m);
    expect(answer).to.not.match(/^a=candidate:/m);
    await within(ready, 4000, 'media-ready (a verified alternate)');
    const summary = media.summary();
    expect(summary.ice.format).to.equal('alt');
    expect(summary.ice.selectedPair?.remote).to.include({ address: '127.0.0.1', port: peer.port });
    expect(peer.checks).to.include('rank2user');
    // draft §5.5: the peer derived address takes the qvalue of the alternate it came through, here
    // the peer's rank 2, which is the best of its m-section: 1.0 when written (§7 grammar).
    const reoffer = (await media.getDescription()).body;
    expect(reoffer).to.match(/^a=alt:\S+ 1\.0 1 \S+ \S+ 127\.0\.0\.1 45001\r$/m);
  });

  it('connects to an IPv6 peer alternate written in brackets, ranked above an IPv4 one', async () => {
    const peer = await startPeer([{ username: 'v6user', password: 'v6pass' }], undefined, '::1');
    cleanup.push(() => void peer.socket.close());
    const media = session('::1');
    cleanup.push(() => media.closeAndWait());
    const ready = new Promise<void>((resolve) => media.once('media-ready', () => resolve()));
    await media.setDescription(offer(peer.port, [`a=alt:1 2 : v6user v6pass [::1] ${peer.port}`, 'a=alt:2 1 : v4user v4pass 127.0.0.1 9'], '::1'));
    await media.getDescription();
    await within(ready, 4000, 'media-ready over IPv6');
    expect(media.summary().ice.selectedPair?.remote).to.include({ address: '::1', port: peer.port });
    expect([...new Set(peer.checks)]).to.deep.equal(['v6user']);
  });

  it('answers plain and sends media to the m/c line when the a=alt lines do not include it (a proxy stripped ICE)', async () => {
    // With --sdp both the caller offered a=candidate and a=alt; the media proxy rewrote m/c to its
    // own address and removed the ICE attributes, leaving a=alt with the caller's own address.
    const proxy = await startPeer([]);
    cleanup.push(() => void proxy.socket.close());
    const caller = await startPeer([{ username: 'calleruser', password: 'callerpass' }]);
    cleanup.push(() => void caller.socket.close());
    const media = session();
    cleanup.push(() => media.closeAndWait());
    const firstMedia = new Promise<void>((resolve) => proxy.socket.once('message', () => resolve()));
    await media.setDescription(offer(proxy.port, [`a=alt:1 1.0 : calleruser callerpass 127.0.0.1 ${caller.port}`]));
    const answer = (await media.getDescription()).body;
    expect(answer).to.not.match(/^a=(alt|candidate|ice-ufrag|ice-pwd):/m);
    await within(firstMedia, 4000, 'RTP at the m/c address (the proxy)');
    expect(media.summary().ice.format).to.equal('none');
    expect(proxy.media).to.be.greaterThan(0);
    expect(caller.checks).to.deep.equal([]);
    expect(caller.media).to.equal(0);
  });
});
