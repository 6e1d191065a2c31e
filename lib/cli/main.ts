#!/usr/bin/env node
/**
 * icephone command line: `icephone call`, `icephone answer`, `icephone gateway`, `icephone sdp convert`.
 * Exit status: 0 success (a call with two-way media), 1 call/media failure, 2 bad usage
 * (one line on stderr saying why).
 */
import { UsageError, errorMessage } from '../base/errors.js';
import { escapeControls } from '../base/log.js';
import { installLastResortHandlers } from './last-resort.js';
import { runAnswer } from './answer.js';
import { runCall } from './call.js';
import { runGateway } from './gateway.js';
import { runSdp } from './sdp.js';

const USAGE = `usage: icephone <command> [options]
commands:
  call SIP-URI --listen HOST:PORT [options]   place a call (ICE, RTP) and hang up after --duration
  answer --listen HOST:PORT [options]         answer incoming calls
  gateway --listen HOST:PORT --pbx sip:HOST   PBX gateway: ICE softphones <-> plain-RTP PBX (B2BUA)
  sdp convert --to ice|alt|both               translate candidate formats (stdin to stdout)
run 'icephone <command> --help' for a command's options`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'call':
      return runCall(rest);
    case 'answer':
      return runAnswer(rest);
    case 'gateway':
      return runGateway(rest);
    case 'sdp':
      return runSdp(rest);
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case undefined:
      throw new UsageError('missing command (call, answer, gateway or sdp); see icephone --help');
    default:
      throw new UsageError(`unknown command '${command}' (call, answer, gateway or sdp)`);
  }
}

// Last line of defence: a bug reached by some input must not take a live call down with it.
// The error is reported with its stack and counted; protocol code already drops bad input itself.
installLastResortHandlers();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sockets and timers are closed by then; exit promptly even if a library left a handle.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`icephone: ${escapeControls(e.message)}\n`);
      process.exit(2);
    }
    process.stderr.write(`icephone: ${escapeControls(errorMessage(e).split('\n')[0] ?? '')}\n`);
    process.exit(1);
  },
);
