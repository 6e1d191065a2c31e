/**
 * The import direction of DESIGN.md for the draft's alternates: `ice` never imports `sdp`, and
 * `sdp` uses only types from `ice`. The draft's alternate/qvalue model (ranking, draft §5.3/§5.5)
 * is lib/ice/alternate.ts; lib/sdp/alt-attributes.ts is the `a=alt` syntax only.
 *
 * Known exception, listed here so that a new one fails: the two files that translate between
 * `a=alt` and `a=candidate` (lib/sdp/convert.ts, lib/sdp/alt-candidates.ts) need the draft's
 * ranking to turn qvalues into RFC 8445 priorities and back, so they call lib/ice/alternate.ts.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib');

interface ImportLine {
  from: string;
  /** Every imported name is a type (`import type { … }` or each specifier marked `type`). */
  typeOnly: boolean;
  text: string;
}

/** The static `import … from '…'` and `export … from '…'` statements of a TypeScript source. */
function importsOf(source: string): ImportLine[] {
  const out: ImportLine[] = [];
  for (const m of source.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'([^']+)';/gms)) {
    const [text, , typeKeyword, clause, from] = m as unknown as [string, string, string | undefined, string, string];
    const braces = /^\{([^}]*)\}$/.exec(clause.trim());
    const specifiers = braces ? braces[1]!.split(',').map((s) => s.trim()).filter(Boolean) : [clause.trim()];
    out.push({ from, typeOnly: typeKeyword !== undefined || (braces !== null && specifiers.every((s) => s.startsWith('type '))), text: text.replace(/\s+/g, ' ') });
  }
  return out;
}

function sources(dir: string): Array<[file: string, source: string]> {
  return readdirSync(join(lib, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [f, readFileSync(join(lib, dir, f), 'utf8')]);
}

const TRANSLATION_FILES = new Set(['convert.ts', 'alt-candidates.ts']);

describe('layering of the draft alternates (DESIGN.md import direction)', () => {
  it('the import reader sees type-only and value imports apart', () => {
    const found = importsOf("import type { A } from '../ice/a.js';\nimport { type B, type C } from '../ice/b.js';\nimport { D, type E } from '../ice/c.js';\nimport {\n  F,\n} from '../ice/d.js';\n");
    expect(found.map((i) => [i.from, i.typeOnly])).to.deep.equal([
      ['../ice/a.js', true],
      ['../ice/b.js', true],
      ['../ice/c.js', false],
      ['../ice/d.js', false],
    ]);
  });

  it('no file in lib/ice imports lib/sdp', () => {
    const offending = sources('ice').flatMap(([file, source]) => importsOf(source).filter((i) => i.from.startsWith('../sdp/')).map((i) => `${file}: ${i.text}`));
    expect(offending).to.deep.equal([]);
  });

  it('lib/sdp uses only types from lib/ice, except the two a=alt ↔ a=candidate translators', () => {
    const offending = sources('sdp')
      .filter(([file]) => !TRANSLATION_FILES.has(file))
      .flatMap(([file, source]) => importsOf(source).filter((i) => i.from.startsWith('../ice/') && !i.typeOnly).map((i) => `${file}: ${i.text}`));
    expect(offending).to.deep.equal([]);
  });

  it('the qvalue ranking lives in lib/ice/alternate.ts, not in the a=alt syntax', async () => {
    const syntax = await import('../../lib/sdp/alt-attributes.js');
    const model = await import('../../lib/ice/alternate.js');
    for (const name of ['qvalueToPriority', 'priorityToQvalue', 'alternateToCandidates', 'alternatesToCandidates', 'ALT_EXTENSION']) {
      expect(Object.keys(syntax), name).to.not.include(name);
      expect(Object.keys(model), name).to.include(name);
    }
  });
});
