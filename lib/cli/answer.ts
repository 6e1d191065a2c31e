/**
 * `icephone answer --listen HOST:PORT [options]`: answers incoming calls (any user part unless
 * `--user` restricts it), plays the source, hangs up after `--duration` seconds if given (else
 * waits for the caller's BYE), and exits after `--max-calls` calls (else runs until SIGINT/SIGTERM;
 * with `--drain`, SIGTERM lets the calls in progress finish first). `--max-concurrent N` bounds the
 * calls in progress (503 beyond). `--ring-seconds S` lets each call ring S seconds before the 200
 * (180 at once; with preconditions the flow's own reliable 183/180 come first).
 */
import { answerAuthFrom, COMMON_USAGE, parseCommon, parseCount, parseSeconds } from './options.js';
import { startIdleCompaction } from './idle-compaction.js';
import { handleSignals, startPhone } from './run-phone.js';

export const ANSWER_USAGE = `usage: icephone answer --listen HOST:PORT [--ring-seconds S] [options]\n`
  + `  --ring-seconds S    ring S seconds (180 Ringing) before answering each call (default 0)\n` + COMMON_USAGE;

export async function runAnswer(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommon(argv, { 'ring-seconds': { type: 'string' } });
  if (values.help) {
    process.stdout.write(ANSWER_USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new (await import('../base/errors.js')).UsageError(`unexpected argument '${positionals[0]}'`);
  const durationSec = parseSeconds(values.duration, '--duration');
  const maxCalls = parseCount(values['max-calls'], '--max-calls');
  const ringSec = parseSeconds((values as Record<string, unknown>)['ring-seconds'] as string | undefined, '--ring-seconds');
  const auth = answerAuthFrom(values);
  const ctx = await startPhone(values, { answering: true }, auth ? { auth } : {});
  if (auth) {
    ctx.out.line(`sip: digest authentication on (realm "${auth.realm ?? 'icephone'}"): every out-of-dialog request is challenged`);
    ctx.phone.on('auth', (d) => {
      const v = d.verdict;
      if (v.action === 'refuse' && v.newlyBlocked) ctx.out.line(`sip: auth: rate limit: ${v.why} (403)`);
      else if (v.action === 'challenge' && v.failure) ctx.out.line(`sip: auth: ${d.method} from ${d.source} failed: ${v.why}`);
    });
  }
  let answered = 0;
  let reported = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  ctx.phone.on('incoming', (call) => {
    if (maxCalls !== undefined && answered >= maxCalls) {
      void ctx.phone.reject(call, 486);
      return;
    }
    answered++;
    ctx.out.line(`sip: incoming call from ${call.session.remoteIdentity.uri.toString()}`);
    call.on('established', () => {
      if (durationSec === undefined) return;
      const t = setTimeout(() => void call.hangup(), durationSec * 1000);
      void call.finished.then(() => clearTimeout(t));
    });
    if (ringSec) {
      // Ring first (with preconditions the flow alerts by itself once they are met), answer later.
      if (!call.preconditions) void ctx.phone.ring(call);
      const t = setTimeout(() => void ctx.phone.answer(call, call.preconditions ? {} : { provisional: 'none' }), ringSec * 1000);
      void call.finished.then(() => clearTimeout(t));
    } else {
      void ctx.phone.answer(call);
    }
    const report = ctx.report(call);
    void report.then(() => {
      reported++;
      if (maxCalls !== undefined && reported >= maxCalls) done();
    });
  });
  handleSignals(ctx, done, { drain: values.drain });
  const stopCompaction = startIdleCompaction({ busy: () => ctx.phone.activeCalls.length });
  await finished;
  stopCompaction();
  // Every call has ended here (max-calls reached, drained, or hung up by a signal): print the
  // summaries of the last ones before the process exits.
  await ctx.reportsSettled();
  await ctx.transfersReported();
  await ctx.phone.stop();
  const stats = ctx.phone.authStats;
  if (stats) {
    ctx.out.line(`sip: auth: ${stats.challenged} challenged, ${stats.accepted} accepted, ${stats.failed} failed, ${stats.stale} stale, ${stats.refused} refused (rate limit), ${stats.sourcesBlocked} sources blocked`);
  }
  const status = ctx.exitStatus();
  if (status !== 0) process.stderr.write(`icephone: ${ctx.failureReason()}\n`);
  return status;
}
