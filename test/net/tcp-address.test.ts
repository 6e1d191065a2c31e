/** Issue 10 on the stream transports: connections are found by address, not by its spelling. */
import { expect } from 'chai';
import * as net from 'node:net';
import { TcpStreamEndpoint } from '../../lib/net/tcp-framing.js';
import { StreamPacketSocket } from '../../lib/net/tcp-stream.js';
import type { TransportAddress } from '../../lib/net/socket.js';

const SIP = (n: number) => Buffer.from(`OPTIONS sip:x@[::1] SIP/2.0\r\nCall-ID: ${n}\r\nContent-Length: 0\r\n\r\n`);

describe('net/tcp-framing and tcp-stream: canonical remote addresses', () => {
  it('a dual-stack SIP listener sees an IPv4 client as IPv4 and answers on the same connection, whatever the spelling', async () => {
    const endpoint = await TcpStreamEndpoint.listen('::', 0);
    const client = net.connect({ host: '127.0.0.1', port: endpoint.local.port });
    try {
      const received = new Promise<TransportAddress>((resolve) => endpoint.onMessage((_d, from) => resolve(from)));
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write(SIP(1));
      const from = await received;
      expect(from).to.deep.equal({ address: '127.0.0.1', port: client.localPort, family: 'IPv4' });
      expect(endpoint.hasConnection({ address: '::FFFF:127.0.0.1', port: from.port })).to.equal(true);
      const back = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
      await endpoint.send(SIP(2), { address: '::ffff:7f00:1', port: from.port });
      expect(await back).to.contain('Call-ID: 2');
      expect(endpoint.connectionCount).to.equal(1);
    } finally {
      client.destroy();
      await endpoint.close();
    }
  });

  it('a stream socket takes a frame addressed to another spelling of its remote end', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '::1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', resolve)));
    const socket = await StreamPacketSocket.connect({ remote: { address: '0:0:0:0:0:0:0:1', port } });
    try {
      expect(socket.remote.address).to.equal('::1');
      expect(socket.local.address).to.equal('::1');
      // A STUN Binding request header (20 bytes, no attributes) sent to the expanded spelling.
      const stun = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
      socket.send(stun, { address: '0000::0001', port });
      expect((await got).equals(stun)).to.equal(true);
    } finally {
      await socket.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
