/**
 * The fast SIP parse path (lib/sip/sipjs/fast-parser.ts) against stock sip.js 0.21.2: the pin, the
 * rewrite, identical results on the corpus (whole messages and every grammar start rule on every
 * header value), and on seeded mutations of it.
 */
import { expect } from 'chai';
import { installSipJsAdapter } from '../../lib/sip/sipjs/install.js';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Core, Grammar } from 'sip.js';
import {
  PINNED_GRAMMAR_SHA256, PINNED_SIPJS_VERSION, compileError, fastGrammarParse, grammarMode, hoistGrammarSource, hoistedPegParse,
  installFastSipParser, installedSipJsVersion, sipJsGrammarPath, stockGrammarParse, uninstallFastSipParser, fastSipParserInstalled,
} from '../../lib/sip/sipjs/fast-parser.js';
import { corpusFieldValues, sipCorpus } from '../fixtures/sip-corpus/index.js';
import { sameParse } from './parser-compare.js';
import { Phone } from '../../lib/sip/user-agent.js';

/** Every start rule sip.js's generated grammar allows (peg$startRuleIndices). */
const START_RULES = [
  'Contact', 'Name_Addr_Header', 'Record_Route', 'Request_Response', 'SIP_URI', 'Subscription_State', 'Supported', 'Require', 'Via',
  'absoluteURI', 'Call_ID', 'Content_Disposition', 'Content_Length', 'Content_Type', 'CSeq', 'displayName', 'Event', 'From', 'host',
  'Max_Forwards', 'Min_SE', 'Proxy_Authenticate', 'quoted_string', 'Refer_To', 'Replaces', 'Session_Expires', 'stun_URI', 'To',
  'turn_URI', 'uuid', 'WWW_Authenticate', 'challenge', 'sipfrag', 'Referred_By',
];

const quiet = { error: () => undefined, warn: () => undefined, log: () => undefined, debug: () => undefined } as unknown as Core.Logger;

