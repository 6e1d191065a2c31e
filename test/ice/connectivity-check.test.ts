import { expect } from 'chai';
import {
  authenticateResponse, buildCheckRequest, judgeCheckResponse, judgeIncomingCheck, resolveRoleConflict,
} from '../../lib/ice/connectivity-check.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';

const creds = { localUfrag: 'LOCL', localPwd: 'local-password-local-pwd' };

function decoded(msg: StunMessage, key?: string): StunMessage {
  return StunMessage.decode(msg.encode({ integrityKey: key ? shortTermKey(key) : undefined, fingerprint: true }));
}

describe('connectivity-check helpers', () => {
  it('accepts a well-formed check and reports its ICE attributes', () => {
    const req = buildCheckRequest({ localUfrag: 'RMTE', remoteUfrag: 'LOCL', priority: 99, role: 'controlling', tieBreaker: 42n, useCandidate: true });
    const v = judgeIncomingCheck(decoded(req, creds.localPwd), creds);
    expect(v).to.deep.equal({ kind: 'accept', remoteUfrag: 'RMTE', priority: 99, useCandidate: true, controlling: 42n, controlled: undefined });
  });

  it('applies RFC 8489 §9.1.3: 400 missing, 401 unknown user or bad integrity', () => {
    const base = () => buildCheckRequest({ localUfrag: 'RMTE', remoteUfrag: 'LOCL', priority: 1, role: 'controlled', tieBreaker: 1n });
    expect(judgeIncomingCheck(decoded(base()), creds)).to.include({ kind: 'reject', code: 400 });
    const wrongUser = buildCheckRequest({ localUfrag: 'RMTE', remoteUfrag: 'OTHER', priority: 1, role: 'controlled', tieBreaker: 1n });
    expect(judgeIncomingCheck(decoded(wrongUser, creds.localPwd), creds)).to.include({ kind: 'reject', code: 401, integrityFailure: false });
    expect(judgeIncomingCheck(decoded(base(), 'nope-nope-nope'), creds)).to.include({ kind: 'reject', code: 401, integrityFailure: true });
    // Remote ufrag known and different: 401.
    expect(judgeIncomingCheck(decoded(base(), creds.localPwd), { ...creds, remoteUfrag: 'ZZZZ' })).to.include({ kind: 'reject', code: 401 });
    const noPriority = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' }).addUsername('LOCL:RMTE');
    expect(judgeIncomingCheck(decoded(noPriority, creds.localPwd), creds)).to.include({ kind: 'reject', code: 400 });
  });

  it('resolves role conflicts per RFC 8445 §7.3.1.1', () => {
    expect(resolveRoleConflict('controlling', 10n, { controlling: 5n })).to.equal('reject-487');
    expect(resolveRoleConflict('controlling', 5n, { controlling: 5n })).to.equal('reject-487');
    expect(resolveRoleConflict('controlling', 4n, { controlling: 5n })).to.equal('switch-to-controlled');
    expect(resolveRoleConflict('controlled', 10n, { controlled: 5n })).to.equal('switch-to-controlling');
    expect(resolveRoleConflict('controlled', 5n, { controlled: 5n })).to.equal('switch-to-controlling');
    expect(resolveRoleConflict('controlled', 4n, { controlled: 5n })).to.equal('reject-487');
    expect(resolveRoleConflict('controlling', 1n, { controlled: 5n })).to.equal('none');
    expect(resolveRoleConflict('controlled', 1n, { controlling: 5n })).to.equal('none');
    expect(resolveRoleConflict('controlled', 1n, {})).to.equal('none');
  });

  it('judges responses: symmetry, 487, missing XOR-MAPPED-ADDRESS', () => {
    const to = { address: '10.0.0.2', port: 5000 };
    const ok = new StunMessage({ method: StunMethod.Binding, messageClass: 'success' }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '10.0.0.1', port: 4000 });
    expect(judgeCheckResponse(decoded(ok, 'k'), to, to, true)).to.deep.include({ kind: 'success' });
    expect(judgeCheckResponse(decoded(ok, 'k'), { address: '10.0.0.2', port: 5001 }, to, true).kind).to.equal('failure');
    expect(judgeCheckResponse(decoded(ok, 'k'), to, to, false).kind).to.equal('failure');
    const conflict = new StunMessage({ method: StunMethod.Binding, messageClass: 'error' }).addErrorCode(487, 'Role Conflict');
    expect(judgeCheckResponse(decoded(conflict, 'k'), to, to, true).kind).to.equal('role-conflict');
    const bare = new StunMessage({ method: StunMethod.Binding, messageClass: 'success' });
    expect(judgeCheckResponse(decoded(bare, 'k'), to, to, true).kind).to.equal('failure');
  });

  it('authenticates responses with the remote password; unsigned 401 is accepted as an error', () => {
    const ok = new StunMessage({ method: StunMethod.Binding, messageClass: 'success' }).addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '10.0.0.1', port: 4000 });
    expect(authenticateResponse(decoded(ok, 'pw-pw-pw'), 'pw-pw-pw')).to.equal('ok');
    expect(authenticateResponse(decoded(ok, 'other'), 'pw-pw-pw')).to.equal('bad-integrity');
    expect(authenticateResponse(decoded(ok), 'pw-pw-pw')).to.equal('bad-integrity');
    const e401 = new StunMessage({ method: StunMethod.Binding, messageClass: 'error' }).addErrorCode(401, 'Unauthenticated');
    expect(authenticateResponse(decoded(e401), 'pw-pw-pw')).to.equal('unauthenticated-error');
  });
});
