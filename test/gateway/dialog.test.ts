/**
 * Issue 12, signalling across legs and media death: the Gateway in process on loopback between an
 * ICE endpoint Phone (127.0.0.4) and a plain "PBX phone" (127.0.0.2); the gateway's endpoint side
 * is 127.0.0.1, its PBX side 127.0.0.3. Asserted on the wire (each phone's SIP trace) and on media
 * (RTP counters, the PBX phone's RTP tap).
 */
import { expect } from 'chai';
import { Gateway } from '../../lib/gateway/gateway.js';
import type { Bridge, BridgeSummary } from '../../lib/gateway/bridge.js';
import { RequestRefusedError } from '../../lib/base/errors.js';
import { parseReason } from '../../lib/sip/reason.js';
import type { ReceivedRtpPacket } from '../../lib/rtp/session.js';
import { Phone, type Call, type PhoneOptions } from '../../lib/sip/user-agent.js';
import { runIcephone } from '../helpers/icephone.js';

const GW_ENDPOINT_IP = '127.0.0.1';
const GW_PBX_IP = '127.0.0.3';

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function phoneOptions(address: string, media: PhoneOptions['media'], trace: string[]): PhoneOptions {
  return {
    listen: { address, port: 0 },
    media: { addresses: [address], includeLoopback: true, ...media },
    trace: (direction: string, text: string) => trace.push(`${direction} ${text}`),
  };
}

