/**
 * What an eavesdropper on the media path hears: the RTP-looking datagrams (PT 0) captured between
 * the two selected media sockets, their payloads (between the 12-byte header and the 10-byte
 * SRTP tag) decoded as if they were plain PCMU. With SRTP the tone must not be readable.
 */
import { expect } from 'chai';
import { decodePcmu } from '../../lib/rtp/g711.js';
import { readPcapFile } from './pcap.js';
import { toneLevel } from './tone.js';

/** Asserts > 100 SRTP packets in `pcap` between the two ports and no `hz` tone in the caller's, decoded as PCMU. */
export function assertToneUnreadableOnWire(pcap: string, callerPort: number, calleePort: number, hz = 440): void {
  const ports = new Set([callerPort, calleePort]);
  const media = readPcapFile(pcap).datagrams.filter((d) => ports.has(d.source.port) && ports.has(d.destination.port) && d.payload.length > 22 && d.payload[0]! >> 6 === 2 && (d.payload[1]! & 0x7f) === 0);
  expect(media.length, 'SRTP packets captured').to.be.greaterThan(100);
  const fromCaller = media.filter((d) => d.source.port === callerPort);
  const samples = Int16Array.from(fromCaller.flatMap((d) => [...decodePcmu(d.payload.subarray(12, d.payload.length - 10))]));
  expect(toneLevel(samples, 8000, hz), `the ${hz} Hz tone is not readable on the wire`).to.be.lessThan(0.05);
}
