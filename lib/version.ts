import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * icephone's version, from its package.json: one level above this file under tsx (lib/), two once
 * built (dist/lib/).
 */
export const ICEPHONE_VERSION: string = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of [['..'], ['..', '..']]) {
    try {
      const pkg = JSON.parse(readFileSync(join(here, ...up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'icephone' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return '0';
})();
