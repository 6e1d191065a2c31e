import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import {
  answerTable,
  applyRemote,
  canonicalPreconditionType,
  confirmationDue,
  formatPreconditionAttribute,
  hasOptionTag,
  mirrorAttribute,
  newStatusTable,
  parsePreconditionAttribute,
  preconditionsFailed,
  preconditionsFromSdp,
  preconditionsMet,
  setCurrent,
  setStrength,
  tableFromRemote,
  tableToAttributes,
  unmetPreconditions,
  withPreconditions,
  type PreconditionAttribute,
} from '../../lib/sdp/preconditions.js';

const lines = (...l: string[]): PreconditionAttribute[] => l.map(parsePreconditionAttribute);
const fmt = (attrs: PreconditionAttribute[]): string[] => attrs.map((a) => `a=${formatPreconditionAttribute(a)}`);

/*
 * Vectors: the SDP fragments below follow the examples of RFC 3312 §5 (end-to-end qos: SDP1 offer,
 * SDP2 answer asking for confirmation of its "recv" direction, the UPDATE and its answer) and of
 * RFC 5898 (the same flow with the `conn` type). They are written from the RFC text as we know it
 * (the search corpus only had excerpts; the RFC 3312 SDP1/SDP2 pair was corroborated by a public
 * test that quotes them), not copied from a machine-readable vector file.
 */
