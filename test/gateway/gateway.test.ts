/**
 * Issue 12, first slice: the Gateway in process on loopback, between an "endpoint" Phone (ICE,
 * `a=candidate` only) and a "PBX phone" (plain RTP, `sdpFormat: 'none'`). The gateway's endpoint
 * side is on 127.0.0.1, its PBX side on 127.0.0.3, so the PBX's c= line shows which side spoke.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../lib/gateway/gateway.js';
import type { BridgeSummary } from '../../lib/gateway/bridge.js';
import { Phone, type Call, type CallSummary, type PhoneOptions } from '../../lib/sip/user-agent.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const GW_ENDPOINT_IP = '127.0.0.1';
const GW_PBX_IP = '127.0.0.3';

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function phoneOptions(address: string, media: PhoneOptions['media'], trace?: string[]): PhoneOptions {
  return {
    listen: { address, port: 0 },
    media: { addresses: [address], includeLoopback: true, ...media },
    ...(trace ? { trace: (direction: string, text: string) => trace.push(`${direction} ${text}`) } : {}),
  };
}

/** The SDP bodies of INVITEs and 2xx in a trace. */
function sdpBodies(trace: string[], firstLine: RegExp): string[] {
  return trace.filter((t) => firstLine.test(t.split('\r\n')[0]!) && t.includes('\r\n\r\nv=0')).map((t) => t.slice(t.indexOf('\r\n\r\n') + 4));
}

