/**
 * `Recv-Info` on what a Phone sends (RFC 6086 §5.2.2, §5.2.3): the Info Packages it is willing to
 * receive INFO requests for, in the INVITE (initial and re-INVITE) and in the 18x and 2xx responses
 * to an INVITE, so the peer knows before it sends one (RFC 8840 §5: `Recv-Info: trickle-ice`).
 * sip.js 0.21.2 writes no Recv-Info; like ./allow-header.ts, the Phone wraps its own transport's
 * `send` and adds the header to the message text there (this user agent only, nothing process-wide).
 * A message that already has Recv-Info is left as it is.
 */

/** The header line `Recv-Info: a, b` (an empty list is `Recv-Info: `, RFC 6086 §7.2.3 "nil"). */
export function recvInfoHeaderLine(packages: readonly string[]): string {
  return `Recv-Info: ${packages.join(', ')}`;
}

/** Whether `message` is an INVITE request, or a 18x/2xx response to an INVITE (CSeq method INVITE). */
function wantsRecvInfo(head: string[]): boolean {
  const start = head[0] ?? '';
  if (/^INVITE /.test(start)) return true;
  const status = /^SIP\/2\.0 (\d{3}) /.exec(start);
  if (!status) return false;
  const code = Number(status[1]);
  if (!((code >= 180 && code < 190) || (code >= 200 && code < 300))) return false;
  const cseq = head.find((l) => /^cseq[ \t]*:/i.test(l));
  return cseq !== undefined && /\bINVITE\s*$/i.test(cseq);
}

/**
 * Adds `Recv-Info: packages` to the header section of an INVITE or of an 18x/2xx to one, unless it
 * has a Recv-Info already. The body is untouched (Content-Length stays right). Other messages are
 * returned unchanged.
 */
export function addRecvInfo(message: string, packages: readonly string[]): string {
  const end = message.indexOf('\r\n\r\n');
  if (end < 0) return message;
  const head = message.slice(0, end).split('\r\n');
  if (!wantsRecvInfo(head)) return message;
  if (head.some((l) => /^recv-info[ \t]*:/i.test(l))) return message;
  return [...head, recvInfoHeaderLine(packages)].join('\r\n') + message.slice(end);
}

interface Sender {
  send(message: string): Promise<void>;
}

const wrapped = new WeakSet<Sender>();

/** Wraps `transport.send` so INVITEs and their 18x/2xx carry `Recv-Info: packages` (once per transport). */
export function installRecvInfo(transport: Sender, packages: readonly string[]): void {
  if (wrapped.has(transport)) return;
  wrapped.add(transport);
  const send = transport.send.bind(transport);
  transport.send = (message: string) => send(addRecvInfo(message, packages));
}
