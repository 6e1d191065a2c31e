/**
 * Registration events (RFC 3261 §10) of the library's Phone against a scripted registrar on
 * loopback: the first REGISTER's 200 is `registered` (and `phone.registered`), the refresh sip.js
 * sends before expiry is `refreshed`, a refused refresh is `failed` with the status, and
 * `unregister()` sends Expires: 0 and emits `unregistered`.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Phone } from '../../lib/sip/user-agent.js';

/** Answers REGISTERs in turn with the given status codes (200 carries the Contact back, expires 2 s). */
async function scriptedRegistrar(codes: number[]): Promise<{ socket: Socket; port: number; requests: string[] }> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const requests: string[] = [];
  socket.on('message', (data, rinfo) => {
    const text = data.toString('utf8');
    if (!text.startsWith('REGISTER ')) return;
    requests.push(text);
    const code = codes.shift() ?? 200;
    const header = (name: string) => text.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const contact = header('Contact')[0]?.replace(/^Contact:\s*/i, '') ?? '';
    const expiresZero = /expires=0|^Expires:\s*0/im.test(text);
    const lines = [
      `SIP/2.0 ${code} ${code === 200 ? 'OK' : 'Forbidden'}`,
      ...header('Via'), ...header('From'), `${header('To')[0]};tag=reg1`, ...header('Call-ID'), ...header('CSeq'),
      ...(code === 200 && !expiresZero ? [`Contact: ${contact.replace(/;expires=\d+/, '')};expires=2`] : []),
      'Content-Length: 0', '', '',
    ];
    socket.send(lines.join('\r\n'), rinfo.port, rinfo.address);
  });
  return { socket, port: (socket.address() as { port: number }).port, requests };
}

describe('Phone registration events', function () {
  this.timeout(20000);

  it('registered, refreshed before expiry, failed on a refused refresh, with the status', async () => {
    const reg = await scriptedRegistrar([200, 200, 403]);
    const phone = await Phone.start({
      listen: { address: '127.0.0.1', port: 0 }, register: 'sip:dave@icephone.test', registrar: `sip:127.0.0.1:${reg.port}`,
      registerExpires: 2, registerRefreshPercent: 50, media: { addresses: ['127.0.0.1'] },
    });
    const events: string[] = [];
    phone.on('registration', (state, detail) => events.push(`${state} ${detail.split(' ')[0]}`));
    try {
      expect(phone.registered).to.equal(true);
      const deadline = Date.now() + 8000;
      while (!events.some((e) => e.startsWith('failed')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(events).to.deep.equal(['refreshed 200', 'failed 403']);
      expect(reg.requests.length).to.equal(3);
    } finally {
      await phone.stop();
      reg.socket.close();
    }
  });

  it('unregister() removes the binding (Expires: 0) and emits unregistered', async () => {
    const reg = await scriptedRegistrar([200, 200]);
    const phone = await Phone.start({
      listen: { address: '127.0.0.1', port: 0 }, register: 'sip:erin@icephone.test', registrar: `sip:127.0.0.1:${reg.port}`,
      registerExpires: 60, media: { addresses: ['127.0.0.1'] },
    });
    const events: string[] = [];
    phone.on('registration', (state) => events.push(state));
    try {
      await phone.unregister();
      expect(events).to.deep.equal(['unregistered']);
      expect(phone.registered).to.equal(false);
      expect(reg.requests[1]).to.match(/^Contact:.*expires=0|^Expires:\s*0/im);
    } finally {
      await phone.stop();
      reg.socket.close();
    }
  });
});
