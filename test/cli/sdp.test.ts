/**
 * `icephone sdp convert` (lib/cli/sdp.ts) in process: what it writes to stdout and stderr, and the
 * errors it gives main.ts to print (a ParseError: one line, exit 1).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ParseError, UsageError } from '../../lib/base/errors.js';
import { runSdp } from '../../lib/cli/sdp.js';

function run(argv: string[], input: string): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    input: [Buffer.from(input)],
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  };
  return runSdp(argv, io).then((status) => ({ status, stdout, stderr }));
}

const deployed = readFileSync(new URL('../fixtures/sdp/alt-deployed-ranks.sdp', import.meta.url), 'utf8');

describe('icephone sdp convert (lib/cli/sdp.ts)', () => {
  it('converts an SDP with integer qvalue ranks and reports each accepted deviation on stderr with its line', async () => {
    const { status, stdout, stderr } = await run(['convert', '--to', 'ice'], deployed);
    expect(status).to.equal(0);
    expect(stdout).to.match(/^a=candidate:1 1 UDP \d+ 2001:db8::10 1010 typ host alt-id 1 alt-q 1\.0 /m);
    expect(stderr.trimEnd().split('\n')).to.deep.equal([
      'icephone: line 9: qvalue "3" read as an integer rank, above every 0..1 qvalue (qvalue-rank)',
      'icephone: line 10: qvalue "2" read as an integer rank, above every 0..1 qvalue (qvalue-rank)',
      'icephone: line 14: qvalue "2" read as an integer rank, above every 0..1 qvalue (qvalue-rank)',
      'icephone: line 15: address and port joined by ":" in "[2001:db8::20]:5004" (address-port-joined)',
    ]);
  });

  it('a NUL in an a=alt password is a one-line ParseError naming the line and the field', async () => {
    const sdp = deployed.replace('user1 9kksk==', 'user1 9kk\u0000sk==');
    for (const to of ['ice', 'both']) {
      const error = await run(['convert', '--to', to], sdp).then(() => undefined, (e: unknown) => e);
      expect(error).to.be.instanceOf(ParseError);
      expect((error as ParseError).message).to.equal('line 10: password "9kk\\u0000sk==" is not a non-ws-string (at password)');
    }
  });

  it('refuses a bad --to with a UsageError', async () => {
    const error = await run(['convert', '--to', 'webrtc'], deployed).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(UsageError);
  });
});
