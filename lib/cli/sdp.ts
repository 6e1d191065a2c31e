/**
 * `icephone sdp convert --to ice|alt|both < in.sdp > out.sdp`: rewrites the candidate
 * attributes of an SDP between RFC 8839 `a=candidate` and draft-rosenberg-sipping-ice-01 `a=alt`.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../base/errors.js';
import { convertSdp } from '../sdp/convert.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runSdp(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'convert') throw new UsageError(sub ? `unknown sdp subcommand '${sub}' (convert)` : 'missing sdp subcommand (convert)');
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { to: { type: 'string' } }, strict: true }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
  const to = values.to;
  if (to !== 'ice' && to !== 'alt' && to !== 'both') throw new UsageError(`--to: expected ice, alt or both, got '${to ?? ''}'`);
  const input = await readStdin();
  process.stdout.write(convertSdp(input, to));
  return 0;
}
