/**
 * fast-check generators of SDP text: `a=candidate` (RFC 8839 §5.1), `a=remote-candidates` (§5.2),
 * `a=alt` (draft-rosenberg-sipping-ice-01 §7), `a=curr/des/conf` (RFC 3312 §5), direction
 * attributes (RFC 4566 §6), and whole descriptions made of them. Each field is mostly valid with
 * some junk (so lines get past the early fields and fail, or not, late), white space mostly one SP.
 */
import fc from 'fast-check';

/** Values that break number and address parsing. */
const BOUNDARY = [
  '', '0', '-1', '+1', '1.5', '00', '0x10', '1e3', '65535', '65536', '99999', '256', '257', '2147483647', '2147483648', '4294967295',
  '4294967296', '99999999999', '9'.repeat(30), 'NaN', 'Infinity', ':', '::', '[::1]', '1.2.3.4.5', '256.0.0.1', '1.2.3', '.', '..', '-',
  'a'.repeat(64), 'a'.repeat(300), '\u00a0', '\ufeff', '\u2028', '\u{1f600}', '%', '\\', '"', '\0', '\x7f',
];

const junk: fc.Arbitrary<string> = fc.oneof(fc.constantFrom(...BOUNDARY), fc.string({ maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 6 }));

/** Mostly `valid`, sometimes junk. */
function mostly(valid: fc.Arbitrary<string>, junkWeight = 1): fc.Arbitrary<string> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: junkWeight, arbitrary: junk });
}

