import { expect } from 'chai';
import * as dgram from 'node:dgram';
import { UserAgent, type Invitation } from 'sip.js';
import { ManualClock } from '../../lib/base/clock.js';
import { TimeoutError } from '../../lib/base/errors.js';
import { sipJsTransportOptions } from '../../lib/sip/transport.js';
import { DialogExtensions } from '../../lib/sip/sipjs/update.js';
import { incomingInviteRequestOf, parseRAck, ReliableProvisionalSender } from '../../lib/sip/sipjs/reliable-provisional.js';
import { FIXED_SDP, fixedSdhFactory } from './fixtures/fixed-sdh.js';

const header = (text: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim() ?? '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/**
 * The UAS is a sip.js UserAgent with our sender; the UAC is a raw UDP socket, so the test decides
 * when (and whether) the PRACK goes out.
 */
describe('sip/reliable-provisional: reliable 183 with 100rel/RSeq, PRACK, RFC 3262 §3 retransmission', function () {
  this.timeout(10000);
  let ua: UserAgent;
  let port: number;
  let sock: dgram.Socket;
  let sockPort: number;
  let received: string[];
  let invitation: Invitation | undefined;
  let ext: DialogExtensions;

  beforeEach(async () => {
    const opts = sipJsTransportOptions({ protocol: 'udp', listen: { address: '127.0.0.1', port: 0 } });
    invitation = undefined;
    ua = new UserAgent({
      ...opts,
      uri: UserAgent.makeURI('sip:bob@127.0.0.1')!,
      sessionDescriptionHandlerFactory: fixedSdhFactory,
      sendInitialProvisionalResponse: false,
      delegate: { onInvite: (inv) => { invitation = inv; } },
    });
    await ua.start();
    port = opts.port();
    ext = DialogExtensions.install(ua.userAgentCore);
    sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    sockPort = sock.address().port;
    received = [];
    sock.on('message', (m) => received.push(m.toString()));
  });
  afterEach(async () => {
    sock.close();
    await ua.stop();
  });

  const send = (lines: string[], body = '') => {
    const text = [...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
    sock.send(text, port, '127.0.0.1');
  };
  const invite = () => send([
    `INVITE sip:bob@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sockPort};branch=z9hG4bK-inv1;rport`,
    'Max-Forwards: 70',
    '<sip:alice@127.0.0.1>;tag=a1'.replace(/^/, 'From: '),
    'To: <sip:bob@127.0.0.1>',
    'Call-ID: rel1xx-test',
    'CSeq: 7 INVITE',
    `Contact: <sip:alice@127.0.0.1:${sockPort}>`,
    'Supported: 100rel, precondition',
    'Content-Type: application/sdp',
  ], FIXED_SDP);
  const prackLines = (rack: string, branch: string, cseq: number, toTag: string) => [
    `PRACK sip:bob@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sockPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:alice@127.0.0.1>;tag=a1',
    `To: <sip:bob@127.0.0.1>;tag=${toTag}`,
    'Call-ID: rel1xx-test',
    `CSeq: ${cseq} PRACK`,
    `RAck: ${rack}`,
  ];
  const prack = (rack: string, branch: string, cseq: number, toTag: string) => send(prackLines(rack, branch, cseq, toTag));
  const responses = (code: number) => received.filter((t) => t.startsWith(`SIP/2.0 ${code}`));
  const toTagOf = (response: string) => /;tag=([^;\s]+)/.exec(header(response, 'To'))![1]!;
  /** INVITE in, then a sender on a ManualClock (T1 500 ms, 504 through the Invitation) with its reliable 183 out. */
  const startTimedSender = async (initialRSeq: number) => {
    invite();
    await waitFor(() => invitation !== undefined);
    const clock = new ManualClock();
    const sender = new ReliableProvisionalSender(incomingInviteRequestOf(invitation!), ext, {
      clock, T1: 500, initialRSeq, reject: (statusCode) => void invitation!.reject({ statusCode }),
    });
    const acked = sender.send({ statusCode: 183, body: { contentType: 'application/sdp', content: FIXED_SDP } });
    await waitFor(() => responses(183).length === 1);
    return { clock, sender, acked, toTag: toTagOf(responses(183)[0]!) };
  };

  it('parses RAck (RFC 3262 §7.2)', () => {
    expect(parseRAck('776656 1 INVITE')).to.deep.equal({ rseq: 776656, cseq: 1, method: 'INVITE' });
    expect(parseRAck(' 5  2 invite ')).to.deep.equal({ rseq: 5, cseq: 2, method: 'INVITE' });
    expect(parseRAck('5 INVITE')).to.equal(undefined);
    expect(parseRAck(undefined)).to.equal(undefined);
  });

  it('retransmits at T1, 2·T1, 4·T1… until the PRACK; 481 to a PRACK with a wrong RAck; 200 to the right one', async () => {
    invite();
    await waitFor(() => invitation !== undefined);
    const clock = new ManualClock();
    const sender = new ReliableProvisionalSender(incomingInviteRequestOf(invitation!), ext, { clock, initialRSeq: 4711 });
    const acked = sender.send({ statusCode: 183, reasonPhrase: 'Session Progress', body: { contentType: 'application/sdp', content: FIXED_SDP } });
    await waitFor(() => responses(183).length === 1);
    const first = responses(183)[0]!;
    expect(header(first, 'Require')).to.equal('100rel');
    expect(header(first, 'RSeq')).to.equal('4711');
    expect(first).to.include('m=audio');
    clock.advance(499);
    await sleep(30);
    expect(responses(183)).to.have.length(1);
    clock.advance(1); // T1
    await waitFor(() => responses(183).length === 2);
    clock.advance(1000); // 2·T1 later
    await waitFor(() => responses(183).length === 3);
    clock.advance(1999);
    await sleep(30);
    expect(responses(183)).to.have.length(3);
    clock.advance(1); // 4·T1 later
    await waitFor(() => responses(183).length === 4);
    expect(responses(183).every((r) => r === first)).to.equal(true);

    const toTag = toTagOf(first);
    prack('4710 7 INVITE', 'z9hG4bK-pr1', 8, toTag);
    await waitFor(() => responses(481).length === 1);
    expect(sender.pending).to.equal(true);
    prack('4711 7 INVITE', 'z9hG4bK-pr2', 9, toTag);
    await waitFor(() => received.some((t) => t.startsWith('SIP/2.0 200') && /PRACK/.test(header(t, 'CSeq'))));
    const ack = await acked;
    expect(ack).to.include({ rseq: 4711, transmissions: 4 });
    expect(sender.pending).to.equal(false);
    clock.advance(60_000);
    await sleep(30);
    expect(responses(183)).to.have.length(4);
    // The next reliable provisional takes the next RSeq.
    void sender.send({ statusCode: 180 }).catch(() => undefined);
    await waitFor(() => responses(180).length === 1);
    expect(header(responses(180)[0]!, 'RSeq')).to.equal('4712');
    sender.dispose();
  });

  it('without PRACK for 64·T1 the INVITE is rejected with 504 and send() rejects with TimeoutError', async () => {
    const { clock, acked: p } = await startTimedSender(1);
    for (let i = 0; i < 8; i++) {
      clock.advance(500 * 2 ** i);
      await sleep(5);
    }
    // Sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; the 64·T1 (32 s) deadline ends it.
    await waitFor(() => responses(504).length === 1);
    expect(responses(183)).to.have.length(7);
    try {
      await p;
      expect.fail('expected TimeoutError');
    } catch (e) {
      expect(e).to.be.instanceOf(TimeoutError);
    }
  });

  it('a PRACK read only after a blocked event loop passed the 64·T1 deadline still acknowledges the 183 (no 504)', async () => {
    const { clock, sender, acked, toTag } = await startTimedSender(21);
    clock.advance(31_500);
    await sleep(5);
    // The loop is busy across the deadline; the PRACK had arrived in time and is read after the timers ran.
    const prackText = [...prackLines('21 7 INVITE', 'z9hG4bK-late1', 8, toTag), 'Content-Length: 0', '', ''].join('\r\n');
    const transport = (ua as unknown as { transport: { onMessage?: (m: string) => void } }).transport;
    clock.stall(1000, () => transport.onMessage!(prackText));
    const ack = await acked;
    expect(ack.rseq).to.equal(21);
    await waitFor(() => received.some((t) => t.startsWith('SIP/2.0 200') && /PRACK/.test(header(t, 'CSeq'))));
    await sleep(30);
    expect(responses(504)).to.have.length(0);
    sender.dispose();
  });

  it('a PRACK after the 504, once the call dropped its handler, gets 481 (RFC 3262 §3), not the 200 sip.js would send', async () => {
    const { clock, sender, acked, toTag } = await startTimedSender(31);
    const p = acked.catch((e: unknown) => e);
    clock.advance(32_000);
    await waitFor(() => responses(504).length === 1);
    expect(await p).to.be.instanceOf(TimeoutError);
    // As IncomingPreconditions.dispose() does when the call ends.
    sender.dispose();
    ext.setPrackHandler(sender.session!, undefined);
    prack('31 7 INVITE', 'z9hG4bK-after504', 8, toTag);
    await waitFor(() => responses(481).length === 1);
    expect(received.filter((t) => t.startsWith('SIP/2.0 200') && /PRACK/.test(header(t, 'CSeq')))).to.have.length(0);
  });
});
