// A gateway-style use of icephone with nothing but the package's exports: answer every call and play
// the caller's own audio back to it through the per-call frame API (a FrameQueue is the call's audio
// sink and its source). Run: node echo-gateway.mjs HOST PORT [MAX_CALLS]
import { FrameQueue, Phone } from 'icephone';

const [host = '127.0.0.1', port = '5080', maxCalls = '1'] = process.argv.slice(2);
const phone = await Phone.start({ listen: { address: host, port: Number(port) }, media: { addresses: [host] } });
console.log(`echo-gateway: listening on ${host}:${phone.port}`);
let left = Number(maxCalls);

phone.on('incoming', (call) => {
  console.log(`echo-gateway: call from ${call.remote.uri} (${call.remote.displayName ?? 'no display name'})`);
  // 16-bit, 8 kHz mono frames: what the caller says is what it hears, about 20 ms later.
  const echo = new FrameQueue(8000);
  void phone.answer(call, { media: { sink: echo, source: echo } });
  call.on('ended', async (summary) => {
    console.log(JSON.stringify(summary));
    if (--left <= 0) {
      await phone.stop();
      process.exit(0);
    }
  });
});
