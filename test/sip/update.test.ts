import { expect } from 'chai';
import * as dgram from 'node:dgram';
import { Inviter, SessionState, SIPExtension, UserAgent, type Core, type Invitation, type Session } from 'sip.js';
import { ManualClock } from '../../lib/base/clock.js';
import { StateError } from '../../lib/base/errors.js';
import { sipJsTransportOptions } from '../../lib/sip/transport.js';
import { DialogExtensions, glareBackoffMs, type IncomingUpdate, type SipBody } from '../../lib/sip/sipjs/update.js';
import {
  attachEarlyDialog,
  incomingInviteRequestOf,
  ReliableProvisionalSender,
  useLocalDescriptionIn2xx,
} from '../../lib/sip/sipjs/reliable-provisional.js';
import { FIXED_SDP, fixedSdhFactory } from './fixtures/fixed-sdh.js';

interface Trace { dir: 'send' | 'recv'; first: string; cseq: string; text: string }
interface Peer {
  ua: UserAgent;
  port: number;
  traces: Trace[];
  ext: DialogExtensions;
  clock: ManualClock;
  updates: IncomingUpdate[];
  /** What to do with an incoming UPDATE (default: answer offers with `answerSdp`). */
  onUpdate: (u: IncomingUpdate) => void;
  invitations: Invitation[];
  onInvite: (inv: Invitation) => void;
}

const header = (text: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim() ?? '';
const sdp = (version: number): SipBody => ({ contentType: 'application/sdp', content: FIXED_SDP.replace('o=- 1 1', `o=- 1 ${version}`) });

async function makePeer(user: string): Promise<Peer> {
  const p = { traces: [] as Trace[], updates: [] as IncomingUpdate[], invitations: [] as Invitation[], clock: new ManualClock() } as Peer;
  p.onUpdate = (u) => (u.offer ? u.accept({ body: sdp(50) }) : u.accept());
  p.onInvite = () => undefined;
  const opts = sipJsTransportOptions({
    protocol: 'udp',
    listen: { address: '127.0.0.1', port: 0 },
    trace: (dir, text) => p.traces.push({ dir, first: text.split('\r\n')[0]!, cseq: header(text, 'CSeq'), text }),
  });
  p.ua = new UserAgent({
    ...opts,
    uri: UserAgent.makeURI(`sip:${user}@127.0.0.1`)!,
    sessionDescriptionHandlerFactory: fixedSdhFactory,
    sendInitialProvisionalResponse: false,
    sipExtension100rel: SIPExtension.Supported,
    delegate: { onInvite: (inv) => { p.invitations.push(inv); p.onInvite(inv); } },
  });
  await p.ua.start();
  p.port = opts.port();
  p.ext = DialogExtensions.install(p.ua.userAgentCore, {
    clock: p.clock,
    random: () => 0,
    onUpdate: (u) => { p.updates.push(u); p.onUpdate(u); },
  });
  return p;
}

/** "send 183 INVITE", "recv UPDATE", … without 100 Trying. */
function flow(p: Peer): string[] {
  return p.traces
    .map((e) => {
      const m = /^SIP\/2\.0 (\d{3})/.exec(e.first);
      return m ? `${e.dir} ${m[1]} ${e.cseq.split(' ')[1]}` : `${e.dir} ${e.first.split(' ')[0]}`;
    })
    .filter((s) => !/ 100 /.test(s));
}
const sent = (p: Peer, first: RegExp): Trace[] => p.traces.filter((t) => t.dir === 'send' && first.test(t.first));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}
/** sip.js types `Session#dialog` as the core Session interface; it is the SessionDialog. */
const dialogOf = (s: Session): Core.SessionDialog => s.dialog as unknown as Core.SessionDialog;
function waitState(s: Session, state: SessionState): Promise<void> {
  if (s.state === state) return Promise.resolve();
  return new Promise((resolve) => s.stateChange.addListener((x) => { if (x === state) resolve(); }));
}

interface EarlyCall {
  inviter: Inviter;
  invitation: Invitation;
  sender: ReliableProvisionalSender;
  callerDialog: Core.SessionDialog;
  calleeDialog: Core.SessionDialog;
}

