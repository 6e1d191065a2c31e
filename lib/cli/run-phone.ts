/**
 * Shared driver for `icephone call` and `icephone answer`: starts a Phone from the flags,
 * wires tracing and progress, prints each call's summary (`--json`: one object per call on
 * stdout), and turns the outcome into an exit status.
 */
import { errorMessage } from '../base/errors.js';
import { StderrLogger, escapeControls, scrub } from '../base/log.js';
import { Phone, type Call, type CallSummary, type PhoneOptions } from '../sip/user-agent.js';
import { parseSeconds, phoneOptionsFrom, type ParsedValues } from './options.js';
import { UsageError } from '../base/errors.js';
import { maskCryptoKeys } from '../sdp/crypto-attributes.js';
import { formatAddress } from '../net/socket.js';
import { CallOutcomes } from './outcomes.js';
import { describeSummary, stderrProgress, watchMedia, type Progress } from './progress.js';

export interface RunContext {
  phone: Phone;
  out: Progress;
  /** Called by the subcommand for every call; resolves when that call is reported. */
  report(call: Call): Promise<CallSummary>;
  /** Resolves once every report started so far has settled (the summaries printed). */
  reportsSettled(): Promise<void>;
  /** Exit status from the calls reported so far: 0 when every call had two-way media. */
  exitStatus(): number;
  /** One-line reason for a non-zero exit. */
  failureReason(): string | undefined;
  /** Resolves when every call that a transfer (REFER) started has been reported. */
  transfersReported(): Promise<void>;
}

/**
 * `context`: as phoneOptionsFrom's (the target of `call`; `answering` for `answer`); `extra` adds
 * subcommand-specific PhoneOptions (answer: `auth`).
 */
