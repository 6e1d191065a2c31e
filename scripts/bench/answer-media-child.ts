/**
 * Child of answer-media.ts: places CALLS sequential calls from a library Phone bound to LISTEN_IP
 * to TARGET (or, with TARGET=self, to a second Phone in this process) and prints one JSON line per
 * call: {answerAt, callerRxAt, calleeRxAt?} in Date.now() milliseconds (the parent compares them
 * with its own clock readings of baresip's output, same host clock).
 * Run inside a network namespace with `ip netns exec NS node --import tsx answer-media-child.ts`.
 */
import { Phone, type Call } from '../../lib/sip/user-agent.js';

const [listenIp = '127.0.0.1', target = 'self', callsArg = '20', holdArg = '1500'] = process.argv.slice(2);
const calls = Number(callsArg);
const holdMs = Number(holdArg);
const media = { addresses: [listenIp], includeLoopback: listenIp.startsWith('127.'), play: 'tone:440' };

const caller = await Phone.start({ listen: { address: listenIp, port: 0 }, media });
let callee: Phone | undefined;
let calleeRx: number | undefined;
if (target === 'self') {
  callee = await Phone.start({ listen: { address: listenIp, port: 0 }, media });
  callee.on('media-created', (_call, m) => m.on('media-received', () => { calleeRx = Date.now(); }));
  callee.on('incoming', (c) => void callee!.answer(c));
}
const uri = target === 'self' ? `sip:bench@${listenIp}:${callee!.port}` : target;
for (let i = 0; i < calls; i++) {
  calleeRx = undefined;
  let answerAt: number | undefined;
  let rxAt: number | undefined;
  caller.once('media-created', (_c, m) => m.on('media-received', () => { rxAt = Date.now(); }));
  const call: Call = caller.call(uri);
  call.on('established', () => { answerAt = Date.now(); });
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline && (answerAt === undefined || rxAt === undefined || (callee && calleeRx === undefined))) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, holdMs));
  await call.hangup();
  await Promise.race([call.finished, new Promise((r) => setTimeout(r, 3000))]);
  process.stdout.write(JSON.stringify({ answerAt, callerRxAt: rxAt, calleeRxAt: calleeRx }) + '\n');
  await new Promise((r) => setTimeout(r, 300));
}
await caller.stop();
await callee?.stop();
process.exit(0);