function parseWith(which: 'stock' | 'fast', text: string): unknown {
  const g = Grammar as { parse: typeof Grammar.parse };
  const before = g.parse;
  g.parse = which === 'stock' ? stockGrammarParse : fastGrammarParse;
  try {
    return Core.Parser.parseMessage(text, quiet);
  } catch (e) {
    // Stock sip.js throws on some malformed input (e.g. a response whose CSeq does not parse).
    return { threw: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  } finally {
    g.parse = before;
  }
}

/** A small deterministic PRNG (mulberry32) so mutations are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = [';', ',', ':', '"', '\\', '<', '>', ' ', '\t', '=', '@', '%', '[', ']', '?', '&', '/', '*', '.', '0', '9', 'z', 'Z', '-', '\u00e9', '\u0000'];

function mutate(value: string, rnd: () => number): string {
  const i = Math.floor(rnd() * (value.length + 1));
  switch (Math.floor(rnd() * 4)) {
    case 0: return value.slice(0, i) + value.slice(i + 1); // delete
    case 1: return value.slice(0, i) + NASTY[Math.floor(rnd() * NASTY.length)] + value.slice(i); // insert
    case 2: return value.slice(0, i) + NASTY[Math.floor(rnd() * NASTY.length)] + value.slice(i + 1); // replace
    default: return value.slice(0, i) + value.slice(i, i + 1 + Math.floor(rnd() * 6)) + value.slice(i); // duplicate a run
  }
}

describe('sip/fast-parser: pinned to sip.js ' + PINNED_SIPJS_VERSION, () => {
  it('the installed sip.js is the pinned release with the pinned generated grammar', () => {
    expect(installedSipJsVersion()).to.equal(PINNED_SIPJS_VERSION);
    const sha = createHash('sha256').update(readFileSync(sipJsGrammarPath())).digest('hex');
    expect(sha, 'sip.js grammar changed: re-check hoistGrammarSource/compileBytecode, then update PINNED_GRAMMAR_SHA256').to.equal(PINNED_GRAMMAR_SHA256);
  });

  it('rewrites the grammar and compiles every rule (no fallback to the interpreter)', () => {
    hoistedPegParse();
    expect(compileError).to.equal(undefined);
    expect(grammarMode).to.equal('compiled');
  });

  it('refuses a grammar whose layout it does not know', () => {
    const source = readFileSync(sipJsGrammarPath(), 'utf8');
    expect(() => hoistGrammarSource(source.replace('    let peg$currPos = 0;', '    let peg$currPos = 1;'))).to.throw(/not found/);
    expect(() => hoistGrammarSource('export const parse = 1;')).to.throw(/not found/);
  });

  it('the sip.js adapter installs it when a Phone is made (and it can be taken out and put back)', () => {
    expect(Phone).to.be.a('function');
    installSipJsAdapter();
    if (process.env.ICEPHONE_STOCK_SIP_PARSER === '1') return;
    expect(fastSipParserInstalled()).to.equal(true);
    uninstallFastSipParser();
    expect(Grammar.parse).to.equal(stockGrammarParse);
    expect(installFastSipParser()).to.equal(true);
    expect(Grammar.parse).to.equal(fastGrammarParse);
  });
});

describe('sip/fast-parser: same results as stock sip.js', function () {
  this.timeout(120_000);
  const corpus = sipCorpus();

  it(`parses every corpus message (${corpus.length}) to the same objects`, () => {
    let parsed = 0;
    for (const m of corpus) {
      const stock = parseWith('stock', m.text);
      const fast = parseWith('fast', m.text);
      const diff = sameParse(stock, fast);
      expect(diff, `${m.name}: ${diff}`).to.equal(undefined);
      if (stock) parsed++;
    }
    expect(parsed).to.be.greaterThan(corpus.length * 0.8);
  });

  it('gives the same result for every start rule on every corpus header value and start line', () => {
    const values = corpusFieldValues();
    expect(values.length).to.be.greaterThan(150);
    let matched = 0;
    for (const value of values) {
      for (const rule of START_RULES) {
        const stock = stockGrammarParse(value, rule);
        const fast = fastGrammarParse(value, rule);
        const diff = sameParse(stock, fast);
        expect(diff, `${rule} on ${JSON.stringify(value)}: ${diff}`).to.equal(undefined);
        if (stock !== -1) matched++;
      }
    }
    expect(matched).to.be.greaterThan(values.length); // many values match several rules
  });

  it('gives the same result on 600 seeded mutations of corpus values (every start rule)', () => {
    const values = corpusFieldValues();
    const rnd = prng(4475);
    let rejectedBoth = 0;
    for (let n = 0; n < 600; n++) {
      let value = values[Math.floor(rnd() * values.length)]!;
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) value = mutate(value, rnd);
      for (const rule of START_RULES) {
        const stock = stockGrammarParse(value, rule);
        const fast = fastGrammarParse(value, rule);
        const diff = sameParse(stock, fast);
        expect(diff, `${rule} on ${JSON.stringify(value)}: ${diff}`).to.equal(undefined);
        if (stock === -1) rejectedBoth++;
      }
    }
    expect(rejectedBoth).to.be.greaterThan(400); // the mutations reach the failure paths too
  });

  it('gives the same result on whole messages with mutated header lines', () => {
    const rnd = prng(3261);
    for (let n = 0; n < 300; n++) {
      const m = corpus[Math.floor(rnd() * corpus.length)]!;
      const [head, ...rest] = m.text.split('\r\n\r\n');
      const lines = head!.split('\r\n');
      const i = Math.floor(rnd() * lines.length);
      lines[i] = mutate(lines[i]!, rnd);
      const text = [lines.join('\r\n'), ...rest].join('\r\n\r\n');
      const diff = sameParse(parseWith('stock', text), parseWith('fast', text));
      expect(diff, `${m.name} with line ${i} = ${JSON.stringify(lines[i])}: ${diff}`).to.equal(undefined);
    }
  });

  it('parses URIs and name-addrs for the API (makeURI, nameAddrHeaderParse) the same way', () => {
    for (const s of ['sip:alice@example.com', 'sips:bob@[2001:db8::1]:5061;transport=tcp?subject=hi', 'sip:%61lice@EXAMPLE.com;lr', 'tel:+1555', 'sip:', '"A" <sip:a@b>;tag=1']) {
      const g = Grammar as { parse: typeof Grammar.parse };
      g.parse = stockGrammarParse;
      const stock = [Grammar.URIParse(s), Grammar.nameAddrHeaderParse(s)];
      g.parse = fastGrammarParse;
      const fast = [Grammar.URIParse(s), Grammar.nameAddrHeaderParse(s)];
      expect(sameParse(stock, fast), s).to.equal(undefined);
    }
  });
});