export async function startPhone(values: ParsedValues, context: { target?: string; answering?: boolean } = {}, extra: Partial<PhoneOptions> = {}): Promise<RunContext> {
  const options = { ...(await phoneOptionsFrom(values, context)), ...extra };
  if (options.tls?.verify === false) process.stderr.write('icephone: warning: --tls-insecure: the server\'s TLS certificate is not checked (anyone on the path can read the SIP and the SRTP keys)\n');
  const out = stderrProgress(values.quiet);
  const log = new StderrLogger(values.verbose ? 'debug' : values.quiet ? 'error' : 'warn');
  const phone = await Phone.start({
    ...options,
    log,
    trace: values.trace
      ? (direction, text, peer, protocol) => {
          const arrow = direction === 'send' ? `>>> to ${formatAddress(peer)}` : `<<< from ${formatAddress(peer)}`;
          // SDES keys (a=crypto inline:) never reach the trace (RFC 4568 §8.3); control bytes in the
          // message (ESC, C0/C1, DEL, a CR that ends no line) are escaped, line breaks kept.
          process.stderr.write(escapeControls(scrub(maskCryptoKeys(`${arrow} (${protocol})\n${text.replace(/\r\n/g, '\n')}\n`)), true));
        }
      : undefined,
  });
  out.line(`sip: listening on ${formatAddress({ address: options.listen.address, port: phone.port })}/${options.transport} as ${phone.contactUri}`);
  phone.on('media-created', (call, media) => watchMedia(call, media, out));
  phone.on('rejected', (callId, reason) => out.line(`sip: refused INVITE ${callId}: ${reason}`));
  watchRestartRequests(phone, out);
  const holdAt = parseSeconds(values['hold-at'], '--hold-at');
  const resumeAt = parseSeconds(values['resume-at'], '--resume-at');
  if (resumeAt !== undefined && (holdAt === undefined || resumeAt <= holdAt)) throw new UsageError('--resume-at needs an earlier --hold-at');
  const dtmf = values.dtmf;
  if (dtmf !== undefined && !/^[0-9*#A-Da-d]+$/.test(dtmf)) throw new UsageError(`--dtmf: expected digits 0-9 * # A-D, got '${dtmf}'`);
  const perCall = (call: Call) => {
    scheduleHold(call, out, holdAt, resumeAt);
    call.on('dtmf', (digit, ms) => out.line(`dtmf: received ${digit} (${ms} ms)`));
    if (dtmf) {
      // Sent once media flows (the first RTP packet from the peer), so the peer's decoder is listening.
      call.on('established', () => {
        const send = () => call.sendDtmf(dtmf).then(
          () => out.line(`dtmf: sending ${dtmf}`),
          (e) => out.line(`dtmf: sending ${dtmf} failed: ${errorMessage(e)}`),
        );
        if (!call.media) void send();
        else if (call.media.summary().rtp.packetsReceived > 0) void send();
        else call.media.once('media-received', () => void send());
      });
    }
  };
  phone.on('incoming', perCall);
  phone.on('outgoing', perCall);
  // RFC 3515: with --accept-transfer a REFER from the peer is followed (a new call, reported like the
  // first); without it the request gets 603 Decline.
  const transferred: Array<Promise<unknown>> = [];
  let reportCall: (call: Call) => Promise<CallSummary> = async (c) => c.finished;
  phone.on('transfer-request', (request) => {
    if (!values['accept-transfer']) {
      out.line(`sip: declining transfer to ${request.target} (603; --accept-transfer follows transfers)`);
      void request.reject(603).catch(() => undefined);
      return;
    }
    out.line(`sip: transfer to ${request.target} accepted`);
    transferred.push(request.accept().then((next) => reportCall(next), (e) => out.line(`sip: transfer failed: ${errorMessage(e)}`)));
  });
  const transferTo = values['transfer-to'];
  const transferAt = parseSeconds(values['transfer-at'], '--transfer-at') ?? 1;
  if (transferTo !== undefined && !/^sips?:\S+$/i.test(transferTo)) throw new UsageError(`--transfer-to: not a SIP URI: '${transferTo}'`);
  if (transferTo) {
    const schedule = (call: Call) => call.on('established', () => {
      const t = setTimeout(() => {
        out.line(`sip: transferring call ${call.callId} to ${transferTo}`);
        call.transfer(transferTo).then(
          (o) => out.line(`sip: transfer to ${transferTo} ${o.succeeded ? 'succeeded' : 'failed'} (REFER ${o.referStatus}, peer reported ${o.finalStatus ?? 'nothing'})`),
          (e) => out.line(`sip: transfer failed: ${errorMessage(e)}`),
        );
      }, transferAt * 1000);
      void call.finished.then(() => clearTimeout(t));
    });
    phone.on('incoming', schedule);
    phone.on('outgoing', schedule);
  }
  const outcomes = new CallOutcomes();
  const ctx: RunContext = {
    phone,
    out,
    async transfersReported() {
      while (transferred.length) await Promise.allSettled(transferred.splice(0));
    },
    report(call: Call) {
      return outcomes.track((async () => {
        const s = await call.finished;
        outcomes.record(s);
        if (values.json) process.stdout.write(JSON.stringify(s) + '\n');
        else out.line(describeSummary(s));
        return s;
      })());
    },
    reportsSettled: () => outcomes.settled(),
    exitStatus: () => outcomes.exitStatus(),
    failureReason: () => outcomes.failureReason(),
  };
  reportCall = (c) => ctx.report(c);
  return ctx;
}

/** `--hold-at S [--resume-at S]`: hold the peer S seconds after the answer, resume later (scripted tests). */
function scheduleHold(call: Call, out: Progress, holdAt: number | undefined, resumeAt: number | undefined): void {
  if (holdAt === undefined) return;
  call.on('established', () => {
    const timers = [setTimeout(() => toggleHold(call, out, true), holdAt * 1000)];
    if (resumeAt !== undefined) timers.push(setTimeout(() => toggleHold(call, out, false), resumeAt * 1000));
    void call.finished.then(() => timers.forEach(clearTimeout));
  });
}

function toggleHold(call: Call, out: Progress, on: boolean): void {
  out.line(`sip: ${on ? 'holding' : 'resuming'} call ${call.callId}`);
  (on ? call.hold() : call.unhold()).catch((e) => out.line(`sip: ${on ? 'hold' : 'resume'} failed on call ${call.callId}: ${errorMessage(e)}`));
}

/**
 * ICE restart on every established call (RFC 8445 §9, by re-INVITE): on SIGUSR2, or the `r` key
 * when stdin is a terminal (then Ctrl-C still hangs up).
 */
function watchRestartRequests(phone: Phone, out: Progress): void {
  const restartAll = () => {
    const calls = phone.activeCalls.filter((c) => c.session.state === 'Established');
    if (calls.length === 0) out.line('ice: no established call to restart ICE on');
    for (const c of calls) {
      out.line(`ice: restarting ICE on call ${c.callId}`);
      c.restartIce().then(
        () => out.line(`ice: restart offer answered on call ${c.callId}`),
        (e) => out.line(`ice: restart failed on call ${c.callId}: ${errorMessage(e)}`),
      );
    }
  };
  process.on('SIGUSR2', restartAll);
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (d: Buffer) => {
      const key = d.toString();
      if (key === 'r') restartAll();
      else if (/^[0-9*#A-Da-d]$/.test(key)) {
        for (const c of phone.activeCalls.filter((x) => x.session.state === 'Established')) {
          c.sendDtmf(key).then(() => out.line(`dtmf: sent ${key}`), (e) => out.line(`dtmf: ${errorMessage(e)}`));
        }
      } else if (key === 'h') {
        // Hold toggles on every established call (RFC 3264 §8.4).
        for (const c of phone.activeCalls.filter((x) => x.session.state === 'Established')) toggleHold(c, out, !c.holdState.local);
      }
      else if (key === '\u0003') process.kill(process.pid, 'SIGINT');
    });
    process.stdin.unref();
  }
}

/**
 * Stops the phone on SIGINT/SIGTERM (hanging up calls), then runs `onStop`. With `drain` (the
 * answerer's `--drain`), SIGTERM first drains (Phone.drain(): new calls and OPTIONS get 503, the
 * calls in progress finish) and runs `onStop` once none is left; a second SIGTERM, or SIGINT, then
 * hangs up at once. A signal during the hang-up exits with 130.
 */
export function handleSignals(ctx: RunContext, onStop: () => void, options: { drain?: boolean } = {}): void {
  let stopping = false;
  let draining = false;
  const stop = (sig: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    ctx.out.line(`${sig}: hanging up`);
    void ctx.phone.stop().finally(onStop);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => {
    if (!options.drain || draining || stopping) return stop('SIGTERM');
    draining = true;
    ctx.out.line(`SIGTERM: draining (${ctx.phone.activeCalls.length} calls in progress; SIGTERM again to hang up)`);
    void ctx.phone.drain().then(() => {
      if (stopping) return;
      ctx.out.line('drained: no call in progress');
      onStop();
    });
  });
}
