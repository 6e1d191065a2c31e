/**
 * Media ports from a configured range (`--rtp-ports MIN-MAX`, issue 14): several instances on one
 * host, or a firewall that opens only a range, need each instance's RTP/RTCP sockets inside it.
 */
import { randomInt } from 'node:crypto';
import { silentLogger, type Logger } from '../base/log.js';
import type { PacketSocket } from './socket.js';
import { UdpSocket } from './udp.js';

/** An inclusive UDP port range. */
export interface PortRange {
  min: number;
  max: number;
}

/**
 * Parses `MIN-MAX` (1024 <= MIN <= MAX <= 65535).
 * @throws RangeError with a one-line reason for anything else.
 */
export function parsePortRange(text: string): PortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (!m) throw new RangeError(`expected MIN-MAX (e.g. 20000-20999), got '${text}'`);
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (min < 1024 || max > 65535 || min > max) throw new RangeError(`expected 1024 <= MIN <= MAX <= 65535, got '${text}'`);
  return { min, max };
}

/** Errors that mean "this port is taken, try the next one". */
function portTaken(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'EADDRINUSE' || code === 'EACCES';
}

/**
 * A socket factory (the `bindSocket` of MediaOptions / IceAgentOptions) binding UDP sockets on
 * ports of `range`: it starts at a random port of the range (so two calls do not race for the same
 * one) and walks the range upwards, wrapping, skipping ports in use.
 * @param bind the underlying bind (default UdpSocket.bind); tests inject one.
 * The returned factory rejects with an Error naming the range when every port of it is in use.
 */
export function portRangeBinder(
  range: PortRange,
  log: Logger = silentLogger,
  bind: (address: string, port: number) => Promise<PacketSocket> = (address, port) => UdpSocket.bind(address, port, log),
): (address: string) => Promise<PacketSocket> {
  const size = range.max - range.min + 1;
  return async (address: string) => {
    const start = randomInt(size);
    for (let i = 0; i < size; i++) {
      const port = range.min + ((start + i) % size);
      try {
        return await bind(address, port);
      } catch (e) {
        if (!portTaken(e)) throw e;
      }
    }
    throw new Error(`no free UDP port on ${address} in ${range.min}-${range.max}`);
  };
}
