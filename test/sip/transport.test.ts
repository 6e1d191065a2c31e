import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Inviter, SessionState, UserAgent, type Invitation, type Session } from 'sip.js';
import { sipJsTransportOptions, transportOf, boundAddress, SipTransport, type SipProtocol } from '../../lib/sip/transport.js';
import { parseWireMessage, parseVia } from '../../lib/sip/wire-message.js';
import { SipStreamFramer } from '../../lib/net/tcp-framing.js';
import { fixedSdhFactory } from './fixtures/fixed-sdh.js';

interface TraceEntry { dir: 'send' | 'recv'; first: string; cseq: string; callId: string; text: string }

interface TestUa {
  ua: UserAgent;
  port: number;
  traces: TraceEntry[];
  invitations: Invitation[];
  onInvite: (inv: Invitation) => void;
}

function header(text: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text);
  return m ? m[1]!.trim() : '';
}

async function makeUa(user: string, protocol: SipProtocol): Promise<TestUa> {
  const t: TestUa = { ua: undefined as unknown as UserAgent, port: 0, traces: [], invitations: [], onInvite: (inv) => void inv.accept() };
  const opts = sipJsTransportOptions({
    protocol,
    listen: { address: '127.0.0.1', port: 0 },
    trace: (dir, text) => {
      t.traces.push({ dir, first: text.split('\r\n')[0]!, cseq: header(text, 'CSeq'), callId: header(text, 'Call-ID'), text });
    },
  });
  t.ua = new UserAgent({
    ...opts,
    uri: UserAgent.makeURI(`sip:${user}@127.0.0.1`)!,
    sessionDescriptionHandlerFactory: fixedSdhFactory,
    delegate: {
      onInvite: (inv) => {
        t.invitations.push(inv);
        t.onInvite(inv);
      },
    },
  });
  await t.ua.start();
  t.port = opts.port();
  return t;
}

