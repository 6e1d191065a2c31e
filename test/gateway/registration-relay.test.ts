/**
 * Issue 12, registration through the gateway: the RegistrationRelay's bindings under a ManualClock
 * (pending until the PBX grants them, expiry, routing by the gateway Contact and by the AOR user,
 * the flow for a Contact address, unregister, stop, keep-alives to the flow).
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { PENDING_LIFETIME_MS, RegistrationRelay, contactHostPort, type Flow } from '../../lib/gateway/registration-relay.js';

const flowA: Flow = { address: '203.0.113.7', port: 40001, protocol: 'udp' };

describe('RegistrationRelay (issue 12)', () => {
  let clock: ManualClock;
  let sent: Flow[];
  let relay: RegistrationRelay;
  let removed: string[];
  beforeEach(() => {
    clock = new ManualClock();
    sent = [];
    removed = [];
    relay = new RegistrationRelay({ clock, keepaliveMs: 1000, sendKeepAlive: (f) => sent.push(f) });
    relay.on('removed', (b, why) => removed.push(`${b.user}:${why}`));
  });
  afterEach(() => relay.stop());

  it('a new binding is pending (not routable) with its own gateway Contact user, Call-ID and tag; the same Contact again is the same binding', () => {
    const b = relay.prepare('alice', 'sip:alice@192.168.1.10:5060', flowA)!;
    expect(b.state).to.equal('pending');
    expect(b.gatewayUser).to.match(/^alice-[0-9a-f]{12}$/);
    expect(relay.route('alice')).to.equal(undefined);
    expect(relay.route(b.gatewayUser)).to.equal(undefined);
    const moved = { ...flowA, port: 40002 };
    const again = relay.prepare('alice', 'sip:alice@192.168.1.10:5060', moved)!;
    expect(again).to.equal(b);
    expect(again.flow.port, 'the flow of the latest REGISTER').to.equal(40002);
    const other = relay.prepare('alice', 'sip:alice@192.168.1.11:5060', flowA)!;
    expect(other).to.not.equal(b);
    expect(other.gatewayUser).to.not.equal(b.gatewayUser);
    expect(other.callId).to.not.equal(b.callId);
    expect(relay.nextCseq(b)).to.equal(1);
    expect(relay.nextCseq(b)).to.equal(2);
  });

  it('confirmed: routable by gateway Contact user and by AOR user; the flow for its Contact address; expires at the granted lifetime', () => {
    const b = relay.prepare('alice', 'sip:alice@192.168.1.10:5070;transport=udp', flowA)!;
    relay.confirm(b, 60);
    expect(b.state).to.equal('registered');
    expect(relay.route(b.gatewayUser)).to.equal(b);
    expect(relay.route('alice')).to.equal(b);
    expect(relay.route('bob')).to.equal(undefined);
    expect(relay.flowForContact('192.168.1.10', 5070)).to.deep.equal(flowA);
    expect(relay.flowForContact('192.168.1.10', 5060)).to.equal(undefined);
    clock.advance(59_999);
    expect(relay.route('alice')).to.equal(b);
    clock.advance(1);
    expect(relay.route('alice')).to.equal(undefined);
    expect(relay.bindings).to.deep.equal([]);
    expect(removed).to.deep.equal(['alice:expired']);
    expect(clock.pendingCount, 'no timer left').to.equal(0);
  });

  it('a refresh moves the expiry; Expires 0 (confirm 0 or remove) unregisters and releases the timers', () => {
    const b = relay.prepare('alice', 'sip:alice@10.0.0.2', flowA)!;
    relay.confirm(b, 10);
    clock.advance(9000);
    relay.confirm(relay.prepare('alice', 'sip:alice@10.0.0.2', flowA)!, 10);
    clock.advance(9000);
    expect(relay.route('alice')).to.equal(b);
    relay.confirm(b, 0);
    expect(relay.route('alice')).to.equal(undefined);
    expect(removed).to.deep.equal(['alice:unregistered']);
    expect(clock.pendingCount).to.equal(0);
    const c = relay.prepare('bob', 'sip:bob@10.0.0.3', flowA)!;
    relay.confirm(c, 10);
    relay.remove(c);
    expect(relay.route('bob')).to.equal(undefined);
    expect(clock.pendingCount).to.equal(0);
  });

  it('a pending binding never confirmed is dropped after the pending lifetime; one the PBX refuses at once', () => {
    relay.prepare('alice', 'sip:alice@10.0.0.2', flowA);
    clock.advance(PENDING_LIFETIME_MS);
    expect(relay.bindings).to.deep.equal([]);
    const b = relay.prepare('bob', 'sip:bob@10.0.0.3', flowA)!;
    relay.refused(b);
    expect(relay.bindings).to.deep.equal([]);
    expect(removed).to.deep.equal(['alice:pending-timeout', 'bob:refused']);
    expect(clock.pendingCount).to.equal(0);
  });

  it('the AOR routes to the most recently confirmed of its bindings', () => {
    const first = relay.prepare('alice', 'sip:alice@10.0.0.2', flowA)!;
    relay.confirm(first, 300);
    clock.advance(5);
    const second = relay.prepare('alice', 'sip:alice@10.0.0.9', { ...flowA, port: 4 })!;
    relay.confirm(second, 300);
    expect(relay.route('alice')).to.equal(second);
    expect(relay.route(first.gatewayUser)).to.equal(first);
  });

  it('keep-alives go to each confirmed UDP flow every interval, not to pending or TCP ones, and stop with the binding', () => {
    const b = relay.prepare('alice', 'sip:alice@10.0.0.2', flowA)!;
    relay.prepare('carol', 'sip:carol@10.0.0.4', { ...flowA, port: 3 });
    const t = relay.prepare('dave', 'sip:dave@10.0.0.5', { address: '203.0.113.8', port: 5, protocol: 'tcp' })!;
    relay.confirm(t, 300);
    clock.advance(5000);
    expect(sent).to.deep.equal([]);
    relay.confirm(b, 300);
    clock.advance(3000);
    expect(sent).to.deep.equal([flowA, flowA, flowA]);
    relay.remove(b);
    clock.advance(3000);
    expect(sent).to.have.length(3);
    expect(relay.keepalivesSent).to.equal(3);
  });

  it('keepaliveMs 0 sends none; stop() drops everything; maxBindings bounds the table', () => {
    const quiet = new RegistrationRelay({ clock, keepaliveMs: 0, sendKeepAlive: (f) => sent.push(f), maxBindings: 2 });
    const b = quiet.prepare('alice', 'sip:alice@10.0.0.2', flowA)!;
    quiet.confirm(b, 300);
    clock.advance(60_000);
    expect(sent).to.deep.equal([]);
    expect(quiet.prepare('bob', 'sip:bob@10.0.0.3', flowA)).to.not.equal(undefined);
    expect(quiet.prepare('carol', 'sip:carol@10.0.0.4', flowA)).to.equal(undefined);
    quiet.stop();
    expect(quiet.bindings).to.deep.equal([]);
    expect(clock.pendingCount).to.equal(0);
  });

  it('contactHostPort: host, port, default 5060/5061, IPv6 brackets', () => {
    expect(contactHostPort('sip:alice@10.0.0.2:5070;transport=udp')).to.deep.equal({ host: '10.0.0.2', port: 5070 });
    expect(contactHostPort('sip:10.0.0.2')).to.deep.equal({ host: '10.0.0.2', port: 5060 });
    expect(contactHostPort('sips:a@h.example')).to.deep.equal({ host: 'h.example', port: 5061 });
    expect(contactHostPort('sip:a@[::1]:7000')).to.deep.equal({ host: '::1', port: 7000 });
    expect(contactHostPort('http://x')).to.equal(undefined);
  });
});