describe('sdp/preconditions', () => {
  describe('attribute codec (RFC 3312 §5 grammar)', () => {
    const table: Array<[string, PreconditionAttribute]> = [
      ['a=curr:qos e2e none', { kind: 'curr', type: 'qos', statusType: 'e2e', direction: 'none' }],
      ['a=des:qos mandatory e2e sendrecv', { kind: 'des', type: 'qos', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' }],
      ['a=conf:qos e2e recv', { kind: 'conf', type: 'qos', statusType: 'e2e', direction: 'recv' }],
      ['a=curr:qos local send', { kind: 'curr', type: 'qos', statusType: 'local', direction: 'send' }],
      ['a=des:qos optional remote sendrecv', { kind: 'des', type: 'qos', strength: 'optional', statusType: 'remote', direction: 'sendrecv' }],
      ['a=des:conn failure e2e sendrecv', { kind: 'des', type: 'conn', strength: 'failure', statusType: 'e2e', direction: 'sendrecv' }],
      ['a=des:conn unknown e2e none', { kind: 'des', type: 'conn', strength: 'unknown', statusType: 'e2e', direction: 'none' }],
      ['a=curr:conn e2e sendrecv', { kind: 'curr', type: 'conn', statusType: 'e2e', direction: 'sendrecv' }],
    ];
    for (const [line, attr] of table) {
      it(`round-trips ${line}`, () => {
        expect(parsePreconditionAttribute(line)).to.deep.equal(attr);
        expect(`a=${formatPreconditionAttribute(attr)}`).to.equal(line);
        expect(parsePreconditionAttribute(line.slice(2))).to.deep.equal(attr);
      });
    }

    it('reads the draft\'s "connected" and its IANA "connectivity" as conn (and writes conn)', () => {
      expect(parsePreconditionAttribute('a=des:connected mandatory e2e sendrecv').type).to.equal('conn');
      expect(parsePreconditionAttribute('a=curr:Connectivity e2e none').type).to.equal('conn');
      expect(formatPreconditionAttribute(parsePreconditionAttribute('a=conf:connected e2e recv'))).to.equal('conf:conn e2e recv');
      expect(canonicalPreconditionType('qos')).to.equal('qos');
    });

    it('is tolerant of runs of blanks and upper case keywords', () => {
      expect(parsePreconditionAttribute('a=des:qos  MANDATORY\te2e   SendRecv')).to.deep.equal(
        { kind: 'des', type: 'qos', strength: 'mandatory', statusType: 'e2e', direction: 'sendrecv' },
      );
    });

    const invalid: Array<[string, string]> = [
      ['a=curr:qos e2e', 'curr'],
      ['a=des:qos mandatory e2e', 'des'],
      ['a=des:qos always e2e sendrecv', 'strength-tag'],
      ['a=curr:qos global none', 'status-type'],
      ['a=conf:qos e2e both', 'direction-tag'],
      ['a=curr:q(s e2e none', 'precondition-type'],
      ['a=curr:', 'curr'],
      ['a=rtpmap:0 PCMU/8000', 'attribute'],
      ['a=curr:qos e2e none extra', 'curr'],
    ];
    for (const [line, where] of invalid) {
      it(`rejects ${JSON.stringify(line)} at ${where}`, () => {
        try {
          parsePreconditionAttribute(line);
          expect.fail('expected ParseError');
        } catch (e) {
          expect(e).to.be.instanceOf(ParseError);
          expect((e as ParseError).where).to.equal(where);
        }
      });
    }
  });

  describe('SDP sections', () => {
    const sdp = [
      'v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0',
      'a=curr:qos e2e none', // session level: ignored
      'm=audio 20000 RTP/AVP 0',
      'a=curr:qos e2e none',
      'a=des:qos mandatory e2e sendrecv',
      'a=des:qos sometimes e2e sendrecv',
      'm=video 20002 RTP/AVP 31',
      'a=curr:conn e2e send',
      '',
    ].join('\r\n');

    it('reads curr/des/conf per media section and reports bad lines', () => {
      const media = preconditionsFromSdp(sdp);
      expect(media).to.have.length(2);
      expect(fmt(media[0]!.attributes)).to.deep.equal(['a=curr:qos e2e none', 'a=des:qos mandatory e2e sendrecv']);
      expect(media[0]!.invalid).to.deep.equal(['a=des:qos sometimes e2e sendrecv']);
      expect(fmt(media[1]!.attributes)).to.deep.equal(['a=curr:conn e2e send']);
    });

    it('replaces the lines of each section, keeping everything else', () => {
      const out = withPreconditions(sdp, [lines('a=curr:conn e2e sendrecv', 'a=des:conn mandatory e2e sendrecv')]);
      expect(out).to.equal([
        'v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0',
        'a=curr:qos e2e none',
        'm=audio 20000 RTP/AVP 0',
        'a=curr:conn e2e sendrecv',
        'a=des:conn mandatory e2e sendrecv',
        'm=video 20002 RTP/AVP 31',
        '',
      ].join('\r\n'));
    });
  });

  describe('mirroring between peers (RFC 3312 §5.1)', () => {
    it('swaps local/remote and send/recv, keeps e2e/sendrecv/none', () => {
      const m = (l: string) => `a=${formatPreconditionAttribute(mirrorAttribute(parsePreconditionAttribute(l)))}`;
      expect(m('a=curr:qos local send')).to.equal('a=curr:qos remote recv');
      expect(m('a=des:qos mandatory remote recv')).to.equal('a=des:qos mandatory local send');
      expect(m('a=conf:qos e2e sendrecv')).to.equal('a=conf:qos e2e sendrecv');
      expect(m('a=curr:qos e2e none')).to.equal('a=curr:qos e2e none');
    });

    it('builds the peer\'s table in our point of view (segmented example)', () => {
      const t = tableFromRemote('qos', lines(
        'a=curr:qos local send', 'a=curr:qos remote none',
        'a=des:qos mandatory local sendrecv', 'a=des:qos optional remote sendrecv',
        'a=conf:qos remote recv',
      ))!;
      // Their local is our remote: current in our recv direction (their send).
      expect(t.segments.remote!.recv).to.deep.include({ current: true, strength: 'mandatory' });
      expect(t.segments.remote!.send).to.deep.include({ current: false, strength: 'mandatory' });
      expect(t.segments.local!.send).to.deep.include({ current: false, strength: 'optional', confirmRequested: true });
      expect(t.segments.local!.recv.confirmRequested).to.equal(false);
      expect(tableFromRemote('conn', t ? lines('a=curr:qos e2e none') : [])).to.equal(undefined);
    });
  });

  describe('RFC 3312 §5 end-to-end example (qos)', () => {
    it('SDP1 → SDP2 → UPDATE → 200 with the tables of both sides', () => {
      // A's offer (SDP1): nothing reserved, mandatory both ways.
      let a = newStatusTable('qos', 'mandatory');
      const sdp1 = tableToAttributes(a);
      expect(fmt(sdp1)).to.deep.equal(['a=curr:qos e2e none', 'a=des:qos mandatory e2e sendrecv']);

      // B answers (SDP2) and asks A to confirm B's "recv" direction.
      let b = answerTable(sdp1, 'qos', { confirm: 'recv' })!;
      const sdp2 = tableToAttributes(b);
      expect(fmt(sdp2)).to.deep.equal(['a=curr:qos e2e none', 'a=des:qos mandatory e2e sendrecv', 'a=conf:qos e2e recv']);
      expect(preconditionsMet(b)).to.equal(false);

      // A reads SDP2: B's recv is A's send, so A owes B an offer once its send direction is up.
      a = applyRemote(a, sdp2);
      expect(a.segments.e2e!.send.confirmRequested).to.equal(true);
      expect(confirmationDue(a)).to.equal(false);
      a = setCurrent(a, 'e2e', 'send');
      expect(confirmationDue(a)).to.equal(true);

      // A's UPDATE (SDP3): send is up.
      const sdp3 = tableToAttributes(a);
      expect(fmt(sdp3)).to.deep.equal(['a=curr:qos e2e send', 'a=des:qos mandatory e2e sendrecv']);
      b = applyRemote(b, sdp3);
      expect(b.segments.e2e!.recv.current).to.equal(true);
      expect(preconditionsMet(b)).to.equal(false);
      expect(unmetPreconditions(b)).to.deep.equal([{ statusType: 'e2e', direction: 'send', strength: 'mandatory' }]);

      // B's own send direction comes up; its answer (SDP4) says sendrecv; both tables are met.
      b = setCurrent(b, 'e2e', 'send');
      const sdp4 = tableToAttributes(b);
      expect(fmt(sdp4)).to.deep.equal(['a=curr:qos e2e sendrecv', 'a=des:qos mandatory e2e sendrecv', 'a=conf:qos e2e recv']);
      expect(preconditionsMet(b)).to.equal(true);
      a = applyRemote(a, sdp4);
      expect(preconditionsMet(a)).to.equal(true);
    });
  });

  describe('RFC 5898 connectivity (conn) with the draft\'s Figure 2', () => {
    it('offer, reliable answer, UPDATE with curr sendrecv from the side that confirms, 200 UPDATE', () => {
      let caller = newStatusTable('conn', 'mandatory');
      const sdp1 = tableToAttributes(caller);
      expect(fmt(sdp1)).to.deep.equal(['a=curr:conn e2e none', 'a=des:conn mandatory e2e sendrecv']);
      let callee = answerTable(sdp1, 'conn', { strength: 'mandatory', confirm: 'recv' })!;
      const sdp2 = tableToAttributes(callee);
      expect(fmt(sdp2)).to.deep.equal(['a=curr:conn e2e none', 'a=des:conn mandatory e2e sendrecv', 'a=conf:conn e2e recv']);
      caller = applyRemote(caller, sdp2);
      // ICE: a successful check proves both directions (RFC 5898 §4).
      caller = setCurrent(caller, 'e2e', 'sendrecv');
      expect(preconditionsMet(caller)).to.equal(true);
      const sdp3 = tableToAttributes(caller);
      expect(fmt(sdp3)).to.deep.equal(['a=curr:conn e2e sendrecv', 'a=des:conn mandatory e2e sendrecv']);
      callee = applyRemote(callee, sdp3);
      expect(preconditionsMet(callee)).to.equal(true);
      expect(fmt(tableToAttributes(callee))).to.deep.equal(['a=curr:conn e2e sendrecv', 'a=des:conn mandatory e2e sendrecv', 'a=conf:conn e2e recv']);
    });

    it('the answerer upgrades optional to mandatory but never downgrades', () => {
      const up = answerTable(lines('a=curr:conn e2e none', 'a=des:conn optional e2e sendrecv'), 'conn', { strength: 'mandatory' })!;
      expect(up.segments.e2e!.send.strength).to.equal('mandatory');
      const keep = answerTable(lines('a=curr:conn e2e none', 'a=des:conn mandatory e2e sendrecv'), 'conn', { strength: 'optional' })!;
      expect(keep.segments.e2e!.recv.strength).to.equal('mandatory');
      expect(answerTable(lines('a=curr:qos e2e none'), 'conn')).to.equal(undefined);
    });

    it('optional rows count for "met" unless excluded; none rows never', () => {
      const t = newStatusTable('conn', 'optional');
      expect(preconditionsMet(t)).to.equal(false);
      expect(preconditionsMet(t, ['mandatory'])).to.equal(true);
      expect(preconditionsMet(newStatusTable('conn', 'none'))).to.equal(true);
      const mixed = applyRemote(newStatusTable('conn', 'none'), lines('a=des:conn mandatory e2e send', 'a=curr:conn e2e recv'));
      // Peer wants its send (our recv) mandatory and says its recv (our send) is up.
      expect(mixed.segments.e2e!.recv.strength).to.equal('mandatory');
      expect(mixed.segments.e2e!.send.current).to.equal(true);
      expect(preconditionsMet(mixed)).to.equal(false);
      expect(fmt(tableToAttributes(mixed))).to.deep.equal([
        'a=curr:conn e2e send', 'a=des:conn none e2e send', 'a=des:conn mandatory e2e recv',
      ]);
    });

    it('failure from the peer wins and is never met', () => {
      let t = newStatusTable('conn', 'mandatory');
      t = setCurrent(t, 'e2e', 'sendrecv');
      t = applyRemote(t, lines('a=curr:conn e2e none', 'a=des:conn failure e2e sendrecv'));
      expect(preconditionsFailed(t)).to.equal(true);
      expect(preconditionsMet(t)).to.equal(false);
      expect(fmt(tableToAttributes(setStrength(newStatusTable('conn', 'mandatory'), 'failure')))).to.deep.equal([
        'a=curr:conn e2e none', 'a=des:conn failure e2e sendrecv',
      ]);
    });

    it('a later SDP replaces the peer\'s confirmation requests', () => {
      let t = applyRemote(newStatusTable('conn', 'mandatory'), lines('a=conf:conn e2e sendrecv'));
      expect(t.segments.e2e!.send.confirmRequested && t.segments.e2e!.recv.confirmRequested).to.equal(true);
      t = applyRemote(t, lines('a=curr:conn e2e none', 'a=des:conn mandatory e2e sendrecv'));
      expect(t.segments.e2e!.send.confirmRequested || t.segments.e2e!.recv.confirmRequested).to.equal(false);
    });
  });

  it('option tags in Require/Supported (RFC 3312 §11)', () => {
    expect(hasOptionTag('100rel, precondition', 'precondition')).to.equal(true);
    expect(hasOptionTag('timer,Precondition', 'precondition')).to.equal(true);
    expect(hasOptionTag('preconditions', 'precondition')).to.equal(false);
    expect(hasOptionTag(undefined, 'precondition')).to.equal(false);
  });
});