describe('PBX gateway, first slice (issue 12): ICE endpoint ↔ gateway ↔ plain PBX phone', function () {
  this.timeout(60000);
  let dir: string;
  let gateway: Gateway;
  let endpoint: Phone;
  let pbx: Phone;
  const pbxTrace: string[] = [];
  const bridges: BridgeSummary[] = [];
  let pbxHandler: (call: Call) => void = () => undefined;
  let endpointHandler: (call: Call) => void = () => undefined;

  beforeEach(async () => {
    dir = testTempDir('icephone-gw-');
    pbxTrace.length = 0;
    bridges.length = 0;
    // The PBX phone answers PCMA only: the gateway transcodes against the endpoint's PCMU.
    pbx = await Phone.start(phoneOptions('127.0.0.2', { sdpFormat: 'none', play: 'tone:1000', codecs: ['PCMA'] }, pbxTrace));
    endpoint = await Phone.start(phoneOptions('127.0.0.4', { sdpFormat: 'ice', play: 'tone:440' }));
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${pbx.port}`,
      endpoint: `sip:127.0.0.4:${endpoint.port}`,
    });
    gateway.on('bridge-ended', (s) => bridges.push(s));
    pbx.on('incoming', (c) => pbxHandler(c));
    endpoint.on('incoming', (c) => endpointHandler(c));
  });

  afterEach(async () => {
    await Promise.all([gateway.stop(), endpoint.stop(), pbx.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('endpoint → PBX: plain SDP from the PBX-side address, tones both ways (PCMU↔PCMA), RFC 4733 digits relayed, BYE from the endpoint ends both legs', async () => {
    let pbxCall: Call | undefined;
    let invitedUser: string | undefined;
    pbxHandler = (c) => {
      pbxCall = c;
      invitedUser = c.requestUri?.user;
      void pbx.answer(c, { media: { record: join(dir, 'at-pbx.wav') } });
    };
    const call = endpoint.call(`sip:bob@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`, { media: { record: join(dir, 'at-endpoint.wav') } });
    let alerted = false;
    call.on('alerting', () => { alerted = true; });
    await until(() => call.session.state === 'Established', 20000, 'the endpoint call answered');
    expect(alerted, '180 from the PBX phone passed on to the endpoint').to.equal(true);
    expect(invitedUser).to.equal('bob');
    const invite = pbxTrace.find((t) => t.startsWith('recv INVITE '))!;
    expect(/^From: (.*)$/m.exec(invite)?.[1], 'the PBX leg\'s From: the gateway at its PBX-side address and port')
      .to.match(new RegExp(`<sip:gateway@127\\.0\\.0\\.3:${gateway.pbxPhone.port}>;tag=`));

    const offers = sdpBodies(pbxTrace, /^recv INVITE /);
    expect(offers, 'the PBX phone received an SDP offer').to.have.length.greaterThan(0);
    for (const sdp of offers) {
      expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
      expect(sdp).to.match(new RegExp(`^c=IN IP4 ${GW_PBX_IP.replace(/\./g, '\\.')}\\r?$`, 'm'));
      expect(sdp).to.match(/^m=audio \d+ RTP\/AVP /m);
    }
    // 2 s of relayed audio each way.
    await until(() => (pbxCall?.media?.rtpStats?.packetsReceived ?? 0) > 100 && (call.media?.rtpStats?.packetsReceived ?? 0) > 100, 20000, 'RTP both ways');
    // RFC 7667 §3.2.1.3: the gateway sends with its own SSRC on each leg.
    const pbxPhoneSsrc = gateway.activeBridges[0]!.outbound.call.media!.rtpStats!.remoteSsrc;
    const endpointSsrc = gateway.activeBridges[0]!.inbound.call.media!.rtpStats!.remoteSsrc;
    expect(pbxPhoneSsrc).to.be.a('number');
    expect(call.media!.rtpStats!.remoteSsrc, 'the endpoint hears the gateway\'s SSRC, not the PBX phone\'s').to.be.a('number').and.not.equal(pbxPhoneSsrc);
    expect(pbxCall!.media!.rtpStats!.remoteSsrc, 'the PBX phone hears the gateway\'s SSRC, not the endpoint\'s').to.be.a('number').and.not.equal(endpointSsrc);
    // RFC 4733 events relayed as they are: digits sent by the endpoint are received by the PBX phone.
    const digits: string[] = [];
    pbxCall!.on('dtmf', (d) => digits.push(d));
    await call.sendDtmf('12#', { durationMs: 100 });
    await until(() => digits.length >= 3, 10000, 'the digits at the PBX phone');
    expect(digits.join('')).to.equal('12#');
    const endedAtPbx = new Promise<CallSummary>((r) => pbxCall!.on('ended', r));
    await call.hangup();
    const pbxEnd = await endedAtPbx;
    expect(pbxEnd.call.state).to.equal('ended');
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    const s = bridges[0]!;
    expect(s.bridge).to.deep.include({ direction: 'endpoint-to-pbx', target: `sip:bob@127.0.0.2:${pbx.port}`, outcome: 'answered' });
    expect(s.endpoint.ice.format).to.equal('ice');
    expect(s.endpoint.ice.selectedPair).to.not.equal(null);
    expect(s.pbx.ice.format).to.equal('none');
    expect(s.endpoint.codec).to.equal('PCMU/8000');
    expect(s.pbx.codec).to.equal('PCMA/8000');
    expect(s.relayed.toPbx.relayed).to.be.greaterThan(100);
    expect(s.relayed.toEndpoint.relayed).to.be.greaterThan(100);
    expect(s.relayed.toPbx.events, 'the digits went as RTP events').to.be.greaterThan(0);
    expect(s.relayed.toPbx.transcoded).to.equal(s.relayed.toPbx.relayed - s.relayed.toPbx.events);
    expect(s.pbx.rtp.packetsReceived, 'what the PBX leg got from the PBX phone').to.be.greaterThan(100);
    await assertToneInWav(join(dir, 'at-pbx.wav'), 440, { skipMs: 300 });
    await assertToneInWav(join(dir, 'at-endpoint.wav'), 1000, { skipMs: 300 });
  });

  it('a 486 from the PBX phone reaches the endpoint as 486', async () => {
    pbxHandler = (c) => void pbx.reject(c, 486);
    const call = endpoint.call(`sip:busy@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`);
    const summary = await call.finished;
    expect(call.finalStatus).to.equal(486);
    expect(summary.call.reason).to.match(/^486 /);
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    expect(bridges[0]!.bridge).to.deep.include({ outcome: 'failed', mappedStatus: 486 });
  });

  it('CANCEL of the endpoint leg cancels the PBX leg', async () => {
    let pbxCall: Call | undefined;
    pbxHandler = (c) => { pbxCall = c; }; // rings, never answers
    const call = endpoint.call(`sip:carol@${GW_ENDPOINT_IP}:${gateway.endpointPhone.port}`);
    await until(() => pbxCall !== undefined, 10000, 'the PBX leg INVITE');
    await call.hangup();
    const pbxEnd = await pbxCall!.finished;
    expect(pbxEnd.call.state).to.equal('failed');
    expect(pbxTrace.some((t) => t.startsWith('recv CANCEL ')), 'the PBX phone got a CANCEL').to.equal(true);
  });

  it('PBX → endpoint (static --endpoint route): the endpoint answers with ICE, tones both ways, BYE from the PBX ends both legs', async () => {
    let endpointCall: Call | undefined;
    endpointHandler = (c) => {
      endpointCall = c;
      void endpoint.answer(c, { media: { record: join(dir, 'at-endpoint.wav') } });
    };
    const call = pbx.call(`sip:alice@${GW_PBX_IP}:${gateway.pbxPhone.port}`, { media: { record: join(dir, 'at-pbx.wav') } });
    await until(() => call.session.state === 'Established', 20000, 'the PBX call answered');
    expect(endpointCall?.requestUri?.user, 'the endpoint is called with the PBX\'s Request-URI user').to.equal('alice');
    const answers = sdpBodies(pbxTrace, /^recv SIP\/2\.0 200 /);
    expect(answers.length).to.be.greaterThan(0);
    for (const sdp of answers) expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
    await until(() => (call.media?.rtpStats?.packetsReceived ?? 0) > 100 && (endpointCall?.media?.rtpStats?.packetsReceived ?? 0) > 100, 20000, 'RTP both ways');
    const endedAtEndpoint = new Promise<CallSummary>((r) => endpointCall!.on('ended', r));
    await call.hangup();
    expect((await endedAtEndpoint).call.state).to.equal('ended');
    await until(() => bridges.length === 1, 10000, 'the bridge summary');
    expect(bridges[0]!.bridge.direction).to.equal('pbx-to-endpoint');
    expect(bridges[0]!.endpoint.ice.format).to.equal('ice');
    await assertToneInWav(join(dir, 'at-pbx.wav'), 440, { skipMs: 300 });
    await assertToneInWav(join(dir, 'at-endpoint.wav'), 1000, { skipMs: 300 });
  });

  it('a PBX phone that offers ICE and a=alt gets a plain answer from the PBX-side address; media to its m/c line, tones both ways', async () => {
    // Issue 12: on the PBX side no SDP carries an ICE or a=alt attribute, whatever the PBX offers.
    const iceTrace: string[] = [];
    const icePbx = await Phone.start(phoneOptions('127.0.0.2', { sdpFormat: 'both', play: 'tone:1000' }, iceTrace));
    try {
      let endpointCall: Call | undefined;
      endpointHandler = (c) => {
        endpointCall = c;
        void endpoint.answer(c, { media: { record: join(dir, 'at-endpoint.wav') } });
      };
      const call = icePbx.call(`sip:alice@${GW_PBX_IP}:${gateway.pbxPhone.port}`, { media: { record: join(dir, 'at-pbx.wav') } });
      await until(() => call.session.state === 'Established', 20000, 'the PBX call answered');
      const offers = sdpBodies(iceTrace, /^send INVITE /);
      expect(offers.length, 'the PBX phone offered').to.be.greaterThan(0);
      expect(offers[0], 'the PBX phone\'s offer carries ICE').to.match(/^a=candidate:/m);
      expect(offers[0], 'the PBX phone\'s offer carries a=alt').to.match(/^a=alt:/m);
      const answers = sdpBodies(iceTrace, /^recv SIP\/2\.0 (18\d|200) /);
      expect(answers.length, 'the gateway answered with SDP').to.be.greaterThan(0);
      for (const sdp of answers) {
        expect(sdp).to.not.match(/^a=(candidate|alt|ice-[a-z]+|remote-candidates|end-of-candidates)/m);
        expect(sdp).to.match(new RegExp(`^c=IN IP4 ${GW_PBX_IP.replace(/\./g, '\\.')}\\r?$`, 'm'));
        expect(sdp).to.match(/^m=audio \d+ RTP\/AVP /m);
      }
      await until(() => (call.media?.rtpStats?.packetsReceived ?? 0) > 100 && (endpointCall?.media?.rtpStats?.packetsReceived ?? 0) > 100, 20000, 'RTP both ways');
      // Both ends of the PBX hop run plain RTP to the other's m/c line (a plain path has no ICE pair
      // to report; the site tests check the RTP sources on the wire).
      expect(call.media!.summary().ice.format, 'the PBX phone followed the plain answer').to.equal('none');
      expect(gateway.activeBridges[0]!.inbound.call.media!.summary().ice.format, 'the gateway\'s PBX leg is plain').to.equal('none');
      const ended = new Promise<CallSummary>((r) => endpointCall!.on('ended', r));
      await call.hangup();
      await ended;
      await until(() => bridges.length === 1, 10000, 'the bridge summary');
      expect(bridges[0]!.pbx.ice.format).to.equal('none');
      expect(bridges[0]!.endpoint.ice.format).to.equal('ice');
      await assertToneInWav(join(dir, 'at-pbx.wav'), 440, { skipMs: 300 });
      await assertToneInWav(join(dir, 'at-endpoint.wav'), 1000, { skipMs: 300 });
    } finally {
      await icePbx.stop();
    }
  });

  it('a 401 from a PBX phone that challenges is not retried by the gateway: the endpoint gets 401 with the PBX\'s WWW-Authenticate', async () => {
    const authTrace: string[] = [];
    const authPbx = await Phone.start({ ...phoneOptions('127.0.0.2', { sdpFormat: 'none' }, authTrace), auth: { username: 'bob', password: 'pbx-Secret-1', realm: 'pbx.test' } });
    // An endpoint that does not answer challenges itself either: one INVITE, its final is what the gateway mapped.
    const quiet = await Phone.start({ ...phoneOptions('127.0.0.4', { sdpFormat: 'ice' }), answerChallenges: false });
    const gw = await Gateway.start({ listen: { address: GW_ENDPOINT_IP, port: 0 }, pbxListen: { address: GW_PBX_IP, port: 0 }, pbx: `sip:127.0.0.2:${authPbx.port}` });
    try {
      const ended: BridgeSummary[] = [];
      gw.on('bridge-ended', (b) => ended.push(b));
      authPbx.on('incoming', () => expect.fail('the challenged INVITE must not become a call at the PBX phone'));
      const call = quiet.call(`sip:bob@${GW_ENDPOINT_IP}:${gw.endpointPhone.port}`);
      await call.finished;
      expect(call.finalStatus).to.equal(401);
      const invites = authTrace.filter((t) => t.startsWith('recv INVITE '));
      expect(invites, 'INVITEs at the PBX phone: the gateway did not retry').to.have.length(1);
      expect(invites[0]).to.not.match(/^(Proxy-)?Authorization:/im);
      const sent = authTrace.find((t) => t.startsWith('send SIP/2.0 401 '))!;
      const pbxChallenge = sent.split('\r\n').filter((l) => /^WWW-Authenticate:/i.test(l)).map((l) => l.replace(/^WWW-Authenticate:\s*/i, ''));
      expect(pbxChallenge.length).to.be.greaterThan(0);
      expect(call.challenge?.statusCode).to.equal(401);
      expect(call.challenge!.headers.map((h) => h.replace(/^WWW-Authenticate:\s*/i, '')), 'the PBX\'s challenge, copied').to.deep.equal(pbxChallenge);
      await until(() => ended.length === 1, 10000, 'the bridge summary');
      expect(ended[0]!.bridge).to.deep.include({ outcome: 'failed', mappedStatus: 401 });
    } finally {
      await Promise.all([gw.stop(), quiet.stop(), authPbx.stop()]);
    }
  });
});
