/**
 * Honest identity (RFC 3261 §20.41): requests and responses name icephone and its version, not
 * sip.js; the application can choose the string.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Phone } from '../../lib/sip/user-agent.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function optionsResponse(userAgent?: string): Promise<string> {
  const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'] }, ...(userAgent ? { userAgent } : {}) });
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  try {
    const req = [
      `OPTIONS sip:icephone@127.0.0.1:${phone.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKid${Date.now()}`, 'Max-Forwards: 70',
      `From: <sip:probe@127.0.0.1:${port}>;tag=p1`, `To: <sip:icephone@127.0.0.1:${phone.port}>`, `Call-ID: id-${Date.now()}@127.0.0.1`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
    ].join('\r\n');
    const reply = once(s, 'message');
    s.send(req, phone.port, '127.0.0.1');
    const [data] = (await reply) as [Buffer];
    return data.toString('utf8');
  } finally {
    s.close();
    await phone.stop();
  }
}

describe('SIP identity', function () {
  this.timeout(10000);
  it(`answers with User-Agent: icephone/${version}, not SIP.js`, async () => {
    const res = await optionsResponse();
    expect(res).to.match(/^SIP\/2\.0 200/);
    expect(res).to.match(new RegExp(`^User-Agent: icephone/${version.replace(/\./g, '\\.')}\\r?$`, 'm'));
    expect(res).to.not.match(/SIP\.js/);
  });
  it('uses the string the application gives', async () => {
    expect(await optionsResponse('pbx-gateway/2')).to.match(/^User-Agent: pbx-gateway\/2\r?$/m);
  });
});
