/**
 * `icephone sdp convert --to ice|alt|both < in.sdp > out.sdp`: rewrites the candidate
 * attributes of an SDP between RFC 8839 `a=candidate` and draft-rosenberg-sipping-ice-01 `a=alt`.
 * What the converter accepted but deviates from the draft's grammar (an integer qvalue rank, an
 * address joined to its port, a candidate with no alt form) is reported on stderr, one line each.
 */
import { escapeControls } from '../base/log.js';
import { parseArgs } from 'node:util';
import { UsageError } from '../base/errors.js';
import { convertSdp } from '../sdp/convert.js';

/** Where `runSdp` reads and writes; the process's stdin/stdout/stderr unless a test says otherwise. */
export interface SdpIo {
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

async function readAll(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Runs `icephone sdp …`. @returns the exit status (0).
 * @throws UsageError on bad arguments; ParseError (the CLI prints it on one line, exit 1) on an
 *   SDP that cannot be converted.
 */
export async function runSdp(argv: string[], io: SdpIo = { input: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
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
  const input = await readAll(io.input);
  const output = convertSdp(input, to, { onWarning: (w) => io.stderr.write(`icephone: line ${w.line}: ${escapeControls(w.message)} (${w.code})\n`) });
  io.stdout.write(output);
  return 0;
}
