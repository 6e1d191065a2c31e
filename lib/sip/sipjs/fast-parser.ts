/**
 * A fast SIP parse path for sip.js 0.21.2, with results identical to its stock parser.
 *
 * Why: sip.js's grammar is a peggy parser generated with `optimize: "size"`. Its `peg$parse`
 * function declares the constant table (~900 entries: literals, regexes, expectation objects and
 * the action closures) and the bytecode of all 240 rules (`peg$decode` of a string for each)
 * as locals, so every call rebuilds them: about 150 µs per header, 1.7 ms per INVITE.
 *
 * How: at run time we read sip.js's own generated `grammar.js` (pinned by SHA-256, so an upgrade
 * of sip.js is noticed instead of silently mis-patched) and rewrite its *structure*, not its
 * grammar: the tables, the rule interpreter and the helper functions move to the top level of a
 * closure built once, and the per-call parser state (`input`, `options`, positions, failure
 * bookkeeping) becomes variables of that closure reset at each call. The actions and the bytecode
 * are sip.js's, unchanged, so every result is the same object graph stock sip.js builds.
 * One deliberate difference: a failed parse does not build peggy's human-readable "Expected …"
 * message, which `Grammar.parse` throws away anyway (it returns -1 on any exception).
 *
 * The rule interpreter is then replaced by the same bytecode compiled to one JavaScript function per
 * rule (`compileBytecode`): the hoisted interpreter still spends 10-110 µs on a header, the
 * compiled rules 0.3-6 µs (a whole INVITE: 1.7 ms stock, ~45 µs here).
 * test/sip/parser*.test.ts compare the results with stock sip.js on a corpus and on mutations of it.
 *
 * Installed by `installFastSipParser()` (called by installSipJsAdapter() in sipjs/install.ts when a Phone is made); it
 * replaces `Grammar.parse` on the namespace object sip.js's own modules call through, so they
 * pick it up without any file in node_modules being changed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Core, Grammar, NameAddrHeader, URI } from 'sip.js';

/** The sip.js release and the SHA-256 of its generated grammar that the rewrite was checked against. */
export const PINNED_SIPJS_VERSION = '0.21.2';
export const PINNED_GRAMMAR_SHA256 = '66f6eabdcec39bfe90b9dbf3104e42af6169a6f4f5a1773694fce36c0262ab03';

type PegParse = (input: string, options: { startRule?: string; data?: unknown }) => unknown;

/** The signature of `Grammar.parse`: the parsed data, or -1 when `input` does not match `startRule`. */
export type GrammarParse = (input: string, startRule: string) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Path of sip.js's generated peggy parser. */
export function sipJsGrammarPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('sip.js')), 'grammar', 'pegjs', 'dist', 'grammar.js');
}

