/**
 * Registration through the gateway (issue 12): an endpoint's REGISTER, received on the endpoint
 * side, becomes the gateway's own REGISTER at the PBX, and the PBX's final response goes back.
 *
 * - AOR: `sip:USER@anything` at the gateway is `sip:USER@PBX-DOMAIN` at the PBX (To and From).
 * - Contact: the gateway's own, one per endpoint binding, `sip:USER-TOKEN@PBX-SIDE-HOST:PORT`
 *   (./registration-relay.ts), so a request from the PBX names the binding by its Request-URI.
 *   Call-ID and From tag are the binding's, CSeq goes up by one per REGISTER (RFC 3261 §10.2.4).
 * - Digest (RFC 3261 §22.4): the PBX's 401/407 goes back to the endpoint with its
 *   WWW-Authenticate/Proxy-Authenticate unchanged; the endpoint's Authorization/Proxy-Authorization
 *   is relayed unchanged. The digest covers the method and the `uri` parameter, which the endpoint
 *   sets to the Request-URI it sent (RFC 2617 §3.2.2.5 digest-uri), so the gateway sends the PBX
 *   REGISTER with **that same Request-URI**, verbatim, and reaches the PBX with a Route
 *   `<PBX;lr>` (RFC 3261 §8.1.2) whatever host it names. Endpoints should therefore register with
 *   the PBX domain as the registrar (`--register sip:USER@PBX-DOMAIN --registrar sip:PBX-DOMAIN
 *   --outbound-proxy sip:GATEWAY`); a Request-URI naming the gateway also works with registrars
 *   that, like kamailio, bind the To AOR whatever the Request-URI says.
 * - Expires: the endpoint's (Contact `expires` parameter or Expires header) is asked for; the
 *   lifetime the PBX grants our Contact comes back in the 200, on the endpoint's own Contact.
 *   Expires 0 removes the binding at the PBX and, once the PBX says 2xx, at the gateway.
 * - Other final responses go back with their status, reason and Min-Expires (423), Retry-After and
 *   Warning. When the PBX does not answer (sip.js's internal 408 after timer F) the endpoint gets
 *   504 Server Time-out: as a B2BUA the gateway is the UAS that "did not receive a timely response
 *   from an external server" (RFC 3261 §21.5.5); a proxy would send 408 (§16.7), but the
 *   endpoint's REGISTER did not itself time out. A transport error toward the PBX gives 503.
 * Not relayed: several Contacts in one REGISTER (400), `Contact: *` (501; sip.js 0.21.2's parser
 * drops such a REGISTER before it reaches us, so today it gets no answer); a REGISTER without
 * Contact (a query) is answered by the gateway from its own bindings.
 */
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { IncomingRegister, Phone, RelayedRegisterResponse } from '../sip/user-agent.js';
import { splitHeaderValues } from '../sip/wire-message.js';
import type { Binding, RegistrationRelay } from './registration-relay.js';

/** Headers of a PBX's final non-2xx answer passed back to the endpoint. */
const PASSED_BACK = ['www-authenticate', 'proxy-authenticate', 'min-expires', 'retry-after', 'warning'];

export interface RegisterForwarderOptions {
  relay: RegistrationRelay;
  /** The gateway's PBX-side phone (sends the REGISTERs). */
  pbxPhone: Phone;
  /** `HOST[:PORT]` of the PBX (the Route). */
  pbxHostPort: string;
  /** Domain of the AORs at the PBX. */
  pbxDomain: string;
  /** host:port of the gateway's PBX-side SIP socket (our Contacts). */
  gatewayContactHostPort: () => string;
  log: Logger;
}

/** A Contact value's URI and its `expires` header parameter (RFC 3261 §20.10). */
export function parseContact(value: string): { uri: string; expires?: number } | undefined {
  const v = value.trim();
  let uri: string;
  let params: string;
  const lt = v.indexOf('<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return undefined;
    uri = v.slice(lt + 1, gt).trim();
    params = v.slice(gt + 1);
  } else {
    const semi = v.indexOf(';');
    uri = (semi >= 0 ? v.slice(0, semi) : v).trim();
    params = semi >= 0 ? v.slice(semi) : '';
  }
  if (!/^sips?:[^\s]+$/i.test(uri)) return undefined;
  const e = /;\s*expires\s*=\s*(\d{1,10})/i.exec(params);
  return { uri, ...(e ? { expires: Number(e[1]) } : {}) };
}

function headerNumber(values: string[]): number | undefined {
  const v = values[0]?.trim();
  return v && /^\d{1,10}$/.test(v) ? Number(v) : undefined;
}

function userOf(uri: string): string | undefined {
  return /^sips?:([^@;:]+)(?::[^@]*)?@/i.exec(uri)?.[1];
}

export class RegisterForwarder {
  /** REGISTERs answered without reaching the PBX because they were malformed or not relayable. */
  refused = 0;

  constructor(private readonly o: RegisterForwarderOptions) {}

