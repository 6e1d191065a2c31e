/**
 * `icephone gateway` flags (lib/cli/gateway.ts): the PBX-facing address (`--pbx-address IP`, or
 * `--pbx-listen HOST:PORT` as the full form) and the endpoint side's STUN/TURN flags, parsed as
 * `icephone call` parses them (lib/cli/options.ts iceServersFrom). Bad values exit 2 with one line.
 */
import { expect } from 'chai';
import { UsageError } from '../../lib/base/errors.js';
import { gatewayOptionsFrom } from '../../lib/cli/gateway.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';

const base = ['--listen', '203.0.113.1:5060', '--pbx', 'sip:10.20.0.10'];

async function options(extra: string[]) {
  const r = await gatewayOptionsFrom([...base, ...extra]);
  if (r.help) throw new Error('help');
  return r.options;
}

describe('icephone gateway options', () => {
  it('--pbx-address IP: the PBX side binds there on any port', async () => {
    expect((await options(['--pbx-address', '10.20.0.1'])).pbxListen).to.deep.equal({ address: '10.20.0.1', port: 0 });
    expect((await options(['--pbx-listen', '10.20.0.1:5070'])).pbxListen).to.deep.equal({ address: '10.20.0.1', port: 5070 });
    expect((await options([])).pbxListen).to.equal(undefined);
  });

  it('--stun/--turn/--turn-user/--turn-pass/--ice-transport become the endpoint side\'s ICE servers, as for call', async () => {
    const o = await options([
      '--stun', 'stun:203.0.113.10:3478', '--turn', 'turn:203.0.113.10:3478', '--turn-user', 'gw', '--turn-pass', 'pw', '--turn-timeout', '3',
      '--media-address', '203.0.113.1',
    ]);
    expect(o.endpointMedia?.addresses).to.deep.equal(['203.0.113.1']);
    expect(o.endpointMedia?.stunServers).to.deep.equal([{ host: '203.0.113.10', port: 3478 }]);
    expect(o.endpointMedia?.turnServers).to.have.length(1);
    expect(o.endpointMedia?.turnServers?.[0]).to.deep.include({ address: '203.0.113.10', port: 3478, transport: 'udp', username: 'gw', password: 'pw' });
    expect(o.endpointMedia?.turnTimeoutMs).to.equal(3000);
    expect(o.endpointMedia?.transportPolicy).to.equal('all');
    const relay = await options(['--turn', 'turn:203.0.113.10', '--turn-secret', 's', '--ice-transport', 'relay']);
    expect(relay.endpointMedia?.transportPolicy).to.equal('relay');
    expect(relay.endpointMedia?.turnServers?.[0]?.credentials, 'ephemeral credentials from --turn-secret').to.not.equal(undefined);
    const plain = await options([]);
    expect(plain.endpointMedia?.stunServers).to.equal(undefined);
    expect(plain.endpointMedia?.turnServers).to.equal(undefined);
  });

  it('bad values are UsageErrors naming the flag', async () => {
    for (const [extra, re] of [
      [['--pbx-address', 'nope'], /--pbx-address: 'nope' is not an IP address/],
      [['--pbx-address', '10.20.0.1', '--pbx-listen', '10.20.0.1:5070'], /--pbx-address IP or --pbx-listen HOST:PORT, not both/],
      [['--stun', 'turn:203.0.113.10'], /--stun: only stun: URIs/],
      [['--turn', 'turn:203.0.113.10'], /--turn needs --turn-user and --turn-pass/],
      [['--turn-user', 'u', '--turn-pass', 'p'], /need a --turn server/],
      [['--ice-transport', 'relay'], /--ice-transport relay needs at least one --turn server/],
      [['--ice-transport', 'some'], /--ice-transport: expected all or relay/],
      [['--turn', 'turn:203.0.113.10', '--turn-user', 'u', '--turn-pass', 'p', '--turn-timeout', '0'], /--turn-timeout: expected a positive number/],
    ] as const) {
      let error: unknown;
      try {
        await gatewayOptionsFrom([...base, ...extra]);
      } catch (e) {
        error = e;
      }
      expect(error, extra.join(' ')).to.be.instanceOf(UsageError);
      expect((error as Error).message).to.match(re);
    }
  });

  it('the CLI exits 2 with one line for a bad --pbx-address and a bad --turn', async function () {
    this.timeout(60000);
    for (const [extra, re] of [
      [['--pbx-address', '10.20.0'], /^icephone: --pbx-address: '10\.20\.0' is not an IP address$/],
      [['--turn', 'http://x', '--turn-user', 'u', '--turn-pass', 'p'], /^icephone: .*turn/i],
    ] as const) {
      const run = runIcephone(['gateway', '--listen', '127.0.0.1:0', '--pbx', 'sip:127.0.0.1', ...extra]);
      expect(await exitWithin(run, 20000), run.stderr()).to.equal(2);
      expect(run.stderr().trim().split('\n')).to.have.length(1);
      expect(run.stderr().trim()).to.match(re);
    }
  });
});

describe('icephone gateway --preconditions / --early-media', () => {
  it('pass the endpoint leg policy and early media to the Gateway; without them neither is set', async () => {
    expect(await options(['--preconditions', 'optional', '--early-media'])).to.deep.include({ endpointPreconditions: 'optional', earlyMedia: true });
    expect((await options(['--preconditions', 'mandatory'])).endpointPreconditions).to.equal('mandatory');
    const plain = await options([]);
    expect(plain).to.not.have.property('endpointPreconditions');
    expect(plain).to.not.have.property('earlyMedia');
    expect(await options(['--preconditions', 'none'])).to.not.have.property('endpointPreconditions');
  });

  it('refuse an unknown policy with a one-line UsageError', async () => {
    let error: unknown;
    try {
      await gatewayOptionsFrom([...base, '--preconditions', 'sometimes']);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(UsageError);
    expect((error as Error).message).to.match(/^--preconditions: expected none, optional or mandatory, got 'sometimes'$/);
  });
});

describe('icephone gateway: --keepalive and --pbx-domain (issue 12)', () => {
  it('--keepalive in seconds becomes keepaliveMs; 0 turns keep-alives off; absent leaves the default', async () => {
    expect((await options(['--keepalive', '15'])).keepaliveMs).to.equal(15000);
    expect((await options(['--keepalive', '0.5'])).keepaliveMs).to.equal(500);
    expect((await options(['--keepalive', '0'])).keepaliveMs).to.equal(0);
    expect(await options([])).to.not.have.property('keepaliveMs');
  });

  it('--pbx-domain is the AOR domain at the PBX', async () => {
    expect((await options(['--pbx-domain', 'pbx.example'])).pbxDomain).to.equal('pbx.example');
    expect(await options([])).to.not.have.property('pbxDomain');
  });

  it('bad values: one-line UsageError', async () => {
    for (const [flags, re] of [
      [['--keepalive=-1'], /^--keepalive: expected seconds/],
      [['--keepalive', 'soon'], /^--keepalive: expected seconds/],
      [['--pbx-domain', 'a b'], /^--pbx-domain: expected a host name or IP/],
      [['--pbx-domain', 'x;y=1'], /^--pbx-domain: expected a host name or IP/],
    ] as const) {
      let error: unknown;
      try {
        await gatewayOptionsFrom([...base, ...flags]);
      } catch (e) {
        error = e;
      }
      expect(error, flags.join(' ')).to.be.instanceOf(UsageError);
      expect((error as Error).message).to.match(re);
    }
  });
});
