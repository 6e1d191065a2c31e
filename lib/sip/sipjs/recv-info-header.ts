/**
 * `Recv-Info` on what a Phone sends (RFC 6086 §5.2.2, §5.2.3): the Info Packages it is willing to
 * receive INFO requests for, in the INVITE (initial and re-INVITE) and in the 18x and 2xx responses
 * to an INVITE, so the peer knows before it sends one (RFC 8840 §5: `Recv-Info: trickle-ice`).
 * sip.js 0.21.2 writes no Recv-Info; like ./allow-header.ts, the Phone wraps its own transport's
 * `send` and adds the header to the message text there (this user agent only, nothing process-wide).
 * A message that already has Recv-Info is left as it is.
 *
 * The same messages also get the option tags given (RFC 8840 §4.1 and §10: a trickle ICE UA puts
 * `trickle-ice` in `Supported`): appended to the message's Supported header (full or compact `k`
 * form), or a new `Supported:` line when there is none.
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

/**
 * Adds `tags` to the Supported header of an INVITE or of an 18x/2xx to one (a new `Supported:` line
 * when it has none); tags already listed are not repeated. The body is untouched; other messages
 * are returned unchanged.
 */
export function addSupportedOptionTags(message: string, tags: readonly string[]): string {
  const end = message.indexOf('\r\n\r\n');
  if (end < 0 || tags.length === 0) return message;
  const head = message.slice(0, end).split('\r\n');
  if (!wantsRecvInfo(head)) return message;
  const isSupported = (l: string) => /^(supported|k)[ \t]*:/i.test(l);
  const listed = new Set(head.filter(isSupported).flatMap((l) => l.slice(l.indexOf(':') + 1).split(',').map((t) => t.trim().toLowerCase())));
  const missing = tags.filter((t) => !listed.has(t.toLowerCase()));
  if (missing.length === 0) return message;
  const i = head.findIndex(isSupported);
  if (i < 0) head.push(`Supported: ${missing.join(', ')}`);
  else {
    const current = head[i]!.slice(head[i]!.indexOf(':') + 1).trim();
    head[i] = `${head[i]!.slice(0, head[i]!.indexOf(':') + 1)} ${current ? `${current}, ` : ''}${missing.join(', ')}`;
  }
  return head.join('\r\n') + message.slice(end);
}

interface Sender {
  send(message: string): Promise<void>;
}

const wrapped = new WeakSet<Sender>();

/**
 * Wraps `transport.send` so INVITEs and their 18x/2xx carry `Recv-Info: packages` and the option
 * tags `optionTags` in Supported (once per transport).
 */
export function installRecvInfo(transport: Sender, packages: readonly string[], optionTags: readonly string[] = []): void {
  if (wrapped.has(transport)) return;
  wrapped.add(transport);
  const send = transport.send.bind(transport);
  transport.send = (message: string) => send(addSupportedOptionTags(addRecvInfo(message, packages), optionTags));
}
