/**
 * Issue 11: every use of sip.js internals lives in lib/sip/sipjs/ (the adapter): outside it, no
 * file reaches into sip.js's deep modules (`sip.js/lib/...`), and no file that imports sip.js
 * casts a sip.js object to a shape its typings do not give (`as unknown as`).
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const LIB = join(ROOT, 'lib');
const ADAPTER = join(LIB, 'sip', 'sipjs');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return path === ADAPTER ? [] : tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

describe('the sip.js adapter is the one place for sip.js internals (issue 11)', () => {
  const files = tsFiles(LIB);

  it('sees the library (sanity: it would notice a violation)', () => {
    expect(files.length).to.be.greaterThan(50);
    expect(files.some((f) => f.endsWith('user-agent.ts'))).to.equal(true);
    expect(readdirSync(ADAPTER)).to.include.members(['update.ts', 'reliable-provisional.ts', 'fast-parser.ts', 'request-gate.ts', 'core-request-hooks.ts', 'session-internals.ts', 'internals.ts']);
  });

  it('outside lib/sip/sipjs/, nothing imports sip.js deep modules or casts sip.js objects', () => {
    const offenders: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const usesSipJs = /from 'sip\.js/.test(text);
      if (/from 'sip\.js\/lib\//.test(text)) offenders.push(`${relative(ROOT, file)}: imports sip.js/lib/...`);
      if (usesSipJs && /as unknown as/.test(text)) offenders.push(`${relative(ROOT, file)}: 'as unknown as' in a file that uses sip.js`);
    }
    expect(offenders, offenders.join('\n')).to.deep.equal([]);
  });
});
