/**
 * lib/base/log.ts: control characters are escaped centrally, so bytes quoted from the wire can
 * neither drive a terminal (ESC sequences, C1 CSI) nor forge a log line (CR, LF).
 */
import { expect } from 'chai';
import { StderrLogger, errorStack, escapeControls, redact } from '../../lib/base/log.js';

describe('base/log: control characters never reach the sink raw', () => {
  const table: Array<[string, string]> = [
    ['plain text: 127.0.0.1:5060', 'plain text: 127.0.0.1:5060'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['nul\x00bel\x07bs\x08', 'nul\\x00bel\\x07bs\\x08'],
    ['del\x7f', 'del\\x7f'],
    ['csi\u009b2J nel\u0085', 'csi\\x9b2J nel\\x85'],
    ['line\r\nforged: [sip] ok', 'line\\r\\nforged: [sip] ok'],
    ['tab\tkept', 'tab\tkept'],
    ['bidi \u202egnp.exe\u202c', 'bidi \\u{202e}gnp.exe\\u{202c}'],
    ['back\\slash and ünïcode ☎', 'back\\slash and ünïcode ☎'],
  ];
  for (const [input, expected] of table) {
    it(`writes ${JSON.stringify(expected)}`, () => expect(escapeControls(input)).to.equal(expected));
  }

  it('keepNewlines passes LF only (a trace, a stack), CR and ESC still escaped', () => {
    expect(escapeControls('a\nb\r\x1bc\n', true)).to.equal('a\nb\\r\\x1bc\n');
  });

  it('every StderrLogger line is one line with no raw control byte, secrets scrubbed too', () => {
    const lines: string[] = [];
    const log = new StderrLogger('trace', 'sip', (l) => lines.push(l)).child('media');
    redact('hunter2-secret');
    log.warn('dropped malformed SDP line: a=candidate:\x1b[31mevil\r\nfake: hunter2-secret');
    log.error(errorStack(new Error('boom \x1b]0;title\x07')));
    expect(lines).to.have.length(2);
    expect(lines[0]).to.equal('[sip/media] dropped malformed SDP line: a=candidate:\\x1b[31mevil\\r\\nfake: ***');
    for (const l of lines) expect(/[\x00-\x1f\x7f-\x9f]/.test(l), JSON.stringify(l)).to.equal(false);
    expect(lines[1]).to.match(/^\[sip\/media\] Error: boom \\x1b\]0;title\\x07\\n {4}at /);
  });

  it('errorStack gives the stack of an Error and the text of anything else', () => {
    expect(errorStack(new TypeError('x'))).to.match(/^TypeError: x\n {4}at /);
    expect(errorStack('plain')).to.equal('plain');
  });
});
