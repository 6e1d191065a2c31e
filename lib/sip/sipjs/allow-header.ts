/**
 * An honest `Allow` header per user agent (RFC 3261 §20.5: "The Allow header field lists the set
 * of methods supported by the UA generating the message"; §13.3.1.4 and §11.2 put it in INVITE 2xx
 * and OPTIONS 200 answers, §8.2.1 in 405).
 *
 * sip.js 0.21.2 writes `Allow: ` + its module-level `AllowedMethods` (ACK, BYE, CANCEL, INFO, INVITE,
 * MESSAGE, NOTIFY, OPTIONS, PRACK, REFER, REGISTER, SUBSCRIBE) in its INVITEs, re-INVITEs, INVITE 2xx,
 * OPTIONS 200 and 405 responses. icephone answers neither REGISTER nor SUBSCRIBE (405), refuses
 * MESSAGE (405, user-agent.ts) and does answer UPDATE (./update.ts), which that list lacks. Changing
 * the shared array would change every other sip.js UserAgent in the process, so instead the Phone
 * wraps its own transport's `send` (`installAllowRewrite`) and every outgoing message's Allow is
 * rewritten to `ANSWERED_METHODS` there, before the transport parses, traces and sends it.
 */

/**
 * The methods a Phone answers as a UAS: INVITE/ACK/CANCEL/BYE (sip.js's INVITE dialogs), OPTIONS
 * (sip.js's core, 200), UPDATE (RFC 3311, ./update.ts), PRACK (RFC 3262, for the reliable
 * provisionals we send: ./reliable-provisional.ts), INFO (DTMF relay, ../../sip/user-agent.ts),
 * REFER (RFC 3515, 202 or 603) and NOTIFY (the REFER subscription's progress, RFC 3515 §2.4.4).
 */
export const ANSWERED_METHODS: readonly string[] = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'UPDATE', 'PRACK', 'INFO', 'REFER', 'NOTIFY'];

/** The header line `Allow: INVITE, ACK, …` for `methods`. */
export function allowHeaderLine(methods: readonly string[] = ANSWERED_METHODS): string {
  return `Allow: ${methods.join(', ')}`;
}

/**
 * Replaces every `Allow` header line in the header section of the SIP message text `message`
 * (RFC 3261 §7: the header section ends at the first empty line; the body is untouched, so
 * Content-Length stays right) with `allowHeaderLine(methods)`. A message without Allow is
 * returned unchanged; several Allow lines become one.
 */
export function rewriteAllow(message: string, methods: readonly string[] = ANSWERED_METHODS): string {
  const end = message.indexOf('\r\n\r\n');
  if (end < 0) return message;
  const head = message.slice(0, end).split('\r\n');
  let seen = false;
  const out: string[] = [];
  for (const line of head) {
    if (/^allow[ \t]*:/i.test(line)) {
      if (!seen) out.push(allowHeaderLine(methods));
      seen = true;
      continue;
    }
    // RFC 3261 §7.3.1 folding: a continuation of an Allow line we dropped goes with it.
    if (seen && out[out.length - 1] === allowHeaderLine(methods) && /^[ \t]/.test(line)) continue;
    out.push(line);
  }
  if (!seen) return message;
  return out.join('\r\n') + message.slice(end);
}

/** The part of a sip.js Transport this needs. */
interface Sender {
  send(message: string): Promise<void>;
}

const rewritten = new WeakSet<Sender>();

/**
 * Wraps `transport.send` so each outgoing message carries `Allow: ANSWERED_METHODS` (once per
 * transport instance; this user agent only, nothing process-wide).
 */
export function installAllowRewrite(transport: Sender, methods: readonly string[] = ANSWERED_METHODS): void {
  if (rewritten.has(transport)) return;
  rewritten.add(transport);
  const send = transport.send.bind(transport);
  transport.send = (message: string) => send(rewriteAllow(message, methods));
}
