/**
 * Benchmark 1: SIP messages parsed per second by sip.js's `Parser.parseMessage`, with icephone's
 * fast path (lib/sip/sipjs/fast-parser.ts) and with stock sip.js 0.21.2, in the same process, on the
 * captured SIPp/baresip messages of test/fixtures/sip-corpus (INVITE, 100, 180, 200, ACK, BYE).
 */
import { Grammar } from 'sip.js';
import { fastGrammarParse, hoistedPegParse, parseSipMessage, stockGrammarParse, grammarMode } from '../../lib/sip/sipjs/fast-parser.js';
import { sipCorpus } from '../../test/fixtures/sip-corpus/index.js';
import { TINY, ratio, round, type BenchRow } from './common.js';

function rate(messages: string[], minMs: number): number {
  let n = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < minMs) {
    for (const m of messages) parseSipMessage(m);
    n += messages.length;
    now = performance.now();
  }
  return (n * 1000) / (now - t0);
}

export async function benchParse(): Promise<BenchRow[]> {
  hoistedPegParse();
  const messages = sipCorpus().filter((m) => m.name.startsWith('sipp/') || m.name.startsWith('baresip/')).map((m) => m.text);
  const g = Grammar as { parse: typeof Grammar.parse };
  const before = g.parse;
  const ms = TINY ? 150 : 3000;
  try {
    g.parse = fastGrammarParse;
    rate(messages, ms / 3); // warm up
    const fast = rate(messages, ms);
    g.parse = stockGrammarParse;
    rate(messages, ms / 6);
    const stock = rate(messages, ms);
    const r = ratio(fast, stock);
    return [{
      benchmark: 'sip-parse', metric: 'messages parsed/s (SIPp+baresip corpus)', value: round(fast, 0), unit: 'msg/s',
      baseline: { name: 'stock sip.js 0.21.2', value: round(stock, 0), ratio: r },
      target: '>= 20x stock', met: r !== null && r >= 20,
      note: `grammar ${grammarMode}; ${messages.length} messages`,
    }];
  } finally {
    g.parse = before;
  }
}
