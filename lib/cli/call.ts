/**
 * `icephone call SIP-URI --listen HOST:PORT [options]`: places one call, plays the source,
 * hangs up after `--duration` seconds (default 5), prints the summary, exits 0 only when
 * media flowed both ways.
 */
import { UsageError } from '../base/errors.js';
import { COMMON_USAGE, parseCommon, parseSeconds } from './options.js';
import { handleSignals, startPhone } from './run-phone.js';

export const CALL_USAGE = `usage: icephone call SIP-URI --listen HOST:PORT [options]\n` + COMMON_USAGE;

export async function runCall(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommon(argv);
  if (values.help) {
    process.stdout.write(CALL_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one SIP URI expected, got ${positionals.length} arguments` : 'missing SIP-URI to call');
  const target = positionals[0];
  if (!/^sips?:[^@\s]*@?[^\s]+$/i.test(target)) throw new UsageError(`not a SIP URI: '${target}'`);
  const durationSec = parseSeconds(values.duration, '--duration') ?? 5;
  if (values['max-calls'] !== undefined) throw new UsageError('--max-calls applies to icephone answer only');
  if (values['auth-realm'] !== undefined || values['auth-max-failures'] !== undefined || values['auth-algorithms'] !== undefined) {
    throw new UsageError('--auth-realm/--auth-max-failures/--auth-algorithms apply to icephone answer only');
  }
  const ctx = await startPhone(values, { target });
  const call = ctx.phone.call(target);
  call.on('alerting', () => ctx.out.line('sip: ringing'));
  const hangUpAfterDuration = (c: typeof call) => c.on('established', () => {
    ctx.out.line(`sip: answered; hanging up in ${durationSec} s`);
    const t = setTimeout(() => void c.hangup(), durationSec * 1000);
    void c.finished.then(() => clearTimeout(t));
  });
  hangUpAfterDuration(call);
  // A call placed because the peer transferred us (REFER, --accept-transfer) lasts as long.
  ctx.phone.on('outgoing', (c) => { if (c !== call) hangUpAfterDuration(c); });
  handleSignals(ctx, () => undefined);
  await ctx.report(call);
  await ctx.transfersReported();
  await ctx.phone.stop();
  const status = ctx.exitStatus();
  if (status !== 0) process.stderr.write(`icephone: ${ctx.failureReason()}\n`);
  return status;
}