  /** Handles one endpoint REGISTER (answers it exactly once). */
  handle(req: IncomingRegister): void {
    void this.forward(req).catch((e) => {
      this.o.log.warn(`REGISTER ${req.callId}: ${errorMessage(e)}`);
      req.respond(500, 'Server Internal Error', []);
    });
  }

  private refuse(req: IncomingRegister, status: number, reason: string): void {
    this.refused++;
    req.respond(status, reason, []);
  }

  private async forward(req: IncomingRegister): Promise<void> {
    const user = req.aor.user;
    if (!user || !/^[A-Za-z0-9._~!$&'()*+=%-]+$/.test(user)) return this.refuse(req, 404, 'Not Found');
    const contactValues = req.headers('contact').flatMap(splitHeaderValues);
    const expiresHeader = headerNumber(req.headers('expires'));
    if (contactValues.length === 0) return this.answerQuery(req, user);
    if (contactValues.some((c) => c === '*')) return this.refuse(req, 501, 'Contact * Not Relayed');
    if (contactValues.length > 1) return this.refuse(req, 400, 'One Contact Per REGISTER');
    const contact = parseContact(contactValues[0]!);
    if (!contact) return this.refuse(req, 400, 'Bad Contact');
    const expires = contact.expires ?? expiresHeader;
    const { relay } = this.o;
    const existing = relay.find(user, contact.uri);
    if (expires === 0 && !existing) {
      // Nothing to remove here, nor at the PBX under our Contact (RFC 3261 §10.3 step 6).
      req.respond(200, 'OK', []);
      return;
    }
    const binding = relay.prepare(user, contact.uri, req.source);
    if (!binding) {
      req.respond(503, 'Service Unavailable', ['Retry-After: 30']);
      return;
    }
    const ours = `<sip:${binding.gatewayUser}@${this.o.gatewayContactHostPort()}>`;
    const headers = [
      `Contact: ${ours}${expires !== undefined ? `;expires=${expires}` : ''}`,
      ...(expires !== undefined ? [`Expires: ${expires}`] : []),
      ...req.headers('authorization').map((v) => `Authorization: ${v}`),
      ...req.headers('proxy-authorization').map((v) => `Proxy-Authorization: ${v}`),
    ];
    let response: RelayedRegisterResponse;
    try {
      response = await this.o.pbxPhone.sendRegister({
        requestUri: req.requestUri,
        aor: `sip:${user}@${this.o.pbxDomain}`,
        callId: binding.callId,
        cseq: relay.nextCseq(binding),
        fromTag: binding.fromTag,
        routeSet: [`<sip:${this.o.pbxHostPort};lr>`],
        headers,
      });
    } catch (e) {
      relay.refused(binding);
      this.o.log.warn(`REGISTER for ${user} not relayed: ${errorMessage(e)}`);
      this.refuse(req, 400, 'Bad Request');
      return;
    }
    this.answer(req, binding, expires, response);
  }

  private answer(req: IncomingRegister, binding: Binding, asked: number | undefined, r: RelayedRegisterResponse): void {
    const { relay } = this.o;
    if (r.statusCode >= 200 && r.statusCode < 300) {
      const mine = r.headers('contact').flatMap(splitHeaderValues).map(parseContact).find((c) => c && userOf(c.uri) === binding.gatewayUser);
      const granted = mine?.expires ?? headerNumber(r.headers('expires')) ?? (mine ? asked : 0) ?? 0;
      if (asked === 0 || granted === 0) {
        relay.remove(binding);
        req.respond(200, 'OK', []);
        return;
      }
      relay.confirm(binding, granted);
      req.respond(200, r.reasonPhrase || 'OK', [`Contact: <${binding.endpointContact}>;expires=${granted}`, `Expires: ${granted}`]);
      return;
    }
    if (r.statusCode === 401 || r.statusCode === 407) {
      // The challenge is the endpoint's to answer; the binding stays as it is (pending ones lapse).
      req.respond(r.statusCode, r.reasonPhrase, this.passedBack(r));
      return;
    }
    relay.refused(binding);
    if (r.statusCode === 408) {
      req.respond(504, 'Server Time-out', []);
      return;
    }
    const status = r.statusCode >= 300 && r.statusCode < 700 ? r.statusCode : 502;
    req.respond(status, r.reasonPhrase || 'Refused', this.passedBack(r));
  }

  private passedBack(r: RelayedRegisterResponse): string[] {
    return PASSED_BACK.flatMap((name) => r.headers(name).map((v) => `${name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()).replace('Www', 'WWW')}: ${v}`));
  }

  /** RFC 3261 §10.2.3: a REGISTER without Contact asks for the current bindings of the AOR. */
  private answerQuery(req: IncomingRegister, user: string): void {
    const contacts = this.o.relay.bindings
      .filter((b) => b.user === user && b.state === 'registered')
      .map((b) => `Contact: <${b.endpointContact}>;expires=${this.o.relay.remainingSec(b)}`);
    req.respond(200, 'OK', contacts);
  }
}