/** The `version` in sip.js's package.json. */
export function installedSipJsVersion(): string {
  const path = join(dirname(createRequire(import.meta.url).resolve('sip.js')), '..', 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function lineIndex(lines: string[], text: string, from = 0): number {
  const i = lines.indexOf(text, from);
  if (i < 0) throw new Error(`sip.js grammar rewrite: line '${text.trim().slice(0, 60)}' not found`);
  return i;
}

/**
 * Rewrites sip.js's generated grammar source so that its tables are built once.
 * Exported for the tests (which check the anchors and the result on the pinned file).
 * @throws Error when the source does not have the structure this rewrite expects.
 */
export function hoistGrammarSource(source: string, compiledRules?: string): string {
  const lines = source.split('\n');
  const at = (text: string, from = 0) => lineIndex(lines, text, from);
  const parseStart = at('function peg$parse(input, options) {');
  const optionsDefault = at('    options = options !== undefined ? options : {};', parseStart);
  const failedConst = at('    const peg$FAILED = {};', parseStart);
  const sourceConst = at('    const peg$source = options.grammarSource;', parseStart);
  const startRuleIndex = lines.findIndex((l, i) => i > parseStart && l.startsWith('    let peg$startRuleIndex = '));
  const stateStart = at('    let peg$currPos = 0;', parseStart);
  const stateEnd = at('    let peg$result;', stateStart);
  const startRuleCheck = at('    if (options.startRule !== undefined) {', stateEnd);
  const startRuleCheckEnd = at('    }', startRuleCheck);
  const functionsStart = at('    function text() {', startRuleCheckEnd);
  const dataInit = at('    options.data = {}; // Object to which header attributes will be assigned during parsing', functionsStart);
  const listFn = at('    function list(head, tail) {', dataInit);
  const resultLine = at('    peg$result = peg$parseRule(peg$startRuleIndex);', listFn);
  const parseEnd = at('}', resultLine);
  const exportLine = at('export const parse = peg$parse;', parseEnd);
  const failFn = at('    function peg$fail(expected1) {', functionsStart);
  if (
    optionsDefault !== parseStart + 1 || failedConst !== parseStart + 2 || sourceConst !== parseStart + 3 ||
    startRuleIndex !== parseStart + 5 || startRuleCheck !== stateEnd + 1 || functionsStart !== startRuleCheckEnd + 1 ||
    listFn !== dataInit + 1 || lines[parseStart + 4]!.indexOf('    const peg$startRuleIndices = ') !== 0 ||
    lines[startRuleIndex + 1] !== '    const peg$consts = [' || failFn < 0
  ) {
    throw new Error('sip.js grammar rewrite: peg$parse does not have the expected layout');
  }
  const header = lines.slice(0, parseStart).filter((l) => !l.startsWith('import '));
  if (header.length !== parseStart - 2) throw new Error('sip.js grammar rewrite: expected exactly two imports');
  const defaultStartRule = lines[startRuleIndex]!.replace('    let peg$startRuleIndex = ', '').replace(';', '');
  const stateDeclarations = lines.slice(stateStart, stateEnd + 1);
  const stateNames = stateDeclarations.map((l) => /^ {4}(?:let|const) (peg\$\w+)/.exec(l)![1]!);
  const stateResets = stateDeclarations.map((l) => l.replace(/^ {4}(?:let|const) /, '    ').replace(/^( {4}peg\$result);$/, '$1 = undefined;'));
  const tables = lines.slice(startRuleIndex + 1, stateStart); // peg$consts and peg$bytecode
  const functions = lines.slice(functionsStart, dataInit).concat(lines.slice(listFn, resultLine));
  // peg$fail only collects expectations for the error message; keep the position it tracks.
  const failEnd = functions.indexOf('    }', functions.indexOf('    function peg$fail(expected1) {'));
  const failStart = functions.indexOf('    function peg$fail(expected1) {');
  functions.splice(failStart, failEnd - failStart + 1,
    '    function peg$fail(expected1) {',
    '        if (peg$currPos > peg$maxFailPos) peg$maxFailPos = peg$currPos;',
    '    }');
  if (compiledRules !== undefined) {
    // Swap the bytecode interpreter for the rules compiled from that same bytecode.
    const ruleStart = functions.indexOf('    function peg$parseRule(index) {');
    const ruleEnd = functions.indexOf('    }', ruleStart);
    if (ruleStart < 0 || ruleEnd < 0) throw new Error('sip.js grammar rewrite: peg$parseRule not found');
    functions.splice(ruleStart, ruleEnd - ruleStart + 1, '    function peg$parseRule(index) { return peg$ruleFunctions[index](); }', compiledRules);
  }
  const tail = lines.slice(resultLine, parseEnd);
  // The failing branch: throw a cheap marker instead of building peggy's message.
  const throwAt = tail.findIndex((l) => l.includes('throw peg$buildStructuredError(peg$maxFailExpected'));
  if (throwAt < 0) throw new Error('sip.js grammar rewrite: final throw not found');
  const throwEnd = tail.findIndex((l, i) => i >= throwAt && l.endsWith(';'));
  tail.splice(throwAt, throwEnd - throwAt + 1, '        throw PARSE_FAILED;');
  return [
    ...header.map((l) => l.replace(/^export class SyntaxError/, 'class SyntaxError')),
    'const PARSE_FAILED = new Error("no match");',
    'let input, options, peg$source, peg$startRuleIndex;',
    `let ${stateNames.join(', ')};`,
    lines[failedConst],
    lines[startRuleIndex - 1],
    ...tables,
    ...functions,
    'let active = false;',
    'function peg$parse(input1, options1) {',
    '    if (active) return reentrant(input1, options1);',
    '    active = true;',
    '    try {',
    '    input = input1;',
    '    options = options1 !== undefined ? options1 : {};',
    '    peg$source = options.grammarSource;',
    `    peg$startRuleIndex = ${defaultStartRule};`,
    ...stateResets,
    ...lines.slice(startRuleCheck, startRuleCheckEnd + 1),
    lines[dataInit],
    ...tail,
    '    } finally { active = false; input = undefined; }',
    '}',
    'return { parse: peg$parse, SyntaxError, consts: peg$consts, bytecode: peg$bytecode };',
  ].join('\n');
}

/**
 * Compiles peggy bytecode (the `peg$bytecode` of a grammar generated with `optimize: "size"`) to
 * one JavaScript function per rule, the way peggy's own `optimize: "speed"` output is shaped: the
 * interpreter's value stack becomes local variables (its depth is known at every instruction),
 * its jumps become `if`/`while` blocks. Every instruction keeps the interpreter's semantics
 * (`peg$parseRule` in the generated grammar), so the parse results are the same.
 * Instruction set: peggy 1.x/2.x `compiler/opcodes.js`.
 * @throws Error on an unknown opcode or an unbalanced stack (the caller then keeps the interpreter).
 */
export function compileBytecode(bytecode: number[][], consts: unknown[]): string {
  const out: string[] = [];
  const classTables = new Set<number>();
  for (let rule = 0; rule < bytecode.length; rule++) {
    const bc = bytecode[rule]!;
    let maxSp = -1;
    const v = (sp: number) => {
      if (sp < 0) throw new Error(`rule ${rule}: stack underflow`);
      if (sp > maxSp) maxSp = sp;
      return `s${sp}`;
    };
    const strConst = (c: number): string => {
      const k = consts[c];
      if (typeof k !== 'string') throw new Error(`rule ${rule}: constant ${c} is not a string`);
      return k;
    };
    /** Compiles bc[ip, end) starting at stack top `sp`; returns the code and the stack top after it. */
    const block = (ip: number, end: number, sp: number, indent: string): { code: string; sp: number } => {
      const lines: string[] = [];
      const cond = (test: string, thenLen: number, elseLen: number, at: number, sp0: number, preThen = '') => {
        const t = block(at, at + thenLen, sp0, indent + '  ');
        const e = block(at + thenLen, at + thenLen + elseLen, sp0, indent + '  ');
        if (t.sp !== e.sp) throw new Error(`rule ${rule}: branches leave different stack depths at ${at}`);
        lines.push(`${indent}if (${test}) {`, ...(preThen ? [`${indent}  ${preThen}`] : []), t.code, `${indent}} else {`, e.code, `${indent}}`);
        return t.sp;
      };
      while (ip < end) {
        const op = bc[ip]!;
        switch (op) {
          case 0: sp++; lines.push(`${indent}${v(sp)} = peg$consts[${bc[ip + 1]}];`); ip += 2; break;
          case 1: sp++; lines.push(`${indent}${v(sp)} = undefined;`); ip++; break;
          case 2: sp++; lines.push(`${indent}${v(sp)} = null;`); ip++; break;
          case 3: sp++; lines.push(`${indent}${v(sp)} = peg$FAILED;`); ip++; break;
          case 4: sp++; lines.push(`${indent}${v(sp)} = [];`); ip++; break;
          case 5: sp++; lines.push(`${indent}${v(sp)} = peg$currPos;`); ip++; break;
          case 6: v(sp); sp--; ip++; break;
          case 7: lines.push(`${indent}peg$currPos = ${v(sp)};`); sp--; ip++; break;
          case 8: sp -= bc[ip + 1]!; v(sp + 1); ip += 2; break;
          case 9: lines.push(`${indent}${v(sp - 1)} = ${v(sp)};`); sp--; ip++; break;
          case 10: lines.push(`${indent}${v(sp - 1)}.push(${v(sp)});`); sp--; ip++; break;
          case 11: {
            const n = bc[ip + 1]!;
            const items = [];
            for (let i = sp - n + 1; i <= sp; i++) items.push(v(i));
            sp = sp - n + 1;
            lines.push(`${indent}${v(sp)} = [${items.join(', ')}];`);
            ip += 2;
            break;
          }
          case 12: lines.push(`${indent}${v(sp)} = input.substring(${v(sp)}, peg$currPos);`); ip++; break;
          case 13: sp = cond(`${v(sp)}`, bc[ip + 1]!, bc[ip + 2]!, ip + 3, sp); ip += 3 + bc[ip + 1]! + bc[ip + 2]!; break;
          case 14: sp = cond(`${v(sp)} === peg$FAILED`, bc[ip + 1]!, bc[ip + 2]!, ip + 3, sp); ip += 3 + bc[ip + 1]! + bc[ip + 2]!; break;
          case 15: sp = cond(`${v(sp)} !== peg$FAILED`, bc[ip + 1]!, bc[ip + 2]!, ip + 3, sp); ip += 3 + bc[ip + 1]! + bc[ip + 2]!; break;
          case 16: {
            const body = block(ip + 2, ip + 2 + bc[ip + 1]!, sp, indent + '  ');
            if (body.sp !== sp) throw new Error(`rule ${rule}: loop body changes the stack depth at ${ip}`);
            lines.push(`${indent}while (${v(sp)} !== peg$FAILED) {`, body.code, `${indent}}`);
            ip += 2 + bc[ip + 1]!;
            break;
          }
          case 17: sp = cond('input.length > peg$currPos', bc[ip + 1]!, bc[ip + 2]!, ip + 3, sp); ip += 3 + bc[ip + 1]! + bc[ip + 2]!; break;
          case 18: {
            const k = strConst(bc[ip + 1]!);
            // input.substr(pos, k.length) === k, for pos >= 0
            const test = k.length === 1 ? `input.charCodeAt(peg$currPos) === ${k.charCodeAt(0)}` : `input.startsWith(${JSON.stringify(k)}, peg$currPos)`;
            sp = cond(test, bc[ip + 2]!, bc[ip + 3]!, ip + 4, sp);
            ip += 4 + bc[ip + 2]! + bc[ip + 3]!;
            break;
          }
          case 19: {
            const k = strConst(bc[ip + 1]!);
            sp = cond(`input.substr(peg$currPos, ${k.length}).toLowerCase() === peg$consts[${bc[ip + 1]}]`, bc[ip + 2]!, bc[ip + 3]!, ip + 4, sp);
            ip += 4 + bc[ip + 2]! + bc[ip + 3]!;
            break;
          }
          case 20: {
            if (!(consts[bc[ip + 1]!] instanceof RegExp)) throw new Error(`rule ${rule}: constant ${bc[ip + 1]} is not a class`);
            // The class regex tested on one UTF-16 unit: a 256-entry table answers for Latin-1,
            // the regex itself for anything above (and for '' at the end of input: NaN).
            classTables.add(bc[ip + 1]!);
            const k = bc[ip + 1];
            sp = cond(`((peg$c = input.charCodeAt(peg$currPos)) < 256 ? peg$class${k}[peg$c] === 1 : peg$consts[${k}].test(input.charAt(peg$currPos)))`, bc[ip + 2]!, bc[ip + 3]!, ip + 4, sp);
            ip += 4 + bc[ip + 2]! + bc[ip + 3]!;
            break;
          }
          case 21: sp++; lines.push(`${indent}${v(sp)} = input.substr(peg$currPos, ${bc[ip + 1]}); peg$currPos += ${bc[ip + 1]};`); ip += 2; break;
          case 22: {
            const k = strConst(bc[ip + 1]!);
            sp++;
            lines.push(`${indent}${v(sp)} = peg$consts[${bc[ip + 1]}]; peg$currPos += ${k.length};`);
            ip += 2;
            break;
          }
          case 23: sp++; lines.push(`${indent}${v(sp)} = peg$FAILED; if (peg$silentFails === 0) peg$fail(peg$consts[${bc[ip + 1]}]);`); ip += 2; break;
          case 24: lines.push(`${indent}peg$savedPos = ${v(sp - bc[ip + 1]!)};`); ip += 2; break;
          case 25: lines.push(`${indent}peg$savedPos = peg$currPos;`); ip++; break;
          case 26: {
            const f = bc[ip + 1]!;
            const n = bc[ip + 2]!;
            const count = bc[ip + 3]!;
            if (typeof consts[f] !== 'function') throw new Error(`rule ${rule}: constant ${f} is not an action`);
            const args = bc.slice(ip + 4, ip + 4 + count).map((p) => v(sp - p));
            sp = sp - n + 1;
            lines.push(`${indent}${v(sp)} = peg$consts[${f}](${args.join(', ')});`);
            ip += 4 + count;
            break;
          }
          case 27: sp++; lines.push(`${indent}${v(sp)} = peg$r${bc[ip + 1]}();`); ip += 2; break;
          case 28: lines.push(`${indent}peg$silentFails++;`); ip++; break;
          case 29: lines.push(`${indent}peg$silentFails--;`); ip++; break;
          default: throw new Error(`rule ${rule}: unknown opcode ${op} at ${ip}`);
        }
      }
      return { code: lines.join('\n'), sp };
    };
    const body = block(0, bc.length, -1, '      ');
    if (body.sp !== 0) throw new Error(`rule ${rule}: ends with stack depth ${body.sp + 1}, not 1`);
    const locals = Array.from({ length: maxSp + 1 }, (_, i) => `s${i}`).join(', ');
    out.push(`    function peg$r${rule}() {\n      let ${locals};\n${body.code}\n      return s0;\n    }`);
  }
  out.push(`    const peg$ruleFunctions = [${bytecode.map((_, i) => `peg$r${i}`).join(', ')}];`);
  out.push('    let peg$c = 0;');
  for (const k of classTables) {
    out.push(`    const peg$class${k} = new Uint8Array(256).map((_, i) => peg$consts[${k}].test(String.fromCharCode(i)) ? 1 : 0);`);
  }
  return out.join('\n');
}

interface HoistedGrammar {
  parse: PegParse;
  consts: unknown[];
  bytecode: number[][];
}

let hoisted: PegParse | undefined;
/** Which grammar `fastGrammarParse` runs: 'compiled' normally; 'hoisted' if compiling failed (see `compileError`). */
export let grammarMode: 'none' | 'hoisted' | 'compiled' = 'none';
export let compileError: string | undefined;

/**
 * The hoisted grammar's `parse`, built on first use from sip.js's installed grammar.
 * @throws Error when the installed grammar is not the pinned one or cannot be rewritten.
 */
export function hoistedPegParse(): PegParse {
  if (hoisted) return hoisted;
  const path = sipJsGrammarPath();
  const source = readFileSync(path, 'utf8');
  const sha = createHash('sha256').update(source).digest('hex');
  // (sip.js 0.21.2 exports `version` as "0.21.1"; its package.json is the truth.)
  const sipJsVersion = installedSipJsVersion();
  if (sha !== PINNED_GRAMMAR_SHA256 || sipJsVersion !== PINNED_SIPJS_VERSION) {
    throw new Error(`sip.js ${sipJsVersion} grammar (${path}, sha256 ${sha.slice(0, 12)}) is not the pinned ${PINNED_SIPJS_VERSION} one; re-check lib/sip/sipjs/fast-parser.ts against it`);
  }
  const stock = stockGrammarParse;
  const reentrant: PegParse = (input, options) => {
    // Never reached with sip.js 0.21.2 (no action parses again); kept so a nested call stays correct.
    const r = stock(input, options.startRule ?? 'Contact');
    if (r === -1) throw new Error('no match');
    options.data = r;
    return r;
  };
  const build = (body: string) =>
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    (new Function('NameAddrHeader', 'URI', 'reentrant', body) as (n: typeof NameAddrHeader, u: typeof URI, r: PegParse) => HoistedGrammar)(
      NameAddrHeader, URI, reentrant);
  // Stage 1: tables built once, rules still interpreted. Stage 2: the same tables, rules compiled.
  const interpreted = build(hoistGrammarSource(source));
  grammarMode = 'hoisted';
  hoisted = interpreted.parse;
  try {
    const compiled = build(hoistGrammarSource(source, compileBytecode(interpreted.bytecode, interpreted.consts)));
    hoisted = compiled.parse;
    grammarMode = 'compiled';
  } catch (e) {
    compileError = e instanceof Error ? e.message : String(e);
  }
  return hoisted;
}

/** sip.js's own `Grammar.parse`, captured before any installation. */
export const stockGrammarParse: GrammarParse = Grammar.parse;

/** `Grammar.parse` with sip.js's semantics (options.data, or -1 on any exception) over the hoisted grammar. */
export function fastGrammarParse(input: string, startRule: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const peg = hoisted ?? hoistedPegParse();
  const options: { startRule: string; data?: unknown } = { startRule };
  try {
    peg(input, options);
  } catch {
    options.data = -1;
  }
  return options.data;
}

let installed = false;

/**
 * Makes sip.js parse with the compiled grammar: replaces `Grammar.parse`, through which sip.js's
 * `Parser.parseMessage`, `IncomingMessage.parseHeader`, `Grammar.URIParse` and
 * `Grammar.nameAddrHeaderParse` all go. Idempotent.
 * Falls back to stock sip.js (returning false, with the reason in `installError`) when the
 * installed sip.js is not the pinned release, so an upgrade never runs an unchecked rewrite.
 */
export function installFastSipParser(): boolean {
  if (installed) return true;
  try {
    hoistedPegParse();
  } catch (e) {
    installError = e instanceof Error ? e.message : String(e);
    return false;
  }
  (Grammar as { parse: GrammarParse }).parse = fastGrammarParse;
  installed = true;
  return true;
}

/** Why `installFastSipParser()` kept the stock parser, if it did. */
export let installError: string | undefined;

/** Puts sip.js's own `Grammar.parse` back (benchmarks and tests compare both). */
export function uninstallFastSipParser(): void {
  (Grammar as { parse: GrammarParse }).parse = stockGrammarParse;
  installed = false;
}

/** True while `Grammar.parse` is the fast one. */
export function fastSipParserInstalled(): boolean {
  return installed && Grammar.parse === fastGrammarParse;
}

/** sip.js's message parser (`Core.Parser.parseMessage`), whichever grammar is installed. */
export function parseSipMessage(data: string): Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined {
  return Core.Parser.parseMessage(data, quietLogger);
}

const quietLogger = { error: () => undefined, warn: () => undefined, log: () => undefined, debug: () => undefined } as unknown as Core.Logger;
