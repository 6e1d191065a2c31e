/**
 * sip.js 0.21.2 turns a header name into its stored form (`headerize`: `call-id` → `Call-ID`) on
 * every header read and write of a message: a lower-casing, a split, a string build and an
 * exceptions object per call. Under SIPp load that was 1.2% of the answerer's wall time (about 2.5%
 * of its busy CPU, issue 14). This replaces the header accessors of `IncomingMessage` and
 * `OutgoingRequestMessage` with the same methods reading the name through a memo of sip.js's own
 * `headerize`. Results are the same: the memo returns what `headerize` returned for that exact
 * string, and the methods do what sip.js's do (test/sip/header-names.test.ts compares them on the
 * SIP corpus). Bounded: names past the first 512 distinct spellings are computed each time.
 */
import { Core, Grammar } from 'sip.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';
import { boundedMemo } from '../../base/memo.js';

/** `headerize(name)` of sip.js, memoised (lib/base/memo.ts). */
export const headerName: (name: string) => string = boundedMemo((name) => headerize(name) as string, 512);

type Headers = Record<string, unknown[] | undefined>;
interface IncomingHeader { raw: string; parsed?: unknown }

/** The accessors as sip.js defines them, kept for the equivalence test. */
export const STOCK_HEADER_ACCESSORS = {
  incoming: {} as Record<string, (...args: unknown[]) => unknown>,
  outgoing: {} as Record<string, (...args: unknown[]) => unknown>,
};

let installed = false;

/** Installs the memoised accessors once per process (installSipJsAdapter calls it). */
export function installHeaderNameMemo(): void {
  if (installed) return;
  installed = true;
  const inProto = Core.IncomingMessage.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const outProto = Core.OutgoingRequestMessage.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const k of ['addHeader', 'getHeader', 'getHeaders', 'hasHeader', 'parseHeader', 'setHeader']) STOCK_HEADER_ACCESSORS.incoming[k] = inProto[k]!;
  for (const k of ['getHeader', 'getHeaders', 'hasHeader', 'setHeader']) STOCK_HEADER_ACCESSORS.outgoing[k] = outProto[k]!;

  Object.assign(inProto, {
    addHeader(this: { headers: Headers }, name: string, value: string): void {
      const key = headerName(name);
      const list = this.headers[key];
      if (list) list.push({ raw: value });
      else this.headers[key] = [{ raw: value }];
    },
    getHeader(this: { headers: Headers }, name: string): string | undefined {
      const list = this.headers[headerName(name)] as IncomingHeader[] | undefined;
      return list?.[0] ? list[0].raw : undefined;
    },
    getHeaders(this: { headers: Headers }, name: string): string[] {
      const list = this.headers[headerName(name)] as IncomingHeader[] | undefined;
      return list ? list.map((h) => h.raw) : [];
    },
    hasHeader(this: { headers: Headers }, name: string): boolean {
      return !!this.headers[headerName(name)];
    },
    parseHeader(this: { headers: Headers }, name: string, idx = 0): unknown {
      const key = headerName(name);
      const list = this.headers[key] as IncomingHeader[] | undefined;
      if (!list || idx >= list.length) return undefined;
      const header = list[idx]!;
      if (header.parsed) return header.parsed;
      // The grammar's rule names spell '-' as '_' (as sip.js does).
      const parsed = Grammar.parse(header.raw, key.replace(/-/g, '_'));
      if (parsed === -1) {
        list.splice(idx, 1); // sip.js drops a header its grammar refuses
        return undefined;
      }
      header.parsed = parsed;
      return parsed;
    },
    setHeader(this: { headers: Headers }, name: string, value: string): void {
      this.headers[headerName(name)] = [{ raw: value }];
    },
  });

  // Outgoing requests: the same, plus sip.js's fallback to the extra headers (raw "Name: value"
  // lines) for a name not set as a header; its pattern is built from the name as given.
  const extraMatching = (extra: string[], name: string): string[] => {
    const re = new RegExp(`^\\s*${name}\\s*:`, 'i');
    return extra.filter((line) => re.test(line)).map((line) => line.substring(line.indexOf(':') + 1).trim());
  };
  Object.assign(outProto, {
    getHeader(this: { headers: Headers; extraHeaders: string[] }, name: string): unknown {
      const list = this.headers[headerName(name)];
      if (list) return list[0] ? list[0] : undefined;
      return extraMatching(this.extraHeaders, name)[0];
    },
    getHeaders(this: { headers: Headers; extraHeaders: string[] }, name: string): unknown[] {
      const list = this.headers[headerName(name)];
      if (list) return [...list];
      return extraMatching(this.extraHeaders, name);
    },
    hasHeader(this: { headers: Headers; extraHeaders: string[] }, name: string): boolean {
      if (this.headers[headerName(name)]) return true;
      return extraMatching(this.extraHeaders, name).length > 0;
    },
    setHeader(this: { headers: Headers }, name: string, value: unknown): void {
      this.headers[headerName(name)] = Array.isArray(value) ? value : [value];
    },
  });
}
