/**
 * SipTransport over TLS (RFC 3261 §26, RFC 5630, RFC 5922 §7) on loopback with two sip.js
 * UserAgents and raw node:tls peers: a sips dialog, framing on the TLS stream, server identity
 * failures (wrong CA, wrong name) counted with a clear reason, and `verify: false`.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { Inviter, SessionState, UserAgent, type Invitation, type Session } from 'sip.js';
import { sipJsTransportOptions, transportOf, type SipProtocol } from '../../lib/sip/transport.js';
import { parseVia } from '../../lib/sip/wire-message.js';
import { SipStreamFramer, type SipTlsOptions } from '../../lib/net/tcp-framing.js';
import { checkSipServerIdentity } from '../../lib/net/sip-tls-identity.js';
import { testCertificates, type TestCertificates, type TestLeaf } from '../helpers/certs.js';
import { fixedSdhFactory } from './fixtures/fixed-sdh.js';

interface TraceEntry { dir: 'send' | 'recv'; first: string; callId: string; text: string; peerPort: number }

interface TestUa {
  ua: UserAgent;
  port: number;
  traces: TraceEntry[];
  invitations: Invitation[];
}

function header(text: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text);
  return m ? m[1]!.trim() : '';
}

let certs: TestCertificates;
const pem = (file: string): Buffer => readFileSync(file);
const serverTls = (leaf: TestLeaf = certs.server): SipTlsOptions => ({ cert: pem(leaf.certFile), key: pem(leaf.keyFile), ca: pem(certs.caFile) });

async function makeUa(user: string, tlsOptions: SipTlsOptions, protocol: SipProtocol = 'tls'): Promise<TestUa> {
  const t: TestUa = { ua: undefined as unknown as UserAgent, port: 0, traces: [], invitations: [] };
  const opts = sipJsTransportOptions({
    protocol,
    listen: { address: '127.0.0.1', port: 0 },
    tls: tlsOptions,
    trace: (dir, text, peer) => t.traces.push({ dir, first: text.split('\r\n')[0]!, callId: header(text, 'Call-ID'), text, peerPort: peer.port }),
  });
  t.ua = new UserAgent({
    ...opts,
    uri: UserAgent.makeURI(`sip:${user}@127.0.0.1`)!,
    sessionDescriptionHandlerFactory: fixedSdhFactory,
    delegate: { onInvite: (inv) => { t.invitations.push(inv); void inv.accept(); } },
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
      if (s === state) { clearTimeout(timer); resolve(); }
    });
  });
}

async function waitFor(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends an out-of-dialog OPTIONS from `from` to `uri`; the final status (sip.js's 503 on a transport error). */
function options(from: TestUa, uri: string, extraHeaders: string[] = []): Promise<number> {
  const core = from.ua.userAgentCore;
  const target = UserAgent.makeURI(uri)!;
  const request = core.makeOutgoingRequestMessage('OPTIONS', target, from.ua.configuration.uri, target, {}, extraHeaders);
  return new Promise<number>((resolve) => {
    core.request(request, {
      onAccept: (r) => resolve(r.message.statusCode ?? 0),
      onReject: (r) => resolve(r.message.statusCode ?? 0),
    });
  });
}