function waitState(session: Session, state: SessionState, ms = 10000): Promise<void> {
  if (session.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`session never reached ${state} (is ${session.state})`)), ms);
    session.stateChange.addListener((s) => {
      if (s === state) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Short description of a trace line: "send INVITE", "recv 180 INVITE". */
function describeTrace(e: TraceEntry): string {
  const m = /^SIP\/2\.0 (\d{3})/.exec(e.first);
  return m ? `${e.dir} ${m[1]} ${e.cseq.split(' ')[1]}` : `${e.dir} ${e.first.split(' ')[0]}`;
}

function sequence(t: TestUa, callId: string): string[] {
  return t.traces.filter((e) => e.callId === callId).map(describeTrace);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

for (const protocol of ['udp', 'tcp'] as const) {
  describe(`SipTransport over ${protocol.toUpperCase()} with two sip.js UserAgents`, function () {
    this.timeout(20000);
    let alice: TestUa;
    let bob: TestUa;
    const suffix = protocol === 'tcp' ? ';transport=tcp' : '';

    beforeEach(async () => {
      alice = await makeUa('alice', protocol);
      bob = await makeUa('bob', protocol);
    });
    afterEach(async () => {
      await alice.ua.stop();
      await bob.ua.stop();
    });

    it('binds an ephemeral port, known after start()', () => {
      expect(alice.port).to.be.greaterThan(0);
      expect(boundAddress(alice.ua).port).to.equal(alice.port);
      expect(transportOf(bob.ua)).to.be.instanceOf(SipTransport);
      expect(transportOf(bob.ua).protocol).to.equal(protocol.toUpperCase());
    });

    it('completes INVITE/100/180/200/ACK then BYE/200, with received/rport on the UAS side', async () => {
      const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}${suffix}`)!);
      await inviter.invite();
      await waitState(inviter, SessionState.Established);
      const invitation = bob.invitations[0]!;
      await waitState(invitation, SessionState.Established);
      await inviter.bye();
      await waitState(inviter, SessionState.Terminated);
      await waitState(invitation, SessionState.Terminated);

      const callId = inviter.request.callId;
      // the ACK is sent after sip.js processed the 200; the last 200 (BYE) may need a moment
      await waitFor(() => sequence(alice, callId).length >= 7 && sequence(bob, callId).length >= 7);
      expect(sequence(alice, callId).slice(0, 7)).to.deep.equal([
        'send INVITE', 'recv 100 INVITE', 'recv 180 INVITE', 'recv 200 INVITE', 'send ACK', 'send BYE', 'recv 200 BYE',
      ]);
      expect(sequence(bob, callId).slice(0, 7)).to.deep.equal([
        'recv INVITE', 'send 100 INVITE', 'send 180 INVITE', 'send 200 INVITE', 'recv ACK', 'recv BYE', 'send 200 BYE',
      ]);

      // What Alice put on the wire: real transport, sent-by and Contact.
      const invite = alice.traces.find((e) => e.dir === 'send' && e.first.startsWith('INVITE'))!.text;
      const via = parseVia(header(invite, 'Via'));
      expect(via.transport).to.equal(protocol.toUpperCase());
      expect(via.host).to.equal('127.0.0.1');
      expect(via.port).to.equal(alice.port);
      expect(via.params.has('rport')).to.equal(true);
      expect(header(invite, 'Contact')).to.match(new RegExp(`@127\\.0\\.0\\.1:${alice.port}${protocol === 'tcp' ? ';transport=tcp' : '(?!;transport)'}`));
      const ok = bob.traces.find((e) => e.dir === 'send' && e.first.startsWith('SIP/2.0 200') && e.cseq.endsWith('INVITE'))!.text;
      expect(header(ok, 'Contact')).to.include(`@127.0.0.1:${bob.port}`);

      // The UAS's (sip.js's) view of the request: received and rport added (RFC 3581 §4).
      const uasVia = invitation.request.getHeader('via')!;
      expect(uasVia).to.include('received=127.0.0.1');
      expect(uasVia).to.match(/rport=\d+/);
      if (protocol === 'udp') expect(uasVia).to.include(`rport=${alice.port}`);
      expect(transportOf(alice.ua).stats.malformedDropped).to.equal(0);
    });

    it('CANCELs a ringing call: 200 to CANCEL, 487 to INVITE, ACK', async () => {
      bob.onInvite = () => {}; // let it ring
      const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}${suffix}`)!);
      let cancelled = false;
      await inviter.invite({
        requestDelegate: {
          onProgress: (r) => {
            if (r.message.statusCode === 180 && !cancelled) {
              cancelled = true;
              void inviter.cancel();
            }
          },
        },
      });
      await waitState(inviter, SessionState.Terminated);
      await waitState(bob.invitations[0]!, SessionState.Terminated);
      const callId = inviter.request.callId;
      await waitFor(() => sequence(alice, callId).includes('send ACK'));
      const seq = sequence(alice, callId);
      expect(seq.slice(0, 4)).to.deep.equal(['send INVITE', 'recv 100 INVITE', 'recv 180 INVITE', 'send CANCEL']);
      expect(seq).to.include('recv 200 CANCEL');
      expect(seq.indexOf('recv 487 INVITE')).to.be.greaterThan(3);
      expect(seq.indexOf('send ACK')).to.be.greaterThan(seq.indexOf('recv 487 INVITE'));
      // the ACK to a non-2xx reuses the INVITE's branch and our real sent-by
      const sentInvite = alice.traces.find((e) => e.callId === callId && e.first.startsWith('INVITE'))!;
      const sentAck = alice.traces.find((e) => e.callId === callId && e.first.startsWith('ACK'))!;
      expect(header(sentAck.text, 'Via')).to.equal(header(sentInvite.text, 'Via'));
    });

    it('gets 200 to an out-of-dialog OPTIONS (sip.js core answers it statelessly)', async () => {
      const core = alice.ua.userAgentCore;
      const target = UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}${suffix}`)!;
      const request = core.makeOutgoingRequestMessage('OPTIONS', target, alice.ua.configuration.uri, target, {});
      const status = await new Promise<number>((resolve) => {
        core.request(request, {
          onAccept: (r) => resolve(r.message.statusCode ?? 0),
          onReject: (r) => resolve(r.message.statusCode ?? 0),
        });
      });
      expect(status).to.equal(200);
      expect(bob.traces.map(describeTrace)).to.include.members(['recv OPTIONS', 'send 200 OPTIONS']);
    });
  });
}

describe('SipTransport drops malformed input', function () {
  this.timeout(20000);

  const bad = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'));
  const table: Array<{ name: string; data: Buffer }> = [
    { name: 'random bytes', data: randomBytes(300) },
    { name: 'INVITE with nothing else', data: Buffer.from('INVITE\r\n\r\n') },
    { name: 'bad start line', data: bad('HELLO WORLD\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\n\n') },
    {
      name: 'request without Via and Call-ID',
      data: bad('OPTIONS sip:bob@127.0.0.1 SIP/2.0\nFrom: <sip:a@b>;tag=1\nTo: <sip:bob@127.0.0.1>\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n'),
    },
    {
      name: 'Content-Length larger than the body',
      data: bad('OPTIONS sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcl\nFrom: <sip:a@b>;tag=1\nTo: <sip:bob@127.0.0.1>\nCall-ID: cl1\nCSeq: 1 OPTIONS\nContent-Length: 500\n\nv=0\n'),
    },
    {
      name: 'non-numeric Content-Length',
      data: bad('OPTIONS sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcl2\nFrom: <sip:a@b>;tag=1\nTo: <sip:bob@127.0.0.1>\nCall-ID: cl2\nCSeq: 1 OPTIONS\nContent-Length: lots\n\n'),
    },
    { name: 'header line without colon', data: bad('OPTIONS sip:bob@127.0.0.1 SIP/2.0\nVia SIP/2.0/UDP x\n\n') },
    { name: 'response with a bad status code', data: bad('SIP/2.0 99 Odd\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKa\n\n') },
  ];

  for (const row of table) {
    it(`parser rejects: ${row.name}`, () => {
      expect(() => parseWireMessage(row.data)).to.throw();
    });
  }

  it('parser: a stream message without Content-Length is malformed, a datagram one is not', () => {
    const m = bad('OPTIONS sip:bob@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnl\nFrom: <sip:a@b>;tag=1\nTo: <sip:bob@127.0.0.1>\nCall-ID: nl\nCSeq: 1 OPTIONS\n\n');
    expect(() => parseWireMessage(m, true)).to.throw(/Content-Length/);
    expect(parseWireMessage(m, false).method).to.equal('OPTIONS');
  });

  it('TCP framer splits pipelined messages, skips CRLF keep-alives, fails on missing Content-Length', () => {
    const one = 'OPTIONS sip:b@h SIP/2.0\r\nContent-Length: 3\r\n\r\nabc';
    const framer = new SipStreamFramer();
    const whole = Buffer.from(`\r\n\r\n${one}${one}`);
    const out = [...framer.push(whole.subarray(0, 20)), ...framer.push(whole.subarray(20))];
    expect(out.map((r) => r.kind)).to.deep.equal(['message', 'message']);
    expect(framer.keepAlives).to.equal(1);
    const broken = new SipStreamFramer();
    expect(broken.push(Buffer.from('OPTIONS sip:b@h SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n'))[0]!.kind).to.equal('error');
  });

  it('UDP: every garbage datagram is counted and dropped, and a call still completes', async () => {
    const alice = await makeUa('alice', 'udp');
    const bob = await makeUa('bob', 'udp');
    try {
      const sock = dgram.createSocket('udp4');
      for (const row of table) sock.send(row.data, bob.port, '127.0.0.1');
      await waitFor(() => transportOf(bob.ua).stats.malformedDropped === table.length);
      sock.close();
      const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}`)!);
      await inviter.invite();
      await waitState(inviter, SessionState.Established);
      await inviter.bye();
      await waitState(inviter, SessionState.Terminated);
      await waitState(bob.invitations[0]!, SessionState.Terminated);
      expect(transportOf(bob.ua).stats.malformedDropped).to.equal(table.length);
      expect(transportOf(bob.ua).stats.received).to.be.greaterThan(0);
    } finally {
      await alice.ua.stop();
      await bob.ua.stop();
    }
  });

  it('TCP: a message without Content-Length is counted, the stream closed, and a call still completes', async () => {
    const alice = await makeUa('alice', 'tcp');
    const bob = await makeUa('bob', 'tcp');
    try {
      const sock = net.connect(bob.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const closed = new Promise((r) => sock.once('close', r));
      sock.write('OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt\r\nCSeq: 1 OPTIONS\r\n\r\n');
      await closed;
      expect(transportOf(bob.ua).stats.malformedDropped).to.equal(1);
      const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port};transport=tcp`)!);
      await inviter.invite();
      await waitState(inviter, SessionState.Established);
      await inviter.bye();
      await waitState(inviter, SessionState.Terminated);
      await waitState(bob.invitations[0]!, SessionState.Terminated);
    } finally {
      await alice.ua.stop();
      await bob.ua.stop();
    }
  });
});
