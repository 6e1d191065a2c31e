import * as net from 'node:net';
import { systemClock, type Clock } from '../base/clock.js';
import { TimeoutError } from '../base/errors.js';
import { formatAddress } from './socket.js';

/**
 * An HTTP CONNECT tunnel (RFC 9110 §9.3.6) through a web proxy, the way browsers reach TURN
 * over TCP/TLS from networks that only let a proxy out. The proxy answers `200` and from then on
 * relays bytes both ways; TLS, when wanted, is started over the returned socket.
 */

export interface HttpProxy {
  host: string;
  port: number;
}

/** The proxy refused or broke the tunnel. `status` is the HTTP status code when there was one. */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

const MAX_RESPONSE_HEAD = 16 * 1024;

/**
 * Opens a TCP connection to `proxy`, asks it to `CONNECT target`, and resolves with the socket
 * once the proxy answers 2xx. The socket is returned paused: attach a 'data' listener, then call
 * `resume()`. Bytes the proxy already relayed after its response head are pushed back onto the
 * socket (unshift), so nothing is lost.
 * @throws ProxyError (connection refused, non-2xx status, malformed answer, closed early) or
 *   TimeoutError after `timeoutMs` (default 10 s, timed on `clock`); both name the proxy and the target.
 */
export function httpConnect(proxy: HttpProxy, target: { address: string; port: number }, timeoutMs = 10_000, clock: Clock = systemClock): Promise<net.Socket> {
  const where = `HTTP proxy ${formatAddress({ address: proxy.host, port: proxy.port })} (CONNECT ${formatAddress(target)})`;
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: proxy.host, port: proxy.port });
    let head = Buffer.alloc(0);
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clock.clearTimer(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        // Paused: the caller attaches its own 'data' listener and calls resume().
        socket.pause();
        resolve(socket);
      }
    };
    const timer = clock.setTimer(timeoutMs, () => finish(new TimeoutError(`${where}: no answer within ${timeoutMs} ms`, timeoutMs)));
    const onError = (e: Error): void => finish(new ProxyError(`${where}: ${e.message}`));
    const onClose = (): void => finish(new ProxyError(`${where}: proxy closed the connection before answering`));
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD) finish(new ProxyError(`${where}: response head exceeds ${MAX_RESPONSE_HEAD} bytes`));
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) {
        finish(new ProxyError(`${where}: malformed status line '${statusLine.slice(0, 60)}'`));
        return;
      }
      const status = Number(m[1]);
      if (status < 200 || status > 299) {
        finish(new ProxyError(`${where}: proxy answered ${status}${m[2] ? ` ${m[2]}` : ''}`, status));
        return;
      }
      const rest = head.subarray(end + 4);
      finish();
      if (rest.length > 0) socket.unshift(rest);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      const authority = formatAddress(target);
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: icephone\r\n\r\n`);
    });
  });
}