/** Received requests (or responses) of `method` in a trace, as whole messages. */
function received(trace: string[], firstLine: RegExp): string[] {
  return trace.filter((t) => t.startsWith('recv ') && firstLine.test(t.slice(5).split('\r\n')[0]!));
}
const body = (msg: string) => msg.slice(msg.indexOf('\r\n\r\n') + 4);
const header = (msg: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(msg.split('\r\n\r\n')[0]!)?.[1]?.trim();
const sent = (c: Call) => c.media?.rtpStats?.packetsSent ?? 0;
const got = (c: Call) => c.media?.rtpStats?.packetsReceived ?? 0;
/** Counters of `calls` over `ms`: how many packets each sent and received meanwhile. */
async function over(ms: number, calls: Call[]): Promise<Array<{ sent: number; got: number }>> {
  const before = calls.map((c) => ({ sent: sent(c), got: got(c) }));
  await new Promise((r) => setTimeout(r, ms));
  return calls.map((c, i) => ({ sent: sent(c) - before[i]!.sent, got: got(c) - before[i]!.got }));
}

describe('PBX gateway: signalling across legs and media death (issue 12)', function () {
  this.timeout(30000);
  let gateway: Gateway;
  let endpoint: Phone;
  let pbx: Phone;
  const pbxTrace: string[] = [];
  const endpointTrace: string[] = [];
  const bridges: BridgeSummary[] = [];
  let pbxTap: ReceivedRtpPacket[] = [];

  beforeEach(async () => {
    pbxTrace.length = 0;
    endpointTrace.length = 0;
    bridges.length = 0;
    pbxTap = [];
    pbx = await Phone.start(phoneOptions('127.0.0.2', { sdpFormat: 'none', play: 'tone:1000' }, pbxTrace));
    endpoint = await Phone.start(phoneOptions('127.0.0.4', { sdpFormat: 'ice', play: 'tone:440' }, endpointTrace));
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${pbx.port}`,
      endpoint: `sip:127.0.0.4:${endpoint.port}`,
      // RFC 7675 consent on the endpoint leg, checked every 0.4 s and lost after 2 s without answers.
      endpointMedia: { consentIntervalMs: 400, consentExpiryMs: 2000 },
      // RTP timeout on both legs, longer than consent's 2 s so that a dead endpoint is consent's to report.
      rtpTimeoutMs: 4000,
    });
    gateway.on('bridge-ended', (s) => bridges.push(s));
    pbx.on('incoming', (c) => void pbx.answer(c, { media: { onRtp: (p) => pbxTap.push(p) } }));
    endpoint.on('incoming', (c) => void endpoint.answer(c));
  });

  afterEach(async () => {
    await Promise.all([gateway.stop(), endpoint.stop(), pbx.stop()]);
  });

  /** endpoint → gateway → PBX phone, answered, RTP flowing both ways on both legs. */
  async function connect(): Promise<{ call: Call; pbxCall: Call; bridge: Bridge }> {
    const call = endpoint.call(`sip:bob@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`);
    await until(() => call.session.state === 'Established', 10000, 'the endpoint call answered');
    const pbxCall = pbx.activeCalls[0]!;
    const bridge = gateway.activeBridges[0]!;
    await until(() => got(pbxCall) > 25 && got(call) > 25, 10000, 'RTP both ways');
    return { call, pbxCall, bridge };
  }

  async function hangupAndSummary(call: Call): Promise<BridgeSummary> {
    await call.hangup();
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    return bridges[0]!;
  }

  it('hold and resume from the endpoint (re-INVITE) reach the PBX phone as re-INVITEs with its own plain SDP; its media stops and resumes', async () => {
    const { call, pbxCall, bridge } = await connect();
    const invitesBefore = received(pbxTrace, /^INVITE /).length;
    await call.hold();
    const holdInvite = received(pbxTrace, /^INVITE /).slice(invitesBefore);
    expect(holdInvite, 'one re-INVITE reached the PBX phone').to.have.length(1);
    const sdp = body(holdInvite[0]!);
    expect(sdp).to.match(/^a=sendonly\r?$/m);
    expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
    expect(sdp).to.match(new RegExp(`^c=IN IP4 ${GW_PBX_IP.replace(/\./g, '\\.')}\\r?$`, 'm'));
    expect(pbxCall.holdState.remote, 'the PBX phone is held').to.equal(true);
    expect(call.holdState.local).to.equal(true);
    // The endpoint's 200 answer is what the PBX phone accepted: recvonly.
    const answer = received(endpointTrace, /^SIP\/2\.0 200 /).filter((m) => header(m, 'CSeq')?.endsWith('INVITE')).pop()!;
    expect(body(answer)).to.match(/^a=recvonly\r?$/m);
    // Media stops: the held PBX phone sends nothing, nor does the gateway send to it.
    const [held] = await over(1000, [pbxCall]);
    expect(held!.sent, 'packets the held PBX phone sent in 1 s').to.be.at.most(2);
    expect(held!.got, 'packets the held PBX phone received in 1 s').to.be.at.most(2);

    await call.unhold();
    const resume = received(pbxTrace, /^INVITE /).slice(invitesBefore + 1);
    expect(resume).to.have.length(1);
    expect(body(resume[0]!)).to.match(/^a=sendrecv\r?$/m);
    expect(pbxCall.holdState.remote).to.equal(false);
    const g = got(pbxCall);
    const e = got(call);
    await until(() => got(pbxCall) > g + 25 && got(call) > e + 25, 5000, 'media both ways again after the resume');
    expect(bridge.inbound.call.holdState.remote).to.equal(false);
    const s = await hangupAndSummary(call);
    expect(s.bridge.reoffers).to.deep.equal({ mapped: 2, local: 0, refused: 0 });
  });

  it('hold and resume from the PBX phone by UPDATE reach the endpoint as UPDATEs with its own ICE SDP; the endpoint stops and resumes sending', async () => {
    const { call, pbxCall } = await connect();
    await pbxCall.changeHoldVia(true, 'UPDATE');
    const updates = received(endpointTrace, /^UPDATE /);
    expect(updates, 'the method is mirrored').to.have.length(1);
    expect(received(endpointTrace, /^INVITE /), 'no re-INVITE on the endpoint leg').to.have.length(0);
    const sdp = body(updates[0]!);
    expect(sdp).to.match(/^a=sendonly\r?$/m);
    expect(sdp, "the endpoint leg's own format (ICE)").to.match(/^a=candidate:/m).and.match(/^a=ice-ufrag:/m);
    expect(call.holdState.remote, 'the endpoint is held').to.equal(true);
    const [held] = await over(1000, [call]);
    expect(held!.sent, 'packets the held endpoint sent in 1 s').to.be.at.most(2);

    await pbxCall.changeHoldVia(false, 'UPDATE');
    expect(received(endpointTrace, /^UPDATE /)).to.have.length(2);
    expect(call.holdState.remote).to.equal(false);
    const g = got(pbxCall);
    await until(() => got(pbxCall) > g + 25, 5000, 'the endpoint heard again at the PBX phone');
    const s = await hangupAndSummary(call);
    expect(s.bridge.reoffers.mapped).to.equal(2);
  });

  it('a call from the PBX: the endpoint (the outbound leg) holds and resumes; the PBX phone gets the re-INVITEs with plain SDP and is held', async () => {
    const pbxCall = pbx.call(`sip:alice@${GW_PBX_IP}:${gateway.pbxPhone.port}`);
    await until(() => pbxCall.session.state === 'Established', 10000, 'the PBX call answered');
    const call = endpoint.activeCalls[0]!;
    await until(() => got(pbxCall) > 25 && got(call) > 25, 10000, 'RTP both ways');
    await call.hold();
    const reinvites = received(pbxTrace, /^INVITE /);
    expect(reinvites, 'the re-INVITE reached the PBX phone').to.have.length(1);
    expect(body(reinvites[0]!)).to.match(/^a=sendonly\r?$/m).and.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
    expect(pbxCall.holdState.remote).to.equal(true);
    const [held] = await over(1000, [pbxCall]);
    expect(held!.sent, 'packets the held PBX phone sent in 1 s').to.be.at.most(2);
    await call.unhold();
    expect(pbxCall.holdState.remote).to.equal(false);
    const g = got(call);
    await until(() => got(call) > g + 25, 5000, 'the PBX phone heard again at the endpoint');
    await pbxCall.hangup();
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    expect(bridges[0]!.bridge.direction).to.equal('pbx-to-endpoint');
    expect(bridges[0]!.bridge.reoffers.mapped).to.equal(2);
  });

  it('icephone call --dtmf through the gateway: the PBX phone receives every digit once, in order (RFC 4733 relayed)', async () => {
    const digits: string[] = [];
    pbx.on('incoming', (c) => c.on('dtmf', (d) => digits.push(d)));
    const softphone = runIcephone(['call', `sip:bob@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`, '--listen', '127.0.0.4:0', '--duration', '3', '--dtmf', '1234*#', '--json']);
    try {
      const code = await softphone.exited;
      expect(code, softphone.stderr()).to.equal(0);
      expect(softphone.summaries()[0]?.call?.dtmf?.sent).to.equal('1234*#');
      await until(() => bridges.length === 1, 10000, 'the bridge summary');
      expect(digits.join('')).to.equal('1234*#');
      expect(bridges[0]!.relayed.toPbx.events, 'the digits crossed as RTP events').to.be.greaterThan(0);
    } finally {
      softphone.kill('SIGKILL');
    }
  });

  it('a re-INVITE the PBX phone refuses (606) is refused on the endpoint leg with 606; nothing changes on either leg', async () => {
    const { call, pbxCall, bridge } = await connect();
    pbxCall.media!.setReofferHandler(async () => {
      throw new RequestRefusedError('this phone takes no re-offers', 606);
    });
    let refusal: unknown;
    await call.hold().catch((e) => { refusal = e; });
    expect(refusal).to.be.instanceOf(RequestRefusedError);
    expect((refusal as RequestRefusedError).statusCode).to.equal(606);
    expect(received(endpointTrace, /^SIP\/2\.0 606 /), 'the endpoint got the 606 on the wire').to.have.length(1);
    expect(call.holdState).to.deep.equal({ local: false, remote: false });
    expect(pbxCall.holdState).to.deep.equal({ local: false, remote: false });
    expect(bridge.inbound.call.holdState).to.deep.equal({ local: false, remote: false });
    expect(bridge.outbound.call.holdState).to.deep.equal({ local: false, remote: false });
    const g = got(pbxCall);
    const e = got(call);
    await until(() => got(pbxCall) > g + 25 && got(call) > e + 25, 5000, 'media still both ways');
    const s = await hangupAndSummary(call);
    expect(s.bridge.reoffers).to.deep.equal({ mapped: 0, local: 0, refused: 1 });
  });

  it('glare: both phones hold at once; each leg answers 491, every leg stays as it was; a retry then holds on both legs', async () => {
    const { call, pbxCall, bridge } = await connect();
    const results = await Promise.allSettled([call.hold(), pbxCall.hold()]);
    for (const [i, r] of results.entries()) {
      expect(r.status, `hold ${i === 0 ? 'of the endpoint' : 'of the PBX phone'}`).to.equal('rejected');
      const e = (r as PromiseRejectedResult).reason;
      expect(e).to.be.instanceOf(RequestRefusedError);
      expect((e as RequestRefusedError).statusCode).to.equal(491);
    }
    expect(received(endpointTrace, /^SIP\/2\.0 491 /).length, '491 on the endpoint leg').to.be.greaterThan(0);
    expect(received(pbxTrace, /^SIP\/2\.0 491 /).length, '491 on the PBX leg').to.be.greaterThan(0);
    const none = { local: false, remote: false };
    for (const c of [call, pbxCall, bridge.inbound.call, bridge.outbound.call]) expect(c.holdState).to.deep.equal(none);
    // The endpoint retries after its RFC 3261 §14.1 back-off: it owns the Call-ID (it sent the
    // INVITE), so 2.1 to 4 s; the PBX phone, whose own back-off would be 0 to 2 s, gives up instead.
    await new Promise((r) => setTimeout(r, 2100));
    await call.hold();
    expect(call.holdState.local).to.equal(true);
    expect(bridge.inbound.call.holdState.remote).to.equal(true);
    expect(bridge.outbound.call.holdState.local).to.equal(true);
    expect(pbxCall.holdState.remote).to.equal(true);
    const s = await hangupAndSummary(call);
    expect(s.bridge.reoffers.mapped).to.equal(1);
  });

  it('an ICE restart on the endpoint leg stays on that leg: no re-INVITE to the PBX phone, one SSRC and no sequence gap in what it receives', async () => {
    const { call, pbxCall, bridge } = await connect();
    const gwEndpointMedia = bridge.inbound.call.media!;
    let restartedAtGateway = false;
    let reselected = false;
    gwEndpointMedia.on('ice-restart', () => { restartedAtGateway = true; });
    gwEndpointMedia.on('selected-pair', () => { if (restartedAtGateway) reselected = true; });
    const invites = received(pbxTrace, /^(INVITE|UPDATE) /).length;
    await call.restartIce();
    await until(() => restartedAtGateway && reselected, 10000, "the gateway's endpoint leg restarted ICE and selected a pair");
    const n = pbxTap.length;
    await until(() => pbxTap.length > n + 50, 5000, 'a second of media at the PBX phone after the restart');
    expect(received(pbxTrace, /^(INVITE|UPDATE) /).length, 'nothing SDP-visible on the PBX leg').to.equal(invites);
    const audio = pbxTap.filter((p) => p.payloadType === 0 || p.payloadType === 8);
    expect(new Set(audio.map((p) => p.ssrc)).size, 'SSRCs the PBX phone saw').to.equal(1);
    let gaps = 0;
    for (let i = 1; i < audio.length; i++) if (((audio[i]!.sequenceNumber - audio[i - 1]!.sequenceNumber) & 0xffff) !== 1) gaps++;
    expect(gaps, 'sequence gaps at the PBX phone (loopback: nothing lost)').to.equal(0);
    expect(pbxCall.media!.rtpStats!.packetsLost).to.equal(0);
    const s = await hangupAndSummary(call);
    expect(s.bridge.reoffers).to.deep.equal({ mapped: 0, local: 1, refused: 0 });
  });

  it("the endpoint's media dying (consent lost) ends both legs with BYEs that carry the same Reason; the summary says why", async () => {
    const { call, pbxCall } = await connect();
    // Consent kept for more than its 2 s lifetime while the endpoint answers checks.
    await new Promise((r) => setTimeout(r, 2500));
    expect(call.session.state).to.equal('Established');
    // The softphone vanishes from the media path (its sockets close); its SIP stays reachable.
    await call.media!.iceAgent!.close();
    // Both phones saw their call end (the gateway's legs end as their BYEs leave).
    const [endpointEnd, pbxEnd] = await Promise.all([call.finished, pbxCall.finished]);
    expect(endpointEnd.call.state).to.equal('ended');
    expect(pbxEnd.call.state).to.equal('ended');
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    const pbxBye = received(pbxTrace, /^BYE /);
    const endpointBye = received(endpointTrace, /^BYE /);
    expect(pbxBye).to.have.length.greaterThan(0);
    expect(endpointBye).to.have.length.greaterThan(0);
    const pbxReason = parseReason(header(pbxBye[0]!, 'Reason') ?? '');
    const endpointReason = parseReason(header(endpointBye[0]!, 'Reason') ?? '');
    expect(pbxReason).to.deep.include({ protocol: 'Q.850', cause: 41 });
    expect(pbxReason!.text).to.match(/consent expired/);
    expect(endpointReason, 'the same Reason on both legs').to.deep.equal(pbxReason);
    const s = bridges[0]!;
    expect(s.bridge.endedBy?.side).to.equal('endpoint');
    expect(s.bridge.endedBy?.reason).to.match(/consent expired/);
    expect(s.endpoint.reason).to.match(/consent expired/);
  });

  it("the PBX phone's media stopping (no ICE, no consent on that leg) ends both legs after the RTP timeout, with the same Reason", async () => {
    const { call, pbxCall } = await connect();
    // The PBX phone's media sockets close; its SIP stays reachable.
    const stoppedAt = Date.now();
    await pbxCall.media!.iceAgent!.close();
    const [endpointEnd, pbxEnd] = await Promise.all([call.finished, pbxCall.finished]);
    expect(Date.now() - stoppedAt, 'ended after the 4-s timeout, checked each second').to.be.within(3900, 7000);
    expect(endpointEnd.call.state).to.equal('ended');
    expect(pbxEnd.call.state).to.equal('ended');
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    const pbxReason = parseReason(header(received(pbxTrace, /^BYE /)[0] ?? '', 'Reason') ?? '');
    const endpointReason = parseReason(header(received(endpointTrace, /^BYE /)[0] ?? '', 'Reason') ?? '');
    expect(pbxReason).to.deep.include({ protocol: 'Q.850', cause: 41 });
    expect(pbxReason!.text).to.equal('no RTP or RTCP from the peer for 4 s (RTP timeout)');
    expect(endpointReason, 'the same Reason on both legs').to.deep.equal(pbxReason);
    const s = bridges[0]!;
    expect(s.bridge.endedBy?.side).to.equal('pbx');
    expect(s.bridge.endedBy?.reason).to.match(/RTP timeout/);
  });
});

describe('PBX gateway: connectivity preconditions on the endpoint leg (issue 12)', function () {
  this.timeout(30000);
  let gateway: Gateway;
  let endpoint: Phone;
  let pbx: Phone;
  /** Both sides of the gateway in one order: `endpoint|pbx send|recv FIRST-LINE CSeq`. */
  const gwTrace: string[] = [];
  const pbxTrace: string[] = [];
  const endpointTrace: string[] = [];

  beforeEach(async () => {
    gwTrace.length = 0;
    pbxTrace.length = 0;
    endpointTrace.length = 0;
    pbx = await Phone.start(phoneOptions('127.0.0.2', { sdpFormat: 'none', play: 'tone:1000' }, pbxTrace));
    endpoint = await Phone.start({ ...phoneOptions('127.0.0.4', { sdpFormat: 'ice', play: 'tone:440' }, endpointTrace), preconditions: 'mandatory' });
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${pbx.port}`,
      endpointPreconditions: 'optional',
      trace: (side, direction, text) => gwTrace.push(`${side} ${direction} ${text.split('\r\n')[0]} ${header(text, 'CSeq') ?? ''}`),
    });
    pbx.on('incoming', (c) => void pbx.answer(c));
  });

  afterEach(async () => {
    await Promise.all([gateway.stop(), endpoint.stop(), pbx.stop()]);
  });

  it("the PBX leg's INVITE is sent only after the endpoint leg's connectivity precondition is met (UPDATE answered); the call then connects with media both ways", async () => {
    const call = endpoint.call(`sip:bob@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`);
    await until(() => call.session.state === 'Established', 15000, 'the endpoint call answered');
    const pbxCall = pbx.activeCalls[0]!;
    await until(() => got(pbxCall) > 25 && got(call) > 25, 10000, 'RTP both ways');
    const at = (re: RegExp, what: string) => {
      const i = gwTrace.findIndex((l) => re.test(l));
      expect(i, `${what} in the gateway's trace:\n${gwTrace.join('\n')}`).to.be.at.least(0);
      return i;
    };
    const reliable183 = at(/^endpoint send SIP\/2\.0 183 /, 'the reliable 183 with the answer');
    const updateAnswered = at(/^endpoint send SIP\/2\.0 200 .* UPDATE$/, "the 200 to the endpoint's confirming UPDATE");
    const pbxInvite = at(/^pbx send INVITE /, 'the INVITE to the PBX');
    expect(reliable183).to.be.below(updateAnswered);
    expect(pbxInvite, 'the PBX INVITE comes after the precondition was met').to.be.above(updateAnswered);
    // The confirming UPDATE said the endpoint's connectivity is met (RFC 5898 `conn`, e2e sendrecv).
    const confirming = endpointTrace.filter((t) => t.startsWith('send UPDATE '));
    expect(confirming).to.have.length(1);
    expect(body(confirming[0]!)).to.match(/^a=curr:conn e2e sendrecv\r?$/m);
    expect(received(pbxTrace, /^INVITE /).map(body).join('\n'), 'no precondition lines on the PBX leg').to.not.match(/^a=(curr|des|conf):/m);
    const summaryAtEndpoint = await (async () => { await call.hangup(); return call.finished; })();
    expect(summaryAtEndpoint.call.preconditions).to.equal('met');
    expect(summaryAtEndpoint.call.alertedAfterConnected).to.equal(true);
  });
});