const int = (min: number, max: number) => fc.integer({ min, max }).map(String);
export const token = fc.stringMatching(/^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,12}$/);
const iceChars = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9+/]{${min},${max}}$`));
export const address = fc.oneof(
  { weight: 4, arbitrary: fc.ipV4() },
  { weight: 3, arbitrary: fc.ipV6() },
  { weight: 2, arbitrary: fc.domain() },
  { weight: 1, arbitrary: fc.ipV4Extended() },
  { weight: 2, arbitrary: fc.constantFrom('0.0.0.0', '::', '::1', '::ffff:192.0.2.1', '192.0.2.1', '2001:db8::1', 'c1fe3b2e-2e7a-4c2b-b5bc-1a2b3c4d5e6f.local', 'fe80::1%eth0', 'localhost') },
);
const port = mostly(fc.oneof(int(0, 65535), fc.constantFrom('0', '9', '1', '65535')));
const eol = fc.oneof({ weight: 10, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '') });

/** Joins fields with one SP (mostly) or another run of white space. */
function fields(parts: fc.Arbitrary<string>[]): fc.Arbitrary<string> {
  const sep = fc.oneof({ weight: 30, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: fc.constantFrom('  ', '\t', ' \t', '') });
  return fc.tuple(fc.tuple(...parts), fc.array(sep, { minLength: parts.length, maxLength: parts.length })).map(([ps, seps]) =>
    ps.filter((p) => p !== undefined).map((p, i) => (i === 0 ? p : `${seps[i]}${p}`)).join(''));
}

const optional = (a: fc.Arbitrary<string>, p = 0.3): fc.Arbitrary<string> => fc.oneof({ weight: Math.round(p * 10), arbitrary: a }, { weight: Math.round((1 - p) * 10), arbitrary: fc.constant('') });

// ------------------------------------------------------------------------------------- a=candidate

const candidateExtension = fc.oneof(
  fields([fc.constant('raddr'), mostly(address)]),
  fields([fc.constant('rport'), port]),
  fields([fc.constant('tcptype'), mostly(fc.constantFrom('active', 'passive', 'so'))]),
  fields([fc.constantFrom('generation', 'network-id', 'network-cost', 'ufrag', 'alt-id', 'alt-q', 'alt-username', 'alt-password', 'alt-derived-from', 'alt-rtcp'), mostly(fc.oneof(int(0, 10), iceChars(1, 8), fc.constantFrom('0.8', '1.0', 'implied')))]),
  fields([mostly(token), mostly(fc.string({ minLength: 1, maxLength: 8 }))]),
);

/** `a=candidate:…` with each field mostly valid (RFC 8839 §5.1 grammar). */
export const candidateLine: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom('a=candidate:', 'candidate:', 'a=candidate:', 'a=CANDIDATE:', ''),
  fields([
    mostly(iceChars(1, 32)),
    mostly(int(1, 256)),
    mostly(fc.mixedCase(fc.constantFrom('udp', 'tcp', 'sctp', 'tls'))),
    mostly(fc.oneof(int(1, 2 ** 31 - 1), int(0, 2 ** 32))),
    mostly(address),
    port,
    mostly(fc.constant('typ')),
    mostly(fc.constantFrom('host', 'srflx', 'prflx', 'relay', 'HOST')),
  ]),
  fc.array(candidateExtension, { maxLength: 5 }),
).map(([prefix, main, extensions]) => [prefix + main, ...extensions].join(' '));

/** `a=remote-candidates:` triples (RFC 8839 §5.2). */
export const remoteCandidatesLine: fc.Arbitrary<string> = fc.array(fields([mostly(int(1, 256)), mostly(address), port]), { minLength: 0, maxLength: 4 })
  .map((triples) => `a=remote-candidates:${triples.join(' ')}`);

// ------------------------------------------------------------------------------------- a=alt

const qvalue = mostly(fc.oneof(
  fc.constantFrom('1.0', '0.8', '0.5', '0.4', '0', '1', '0.125', '1.000', '0.001', '0.0'),
  fc.constantFrom('1.0001', '1.1', '2', '-0.5', '.5', '0.', '1e0', '0.1234', '01.0', '0,5'),
  fc.double({ min: -2, max: 2, noNaN: true }).map(String),
));
const nonWs = fc.stringMatching(/^[\x21-\x7e]{1,12}$/);

/** `a=alt:id qvalue derived-from username password address port [rtcp-address rtcp-port]` (draft §7). */
export const altLine: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom('a=alt:', 'alt:', 'a=alt:', 'a=ALT:', ''),
  fields([
    mostly(token),
    qvalue,
    mostly(fc.oneof(fc.constant(':'), token)),
    mostly(nonWs),
    mostly(nonWs),
    mostly(fc.oneof({ weight: 5, arbitrary: address }, { weight: 1, arbitrary: fc.tuple(address, int(0, 70000)).map(([a, p]) => `${a}:${p}`) })),
    port,
  ]),
  optional(fields([mostly(address), port])),
  optional(mostly(token), 0.1),
).map(([prefix, main, rtcp, extra]) => [prefix + main, rtcp, extra].filter((s) => s !== '').join(' '));

// ------------------------------------------------------------------------------------- preconditions

/** `a=curr|des|conf:type [strength] status-type direction-tag` (RFC 3312 §5, RFC 5898 "conn"). */
export const preconditionLine: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom('a=', '', 'a= ', 'a=a='),
  mostly(fc.mixedCase(fc.constantFrom('curr', 'des', 'conf', 'curr', 'des'))),
  fc.constantFrom(':', ':', ': ', ' :'),
  mostly(fc.oneof(fc.constantFrom('qos', 'conn', 'connected', 'Connectivity', 'CONN'), token)),
  mostly(fc.mixedCase(fc.constantFrom('mandatory', 'optional', 'none', 'failure', 'unknown'))),
  mostly(fc.mixedCase(fc.constantFrom('e2e', 'local', 'remote'))),
  mostly(fc.mixedCase(fc.constantFrom('none', 'send', 'recv', 'sendrecv'))),
  optional(mostly(token), 0.1),
  fc.integer({ min: 0, max: 9 }),
).map(([a, kind, colon, type, strength, status, direction, extra, dice]) => {
  // des lines carry a strength-tag, curr/conf do not; one line in ten gets it the wrong way round.
  const hasStrength = (kind.toLowerCase() === 'des') !== (dice === 0);
  return `${a}${kind}${colon}${[type, ...(hasStrength ? [strength] : []), status, direction, extra].filter((s) => s !== '').join(' ')}`;
});

// ------------------------------------------------------------------------------------- descriptions

const direction = fc.constantFrom('a=sendrecv', 'a=sendonly', 'a=recvonly', 'a=inactive', 'a=SENDRECV', 'a=sendrecv ', 'a=send');
const ufragLine = fc.tuple(fc.constantFrom('a=ice-ufrag:', 'a=ice-ufrag: '), mostly(iceChars(4, 12))).map(([p, v]) => p + v);
const pwdLine = fc.tuple(fc.constantFrom('a=ice-pwd:'), mostly(iceChars(22, 40))).map(([p, v]) => p + v);

const mediaAttribute: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: candidateLine },
  { weight: 2, arbitrary: altLine },
  { weight: 3, arbitrary: preconditionLine },
  { weight: 2, arbitrary: direction },
  { weight: 2, arbitrary: fc.tuple(mostly(int(0, 127)), mostly(fc.constantFrom('PCMU', 'PCMA', 'telephone-event', 'opus', 'G722')), mostly(fc.constantFrom('8000', '16000', '48000', '0')), optional(fc.constantFrom('1', '2', 'x'))).map(([pt, name, rate, ch]) => `a=rtpmap:${pt} ${name}/${rate}${ch ? `/${ch}` : ''}`) },
  { weight: 1, arbitrary: fc.tuple(port, optional(fields([fc.constant('IN'), fc.constantFrom('IP4', 'IP6', 'IPX'), mostly(address)]))).map(([p, rest]) => `a=rtcp:${p}${rest ? ` ${rest}` : ''}`) },
  { weight: 1, arbitrary: fc.constantFrom('a=rtcp-mux', 'a=end-of-candidates', 'a=ice-lite', 'a=ice-options:trickle', 'a=ice-options:', 'a=ptime:20', 'a=ptime:0', 'a=ptime:abc', 'a=maxptime:40', 'a=fmtp:101 0-15', 'a=mid:0', 'a=setup:actpass') },
  { weight: 1, arbitrary: ufragLine },
  { weight: 1, arbitrary: pwdLine },
  { weight: 1, arbitrary: remoteCandidatesLine },
  { weight: 1, arbitrary: fc.tuple(mostly(token), fc.string({ maxLength: 20 })).map(([n, v]) => `a=${n}:${v}`) },
);

const connection = fc.tuple(fc.constantFrom('c=IN IP4 ', 'c=IN IP6 ', 'c=IN IP4 ', 'c=IN  IP4 ', 'c=ATM NSAP '), mostly(address), optional(fc.constantFrom('/127', '/127/3', '/x', '/'))).map(([p, a, s]) => p + a + s);
const mLine = fc.tuple(
  mostly(fc.constantFrom('audio', 'audio', 'video', 'application', 'AUDIO')),
  mostly(fc.oneof(int(0, 65535), fc.constantFrom('9', '0', '40000/2'))),
  mostly(fc.constantFrom('RTP/AVP', 'RTP/SAVP', 'UDP/TLS/RTP/SAVPF', 'RTP/AVPF')),
  fc.array(mostly(fc.oneof(int(0, 127), fc.constantFrom('101', '128', '999'))), { maxLength: 5 }),
).map(([media, p, proto, payloads]) => `m=${media} ${p} ${proto}${payloads.length ? ` ${payloads.join(' ')}` : ''}`);

/** A whole description: session part, then one to three m-sections with their attributes. */
export const description: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom('v=0', 'v=0', 'v=1', ''),
  fc.tuple(mostly(fc.constantFrom('-', 'alice', 'icephone')), mostly(int(0, 2 ** 40)), mostly(int(0, 100)), fc.constantFrom('IN IP4', 'IN IP6'), mostly(address)).map(([u, id, v, nt, a]) => `o=${u} ${id} ${v} ${nt} ${a}`),
  optional(connection, 0.6),
  fc.array(fc.oneof(direction, ufragLine, pwdLine, fc.constantFrom('a=ice-lite', 'a=ice-options:trickle ice2', 'a=group:BUNDLE 0', 'a=end-of-candidates')), { maxLength: 3 }),
  fc.array(fc.tuple(mLine, optional(connection, 0.6), fc.array(mediaAttribute, { maxLength: 12 })), { minLength: 0, maxLength: 3 }),
  eol,
).map(([v, o, c, sessionAttributes, media, end]) => {
  const lines = [v, o, 's=-', ...(c ? [c] : []), 't=0 0', ...sessionAttributes];
  for (const [m, mc, attributes] of media) lines.push(m, ...(mc ? [mc] : []), ...attributes);
  return lines.join(end) + end;
});