/** INVITE → reliable 183 (answer) → PRACK → 200 PRACK: an early dialog, offer/answer done. */
async function earlyCall(alice: Peer, bob: Peer): Promise<EarlyCall> {
  let sender: ReliableProvisionalSender | undefined;
  let acked = false;
  bob.onInvite = (inv) => {
    sender = new ReliableProvisionalSender(incomingInviteRequestOf(inv), bob.ext);
    void sender.send({ statusCode: 183, reasonPhrase: 'Session Progress', body: sdp(2) }).then(() => {
      attachEarlyDialog(inv, sender!.session!);
      acked = true;
    });
  };
  let callerDialog: Core.SessionDialog | undefined;
  const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}`)!, { earlyMedia: true });
  await inviter.invite({
    requestDelegate: {
      onProgress: (r) => { callerDialog = (r as unknown as { session: Core.SessionDialog }).session; },
    },
  });
  await waitFor(() => acked && callerDialog !== undefined);
  return { inviter, invitation: bob.invitations.at(-1)!, sender: sender!, callerDialog: callerDialog!, calleeDialog: sender!.session! };
}

describe('sip/update: UPDATE (RFC 3311) on sip.js 0.21.2 at the core level', function () {
  this.timeout(15000);
  let alice: Peer;
  let bob: Peer;

  beforeEach(async () => {
    alice = await makePeer('alice');
    bob = await makePeer('bob');
  });
  afterEach(async () => {
    await Promise.allSettled([alice.ua.stop(), bob.ua.stop()]);
  });

  it('glare back-off follows RFC 3261 §14.1 (owner 2.1–4 s, other 0–2 s, 10 ms units)', () => {
    expect(glareBackoffMs(true, () => 0)).to.equal(2100);
    expect(glareBackoffMs(true, () => 0.999999)).to.equal(4000);
    expect(glareBackoffMs(false, () => 0)).to.equal(0);
    expect(glareBackoffMs(false, () => 0.999999)).to.equal(2000);
    for (let i = 0; i < 50; i++) expect(glareBackoffMs(false) % 10).to.equal(0);
  });

  it('early dialog: UPDATE from each side after the reliable 183, then 200 INVITE without a new offer', async () => {
    const c = await earlyCall(alice, bob);
    expect(c.callerDialog.early).to.equal(true);
    expect(c.callerDialog.signalingState).to.equal('Stable');

    // Caller confirms first: UPDATE with an offer in the early dialog.
    const out1 = await alice.ext.sendUpdate(c.callerDialog, { body: sdp(3) });
    expect(out1).to.include({ statusCode: 200, attempts: 1, dialogGone: false });
    expect(out1.answer?.content).to.include('o=- 1 50');
    expect(bob.updates).to.have.length(1);
    expect(bob.updates[0]!.offer?.content).to.include('o=- 1 3');
    expect(c.calleeDialog.signalingState).to.equal('Stable');
    expect(c.calleeDialog.answer?.content).to.include('o=- 1 50');

    // Callee's turn (also allowed in the early dialog once its reliable answer was PRACKed).
    alice.onUpdate = (u) => u.accept({ body: sdp(4) });
    const out2 = await bob.ext.sendUpdate(c.calleeDialog, { body: sdp(51) });
    expect(out2.statusCode).to.equal(200);
    expect(out2.answer?.content).to.include('o=- 1 4');
    expect(c.callerDialog.signalingState).to.equal('Stable');

    // 200 INVITE: sip.js would copy dialog.answer (here alice's SDP); the wrapper sends our latest.
    useLocalDescriptionIn2xx(incomingInviteRequestOf(c.invitation), () => sdp(51));
    await c.invitation.accept();
    await waitState(c.inviter, SessionState.Established);
    await waitFor(() => flow(bob).includes('recv ACK'));
    const ok = sent(bob, /^SIP\/2\.0 200/).find((t) => /INVITE/.test(t.cseq))!;
    expect(ok.text).to.include('o=- 1 51');

    const update = sent(alice, /^UPDATE /)[0]!;
    const prack = sent(alice, /^PRACK /)[0]!;
    const cseqOf = (t: Trace) => Number(t.cseq.split(' ')[0]);
    expect(cseqOf(update)).to.equal(cseqOf(prack) + 1);
    expect(header(prack.text, 'RAck')).to.equal(`${header(sent(bob, /^SIP\/2\.0 183/)[0]!.text, 'RSeq')} 1 INVITE`);
    expect(header(update.text, 'Contact')).to.match(/^<sip:/);
    expect(header(sent(bob, /^SIP\/2\.0 200/).find((t) => /UPDATE/.test(t.cseq))!.text, 'Contact')).to.match(/^<sip:/);
    expect(flow(bob)).to.deep.equal([
      'recv INVITE', 'send 183 INVITE', 'recv PRACK', 'send 200 PRACK',
      'recv UPDATE', 'send 200 UPDATE', 'send UPDATE', 'recv 200 UPDATE',
      'send 200 INVITE', 'recv ACK',
    ]);
  });

  it('the UAS holds an offer until the ACK of its 2xx (else sip.js BYEs on the ACK)', async () => {
    const c = await earlyCall(alice, bob);
    await c.invitation.accept();
    const r = await bob.ext.sendUpdate(dialogOf(c.invitation), { body: sdp(70) });
    expect(r.statusCode).to.equal(200);
    const f = flow(bob);
    expect(f.indexOf('recv ACK')).to.be.lessThan(f.indexOf('send UPDATE'));
    await sleep(50);
    expect(f).to.not.include('send BYE');
    expect(c.invitation.state).to.equal(SessionState.Established);
  });

  it('confirmed dialog: UPDATE with and without a body, both directions', async () => {
    const c = await earlyCall(alice, bob);
    await c.invitation.accept();
    await waitState(c.inviter, SessionState.Established);
    const aDialog = dialogOf(c.inviter);
    const bDialog = dialogOf(c.invitation);
    expect(aDialog.early).to.equal(false);
    const r1 = await alice.ext.sendUpdate(aDialog, { body: sdp(10) });
    expect(r1.statusCode).to.equal(200);
    const r2 = await bob.ext.sendUpdate(bDialog, { extraHeaders: ['Subject: refresh'] });
    expect(r2.statusCode).to.equal(200);
    expect(r2.answer).to.equal(undefined);
    expect(alice.updates[0]!.offer).to.equal(undefined);
    expect(alice.updates[0]!.message.getHeader('subject')).to.equal('refresh');
    expect(aDialog.signalingState).to.equal('Stable');
    expect(bDialog.signalingState).to.equal('Stable');
  });

  it('refuses to offer while an offer is outstanding (RFC 3311 §5.1)', async () => {
    bob.onInvite = (inv) => void inv.progress({ statusCode: 180 }); // unreliable, no answer yet
    let early: Core.SessionDialog | undefined;
    const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@127.0.0.1:${bob.port}`)!);
    await inviter.invite({ requestDelegate: { onProgress: (r) => { early = (r as unknown as { session: Core.SessionDialog }).session; } } });
    await waitFor(() => early !== undefined);
    expect(early!.signalingState).to.equal('HaveLocalOffer');
    try {
      await alice.ext.sendUpdate(early!, { body: sdp(5) });
      expect.fail('expected StateError');
    } catch (e) {
      expect(e).to.be.instanceOf(StateError);
    }
    // Without a body it is fine (e.g. a pure target refresh).
    expect((await alice.ext.sendUpdate(early!)).statusCode).to.equal(200);
    await inviter.cancel();
  });

  it('glare: both offer at once, each answers 491, the non-owner of the Call-ID retries first', async () => {
    const c = await earlyCall(alice, bob);
    await c.invitation.accept();
    await waitState(c.inviter, SessionState.Established);
    let aliceStillWants = true;
    const pa = alice.ext.sendUpdate(dialogOf(c.inviter), { body: sdp(20), stillWanted: () => aliceStillWants });
    const pb = bob.ext.sendUpdate(dialogOf(c.invitation), { body: () => sdp(60) });
    await waitFor(() => sent(alice, /^SIP\/2\.0 491/).length === 1 && sent(bob, /^SIP\/2\.0 491/).length === 1);
    await waitFor(() => alice.traces.some((t) => t.dir === 'recv' && /^SIP\/2\.0 491/.test(t.first)) && bob.traces.some((t) => t.dir === 'recv' && /^SIP\/2\.0 491/.test(t.first)));
    await sleep(20);
    expect(alice.ext.isOwnerOfCallId(dialogOf(c.inviter))).to.equal(true);
    expect(bob.ext.isOwnerOfCallId(dialogOf(c.invitation))).to.equal(false);
    // Bob (not the owner) waits 0–2 s: with random() = 0, 0 ms.
    bob.clock.advance(0);
    const rb = await pb;
    expect(rb).to.include({ statusCode: 200, attempts: 2 });
    // Alice's timer (2.1 s) fires later; by then her change is no longer wanted.
    aliceStillWants = false;
    alice.clock.advance(2100);
    const ra = await pa;
    expect(ra).to.include({ statusCode: 491, abandoned: true, attempts: 1 });
    expect(dialogOf(c.inviter).signalingState).to.equal('Stable');
    expect(sent(bob, /^UPDATE /)).to.have.length(2);
  });

  it('a re-INVITE offer colliding with our pending UPDATE offer gets 491', async () => {
    const c = await earlyCall(alice, bob);
    await c.invitation.accept();
    await waitState(c.inviter, SessionState.Established);
    await waitFor(() => flow(bob).includes('recv ACK'));
    const pa = alice.ext.sendUpdate(dialogOf(c.inviter), { body: sdp(30), maxGlareRetries: 0 });
    await waitFor(() => flow(bob).includes('recv ACK'));
    const reinvite = c.invitation.invite().catch(() => undefined);
    const ra = await pa;
    await reinvite;
    await waitFor(() => sent(alice, /^SIP\/2\.0 491/).some((t) => /INVITE/.test(t.cseq)));
    expect(ra.statusCode).to.equal(491);
    expect(dialogOf(c.inviter).signalingState).to.equal('Stable');
  });

  it('481 to an UPDATE outside any dialog', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    const got = new Promise<string>((r) => sock.once('message', (m) => r(m.toString())));
    const req = [
      `UPDATE sip:bob@127.0.0.1:${bob.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-nodialog;rport`,
      'Max-Forwards: 70',
      `From: <sip:x@127.0.0.1>;tag=a1`,
      `To: <sip:bob@127.0.0.1>;tag=nope`,
      'Call-ID: no-such-dialog',
      'CSeq: 5 UPDATE',
      `Contact: <sip:x@127.0.0.1:${port}>`,
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    sock.send(req, bob.port, '127.0.0.1');
    expect((await got).split('\r\n')[0]).to.equal('SIP/2.0 481 Call/Transaction Does Not Exist');
    sock.close();
  });
});