describe('PBX gateway: early media (issue 12, RFC 3960)', function () {
  this.timeout(30000);
  let gateway: Gateway;
  let endpoint: Phone;
  let pbx: Phone;
  const pbxTrace: string[] = [];
  const endpointTrace: string[] = [];

  beforeEach(async () => {
    pbxTrace.length = 0;
    endpointTrace.length = 0;
    // Like an announcement server, the PBX phone streams its early media in full at once (icephone
    // otherwise holds RTP back to 25 packets until an ACK/PRACK confirms the caller, issue 13).
    pbx = await Phone.start(phoneOptions('127.0.0.2', { sdpFormat: 'none', play: 'tone:1000', unconfirmedRtpPackets: 100000 }, pbxTrace));
    endpoint = await Phone.start(phoneOptions('127.0.0.4', { sdpFormat: 'ice', play: 'tone:440' }, endpointTrace));
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${pbx.port}`,
      earlyMedia: true,
    });
  });

  afterEach(async () => {
    await Promise.all([gateway.stop(), endpoint.stop(), pbx.stop()]);
  });

  it("a 183 with SDP from the PBX phone reaches the endpoint as a 183 with the endpoint leg's own ICE SDP, and its audio flows before the answer", async () => {
    let pbxCall: Call | undefined;
    pbx.on('incoming', (c) => {
      pbxCall = c;
      void pbx.ring(c, 183);
    });
    // The softphone plays early media too (it takes the 183 answer).
    const call = endpoint.call(`sip:announcement@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`, { earlyMedia: true });
    await until(() => got(call) > 25, 10000, "early media at the endpoint");
    expect(call.session.state, 'not answered yet').to.not.equal('Established');
    const progress = received(endpointTrace, /^SIP\/2\.0 183 /);
    expect(progress.length).to.be.greaterThan(0);
    const sdp = body(progress[0]!);
    expect(sdp, "the endpoint leg's own format (ICE)").to.match(/^a=candidate:/m).and.match(/^a=ice-ufrag:/m);
    const pbx183 = pbxTrace.filter((t) => t.startsWith('send SIP/2.0 183 '));
    expect(body(pbx183[0]!), 'the PBX phone sent plain SDP in its 183').to.match(/^m=audio /m).and.not.match(/^a=candidate/m);
    await pbx.answer(pbxCall!, { provisional: 'none' });
    await until(() => call.session.state === 'Established', 10000, 'the endpoint call answered');
    const n = got(call);
    await until(() => got(call) > n + 25 && got(pbxCall!) > 25, 5000, 'media both ways after the answer');
    await call.hangup();
    await pbxCall!.finished;
  });
});
