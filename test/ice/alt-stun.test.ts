/**
 * The draft-era STUN forms (lib/stun/legacy.ts) and the per-dialog STUN server (lib/stun/server.ts)
 * of draft-rosenberg-sipping-ice-01 §5.2 and §5.5.
 */
import { expect } from 'chai';
import { buildLegacyBindingRequest, encodeLegacyErrorResponse, encodeLegacySuccessResponse, judgeLegacyRequest, judgeLegacyResponse, legacyErrorDisposition, legacyKey } from '../../lib/stun/legacy.js';
import { MAGIC_COOKIE, StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { DialogStunServer } from '../../lib/stun/server.js';
import type { TransportAddress } from '../../lib/net/socket.js';

const CRED = { username: 'user1', password: '9kksk==' };
const FROM: TransportAddress = { address: '192.0.2.2', port: 10892, family: 'IPv4' };
const ON = { address: '10.0.1.1', port: 1010 };

function request(creds = CRED, mutate?: (m: StunMessage) => void, key = creds.password): StunMessage {
  const m = buildLegacyBindingRequest(creds);
  mutate?.(m);
  return StunMessage.decode(m.encode({ integrityKey: legacyKey(key) }));
}

describe('legacy STUN (RFC 3489 form, draft-rosenberg-sipping-ice-01 §5.5)', () => {
  it('a check is an RFC 3489 Binding request: no magic cookie, 128-bit transaction id, USERNAME, PASSWORD, MESSAGE-INTEGRITY', () => {
    const bytes = buildLegacyBindingRequest(CRED).encode({ integrityKey: legacyKey(CRED.password) });
    expect(bytes.readUInt32BE(4)).to.not.equal(MAGIC_COOKIE);
    const m = StunMessage.decode(bytes);
    expect(m.legacy).to.equal(true);
    expect(m.transactionId.length).to.equal(16);
    expect(m.getUsername()).to.equal('user1');
    expect(m.get(StunAttr.PASSWORD)!.toString()).to.equal('9kksk==');
    expect(m.has(StunAttr.MESSAGE_INTEGRITY)).to.equal(true);
    // §5.5: "MUST NOT contain the CHANGE-REQUEST or RESPONSE-ADDRESS attribute".
    expect(m.has(StunAttr.CHANGE_REQUEST) || m.has(StunAttr.RESPONSE_ADDRESS)).to.equal(false);
  });

  const lookup = (u: string) => (u === CRED.username ? { ...CRED, id: '2' } : undefined);
  const cases: Array<[string, StunMessage, number | 'accept']> = [
    ['the credentials handed out', request(), 'accept'],
    ['another dialog\'s username (the §5.2 B/C collision)', request({ username: 'other', password: 'x' }), 430],
    ['the right username with a wrong key', request(CRED, undefined, 'wrong'), 431],
    ['a PASSWORD attribute that is not the password', request(CRED, (m) => { m.attributes = m.attributes.filter((a) => a.type !== StunAttr.PASSWORD); m.add(StunAttr.PASSWORD, Buffer.from('nope')); }), 431],
    ['no MESSAGE-INTEGRITY', StunMessage.decode(buildLegacyBindingRequest(CRED).encode()), 401],
    ['no USERNAME', request(CRED, (m) => { m.attributes = m.attributes.filter((a) => a.type !== StunAttr.USERNAME); }), 432],
    ['CHANGE-REQUEST with flags (§5.2)', request(CRED, (m) => m.add(StunAttr.CHANGE_REQUEST, Buffer.from([0, 0, 0, 6]))), 400],
    ['RESPONSE-ADDRESS', request(CRED, (m) => m.addMappedAddress(StunAttr.RESPONSE_ADDRESS, FROM)), 400],
    ['an unknown comprehension-required attribute', request(CRED, (m) => m.add(0x7f01, Buffer.alloc(4))), 420],
  ];
  for (const [what, msg, expected] of cases) {
    it(`server verdict for ${what}: ${expected}`, () => {
      const v = judgeLegacyRequest(msg, lookup);
      if (expected === 'accept') expect(v.kind).to.equal('accept');
      else expect(v.kind === 'reject' && v.code).to.equal(expected);
    });
  }

  it('draft §5.5 retry rule: 401/430/432/500 retried, 400/431/600 (and the unlisted) not', () => {
    for (const c of [401, 430, 432, 500]) expect(legacyErrorDisposition(c), String(c)).to.equal('retry');
    for (const c of [400, 431, 600, 420, 433, undefined]) expect(legacyErrorDisposition(c), String(c)).to.equal('fail');
  });

  it('a success response carries MAPPED-ADDRESS and integrity; the client accepts it only with the right password and from where it sent', () => {
    const req = request();
    const res = StunMessage.decode(encodeLegacySuccessResponse(req, FROM, ON, CRED.password));
    expect(res.legacy).to.equal(true);
    expect(res.getMappedAddress()).to.deep.include({ address: '192.0.2.2', port: 10892 });
    const sentTo = { address: '10.0.1.1', port: 1010 };
    const answeredFrom: TransportAddress = { ...sentTo, family: 'IPv4' };
    const elsewhere: TransportAddress = { address: '10.0.1.9', port: 1010, family: 'IPv4' };
    expect(judgeLegacyResponse(res, answeredFrom, sentTo, CRED.password)).to.deep.include({ kind: 'success' });
    expect(judgeLegacyResponse(res, answeredFrom, sentTo, 'other').kind).to.equal('invalid');
    expect(judgeLegacyResponse(res, elsewhere, sentTo, CRED.password).kind).to.equal('invalid');
    const err = StunMessage.decode(encodeLegacyErrorResponse(req, 430, 'Stale Credentials'));
    expect(judgeLegacyResponse(err, answeredFrom, sentTo, CRED.password)).to.deep.include({ kind: 'error', code: 430, disposition: 'retry' });
  });

  it('the server answers in the form it was asked (RFC 8489 requests get XOR-MAPPED-ADDRESS too)', () => {
    const m = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
    m.addUsername(CRED.username);
    const req = StunMessage.decode(m.encode({ integrityKey: legacyKey(CRED.password) }));
    const res = StunMessage.decode(encodeLegacySuccessResponse(req, FROM, ON, CRED.password));
    expect(res.legacy).to.equal(false);
    expect(res.getXorMappedAddress()).to.deep.include({ address: '192.0.2.2', port: 10892 });
  });

  it('DialogStunServer: accepts its own credentials, counts other dialogs\' as unknown, forgets removed ones', () => {
    const server = new DialogStunServer();
    server.add({ ...CRED, id: '2' });
    const sent: Buffer[] = [];
    const send = (b: Buffer) => void sent.push(b);
    expect(server.handle(request(), FROM, ON, send)).to.deep.include({ kind: 'accepted' });
    expect(server.handle(request({ username: 'dialog-b', password: 'p' }), FROM, ON, send)).to.deep.include({ kind: 'rejected', code: 430 });
    server.remove(CRED.username);
    expect(server.handle(request(), FROM, ON, send)).to.deep.include({ kind: 'rejected', code: 430 });
    expect(server.stats).to.deep.equal({ accepted: 1, rejected: 2, unknownUsername: 2, rateLimited: 0 });
    expect(sent.map((b) => StunMessage.decode(b).messageClass)).to.deep.equal(['success', 'error', 'error']);
  });
});
