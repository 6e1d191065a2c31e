import { expect } from 'chai';
import { answerDirection, effectiveDirection, mediaFlows, offerDirection, type MediaDirection } from '../../lib/sdp/direction.js';

const ALL: MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

describe('sdp/direction (RFC 3264 §6.1, RFC 6337 §5)', () => {
  // Rows: offered; columns: what we want. RFC 3264 §6.1 table.
  const table: Record<MediaDirection, Record<MediaDirection, MediaDirection>> = {
    sendrecv: { sendrecv: 'sendrecv', sendonly: 'sendonly', recvonly: 'recvonly', inactive: 'inactive' },
    sendonly: { sendrecv: 'recvonly', sendonly: 'inactive', recvonly: 'recvonly', inactive: 'inactive' },
    recvonly: { sendrecv: 'sendonly', sendonly: 'sendonly', recvonly: 'inactive', inactive: 'inactive' },
    inactive: { sendrecv: 'inactive', sendonly: 'inactive', recvonly: 'inactive', inactive: 'inactive' },
  };
  for (const offered of ALL) for (const wanted of ALL) {
    it(`offer ${offered}, we want ${wanted}: answer ${table[offered][wanted]}`, () => {
      expect(answerDirection(offered, wanted)).to.equal(table[offered][wanted]);
    });
  }

  it('an answer never sends where the offer does not receive, nor receives where it does not send', () => {
    for (const offered of ALL) for (const wanted of ALL) {
      const a = answerDirection(offered, wanted);
      const f = mediaFlows(a, offered);
      expect(f.send && !['sendrecv', 'recvonly'].includes(offered), `${offered}/${wanted}`).to.equal(false);
      expect(f.receive && !['sendrecv', 'sendonly'].includes(offered), `${offered}/${wanted}`).to.equal(false);
    }
  });

  it('reads c=0.0.0.0 (RFC 2543 hold) as "do not send to me"', () => {
    expect(effectiveDirection({ direction: 'sendrecv', address: '0.0.0.0', port: 4000 })).to.equal('sendonly');
    expect(effectiveDirection({ direction: 'recvonly', address: '0.0.0.0', port: 4000 })).to.equal('inactive');
    expect(effectiveDirection({ direction: 'sendrecv', address: '::', port: 4000 })).to.equal('sendonly');
    expect(effectiveDirection({ direction: 'sendrecv', address: '192.0.2.1', port: 4000 })).to.equal('sendrecv');
  });

  it('offers sendonly to hold, recvonly while held, inactive when both hold (RFC 6337 §5)', () => {
    expect(offerDirection(false, false)).to.equal('sendrecv');
    expect(offerDirection(true, false)).to.equal('sendonly');
    expect(offerDirection(false, true)).to.equal('recvonly');
    expect(offerDirection(true, true)).to.equal('inactive');
  });
});