describe('SipTransport over TLS', function () {
  this.timeout(20000);
  const uas: TestUa[] = [];
  const ua = async (user: string, tlsOptions: SipTlsOptions, protocol: SipProtocol = 'tls') => {
    const t = await makeUa(user, tlsOptions, protocol);
    uas.push(t);
    return t;
  };

  before(async () => { certs = await testCertificates(); });
  afterEach(async () => {
    for (const t of uas.splice(0)) await t.ua.stop();
  });

  it('a sips dialog: Via SIP/2.0/TLS with alias, sips Contacts, the callee\'s BYE back over the caller\'s connection', async () => {
    const bob = await ua('bob', serverTls());
    // Alice has no certificate: she cannot accept a TLS connection, so whatever Bob sends must
    // travel on the connection Alice opened (RFC 5923 alias).
    const alice = await ua('alice', { ca: pem(certs.caFile) });
    expect(transportOf(alice.ua).protocol).to.equal('TLS');
    const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sips:bob@localhost:${bob.port}`)!);
    await inviter.invite();
    await waitState(inviter, SessionState.Established);
    const invitation = bob.invitations[0]!;
    await waitState(invitation, SessionState.Established);
    await invitation.bye();
    await waitState(inviter, SessionState.Terminated);
    await waitState(invitation, SessionState.Terminated);

    const callId = inviter.request.callId;
    const sent = (t: TestUa, start: string) => t.traces.find((e) => e.dir === 'send' && e.callId === callId && e.first.startsWith(start))!;
    const invite = sent(alice, 'INVITE').text;
    expect(invite.split('\r\n')[0]).to.equal(`INVITE sips:bob@localhost:${bob.port} SIP/2.0`);
    const via = parseVia(header(invite, 'Via'));
    expect(via.transport).to.equal('TLS');
    expect(via.port).to.equal(alice.port);
    expect(via.params.has('alias')).to.equal(true);
    expect(header(invite, 'Contact')).to.match(new RegExp(`^<sips:[^>]*@127\\.0\\.0\\.1:${alice.port}(;[^>]*)?>`));
    expect(header(invite, 'Contact')).to.not.include('transport=tls');
    expect(header(sent(bob, 'SIP/2.0 200').text, 'Contact')).to.match(new RegExp(`^<sips:[^>]*@127\\.0\\.0\\.1:${bob.port}`));
    const bye = sent(bob, 'BYE');
    expect(bye.first).to.match(new RegExp(`^BYE sips:[^ ]*@127\\.0\\.0\\.1:${alice.port}`));
    await waitFor(() => bob.traces.some((e) => e.dir === 'recv' && e.callId === callId && /^SIP\/2\.0 200/.test(e.first) && /BYE/.test(header(e.text, 'CSeq'))));
    // Alice never accepted a connection: every message she received came from Bob's port 5061-side
    // connection she opened, and Bob counted no failed handshake.
    expect(transportOf(bob.ua).stats.tlsFailures).to.equal(0);
    expect(transportOf(alice.ua).stats.tlsFailures).to.equal(0);
    expect(transportOf(alice.ua).stats.malformedDropped).to.equal(0);
  });

  it('frames by Content-Length on the TLS stream: pipelined and split messages answered, one without Content-Length counted and the stream closed', async () => {
    const bob = await ua('bob', serverTls());
    const socket = tls.connect({ host: '127.0.0.1', port: bob.port, ca: pem(certs.caFile), servername: 'localhost' });
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
    const framer = new SipStreamFramer();
    const responses: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const r of framer.push(chunk)) if (r.kind === 'message') responses.push(r.data.toString('utf8'));
    });
    const opt = (n: number) => `OPTIONS sip:bob@127.0.0.1:${bob.port} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKtls${n};rport\r\n`
      + `From: <sip:raw@127.0.0.1>;tag=r${n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: tls-framing-${n}\r\nCSeq: ${n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    socket.write(opt(1) + opt(2)); // two in one record
    const third = opt(3);
    socket.write(third.slice(0, 40));
    await new Promise((r) => setTimeout(r, 50));
    socket.write(third.slice(40));
    await waitFor(() => responses.length >= 3);
    expect(responses.map((r) => `${r.split('\r\n')[0]} ${header(r, 'CSeq')}`)).to.have.members(['SIP/2.0 200 OK 1 OPTIONS', 'SIP/2.0 200 OK 2 OPTIONS', 'SIP/2.0 200 OK 3 OPTIONS']);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(`OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKx\r\nCSeq: 9 OPTIONS\r\n\r\n`);
    await closed;
    expect(transportOf(bob.ua).stats.malformedDropped).to.equal(1);
  });

  it('a server certificate from an untrusted CA: the request fails (503), counted, with a reason naming the certificate', async () => {
    const bob = await ua('bob', serverTls(certs.other));
    const alice = await ua('alice', { ca: pem(certs.caFile) });
    const status = await options(alice, `sips:bob@localhost:${bob.port}`);
    expect(status).to.equal(503);
    expect(transportOf(alice.ua).stats.tlsFailures).to.equal(1);
    const callId = alice.traces.find((e) => e.first.startsWith('OPTIONS'))!.callId;
    expect(transportOf(alice.ua).sendFailure(callId)).to.match(/^TLS to localhost at 127\.0\.0\.1:\d+: server certificate not trusted: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(bob.traces.filter((e) => e.dir === 'recv'), 'nothing reached Bob').to.have.length(0);
  });

  it('a trusted certificate for another name: refused by the RFC 5922 identity check, for a name and for an IP target', async () => {
    const bob = await ua('bob', serverTls(certs.wrongName));
    const alice = await ua('alice', { ca: pem(certs.caFile) });
    expect(await options(alice, `sips:bob@localhost:${bob.port}`)).to.equal(503);
    expect(await options(alice, `sips:bob@127.0.0.1:${bob.port}`)).to.equal(503);
    const failures = alice.traces.filter((e) => e.first.startsWith('OPTIONS')).map((e) => transportOf(alice.ua).sendFailure(e.callId));
    expect(failures[0]).to.match(/certificate does not match host localhost \(identities: DNS:wrong\.example\)/);
    expect(failures[1]).to.match(/certificate does not match IP address 127\.0\.0\.1/);
    expect(transportOf(alice.ua).stats.tlsFailures).to.equal(2);
  });

  it('a URI sip: subjectAltName identifies the domain (RFC 5922 §7.1), maddr telling where to connect; an open connection is reused without a new check', async () => {
    const bob = await ua('bob', serverTls(certs.sipUri));
    const alice = await ua('alice', { ca: pem(certs.caFile) });
    // sip.js rewrites a Request-URI's host from maddr, so the route goes in a Route header (ours to read).
    expect(await options(alice, 'sips:bob@sip.example.test', [`Route: <sips:sip.example.test:${bob.port};maddr=127.0.0.1;lr>`])).to.equal(200);
    // A fresh connection to the same server for the IP: the certificate does not name it.
    const carol = await ua('carol', { ca: pem(certs.caFile) });
    expect(await options(carol, `sips:bob@127.0.0.1:${bob.port}`)).to.equal(503);
    // Alice's connection, checked for sip.example.test, is reused for a request to that address.
    expect(await options(alice, `sips:bob@127.0.0.1:${bob.port}`)).to.equal(200);
  });

  it('a client that presents a certificate (the server asks, optionally) is served like one that does not', async () => {
    const bob = await ua('bob', serverTls());
    const alice = await ua('alice', { ca: pem(certs.caFile), cert: pem(certs.client.certFile), key: pem(certs.client.keyFile) });
    expect(await options(alice, `sips:bob@localhost:${bob.port}`)).to.equal(200);
    expect(transportOf(bob.ua).stats.tlsFailures).to.equal(0);
  });

  it('verify: false (--tls-insecure) accepts an untrusted certificate for another name', async () => {
    const bob = await ua('bob', serverTls(certs.wrongName));
    const alice = await ua('alice', { ca: pem(certs.otherCaFile), verify: false });
    expect(await options(alice, `sips:bob@localhost:${bob.port}`)).to.equal(200);
    expect(transportOf(alice.ua).stats.tlsFailures).to.equal(0);
  });

  it('a sips: target over TCP is refused (RFC 5630), nothing sent', async () => {
    const alice = await ua('alice', {}, 'tcp');
    expect(await options(alice, 'sips:bob@127.0.0.1:5061')).to.equal(503);
    const callId = alice.traces.find((e) => e.first.startsWith('OPTIONS'))?.callId;
    expect(callId, 'not even traced as sent').to.equal(undefined);
  });
});

describe('checkSipServerIdentity (RFC 5922 §7)', () => {
  const cert = (subjectaltname: string | undefined, cn?: string) => ({ subjectaltname, subject: cn ? { CN: cn } : {} }) as unknown as tls.PeerCertificate;

  it('matches URI sip:/sips: and DNS SANs exactly, case-insensitively, never by wildcard', () => {
    expect(checkSipServerIdentity('Example.COM', cert('URI:sip:example.com'))).to.equal(undefined);
    expect(checkSipServerIdentity('example.com', cert('URI:sips:example.com;transport=tls'))).to.equal(undefined);
    expect(checkSipServerIdentity('proxy.example.com', cert('DNS:proxy.example.com, URI:sip:example.com'))).to.equal(undefined);
    expect(checkSipServerIdentity('a.example.com', cert('DNS:*.example.com'))?.message).to.match(/does not match host a\.example\.com/);
    // a SIP URI with a user part is not a domain identity
    expect(checkSipServerIdentity('example.com', cert('URI:sip:alice@example.com'))).to.be.instanceOf(Error);
  });

  it('uses the CN only when there is no URI or DNS SAN; IP targets need an IP SAN', () => {
    expect(checkSipServerIdentity('example.com', cert(undefined, 'example.com'))).to.equal(undefined);
    expect(checkSipServerIdentity('example.com', cert('DNS:other.example', 'example.com'))).to.be.instanceOf(Error);
    expect(checkSipServerIdentity('::1', cert('IP Address:0:0:0:0:0:0:0:1'))).to.equal(undefined);
    expect(checkSipServerIdentity('[::1]', cert('IP Address:0:0:0:0:0:0:0:1'))).to.equal(undefined);
    expect(checkSipServerIdentity('127.0.0.1', cert('DNS:localhost', '127.0.0.1'))?.message).to.match(/does not match IP address 127\.0\.0\.1 \(subjectAltName: DNS:localhost\)/);
  });
});

describe('SipTransport over TLS on IPv6', function () {
  this.timeout(20000);
  it('a sips call to [::1] checks the IP:::1 subjectAltName and completes', async () => {
    certs = await testCertificates();
    const make = async (user: string, tlsOptions: SipTlsOptions) => {
      const opts = sipJsTransportOptions({ protocol: 'tls', listen: { address: '::1', port: 0 }, tls: tlsOptions });
      const invitations: Invitation[] = [];
      const ua = new UserAgent({
        ...opts,
        uri: UserAgent.makeURI(`sip:${user}@[::1]`)!,
        sessionDescriptionHandlerFactory: fixedSdhFactory,
        delegate: { onInvite: (inv) => { invitations.push(inv); void inv.accept(); } },
      });
      await ua.start();
      return { ua, port: opts.port(), invitations };
    };
    const bob = await make('bob', serverTls());
    const alice = await make('alice', { ca: pem(certs.caFile) });
    try {
      const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sips:bob@[::1]:${bob.port}`)!);
      await inviter.invite();
      await waitState(inviter, SessionState.Established);
      await inviter.bye();
      await waitState(bob.invitations[0]!, SessionState.Terminated);
      expect(transportOf(alice.ua).stats.tlsFailures).to.equal(0);
    } finally {
      await alice.ua.stop();
      await bob.ua.stop();
    }
  });
});

describe('Phone registering over TLS with a sips: registrar', function () {
  this.timeout(20000);
  it('REGISTERs with a sips Contact and recognises its binding in the 200', async () => {
    certs = await testCertificates();
    const { Phone } = await import('../../lib/sip/user-agent.js');
    const requests: string[] = [];
    const server = tls.createServer({ cert: pem(certs.certFile), key: pem(certs.keyFile) }, (socket) => {
      const framer = new SipStreamFramer();
      socket.on('data', (chunk: Buffer) => {
        for (const r of framer.push(chunk)) {
          if (r.kind !== 'message') continue;
          const text = r.data.toString('utf8');
          requests.push(text);
          const copy = ['Via', 'From', 'Call-ID', 'CSeq'].map((h) => `${h}: ${header(text, h)}`);
          socket.write(['SIP/2.0 200 OK', ...copy, `To: ${header(text, 'To')};tag=reg1`, `Contact: ${header(text, 'Contact').replace(/;expires=\d+/, '')};expires=300`, 'Content-Length: 0', '', ''].join('\r\n'));
        }
      });
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const phone = await Phone.start({
      listen: { address: '127.0.0.1', port: 0 }, transport: 'tls', tls: { ca: pem(certs.caFile) },
      user: 'alice', register: `sips:alice@localhost:${port}`, media: { addresses: ['127.0.0.1'] },
    });
    try {
      expect(phone.registered).to.equal(true);
      expect(requests[0]!.split('\r\n')[0]).to.equal(`REGISTER sips:localhost:${port} SIP/2.0`);
      expect(header(requests[0]!, 'Contact')).to.match(new RegExp(`^<sips:alice@127\\.0\\.0\\.1:${phone.port}[;>]`));
    } finally {
      await phone.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
