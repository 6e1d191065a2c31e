/**
 * Temporary directories for tests (configs, logs, captures, WAV files), removed when the test
 * process exits with status 0. A passing run leaves nothing in the system's temporary directory; a
 * failing one (mocha exits with the number of failures) keeps them for a post-mortem and says where.
 * KEEP_TEST_TMP=1 keeps them always.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

/** mkdtemp under os.tmpdir() with `prefix` (e.g. 'icephone-sipp-'); returns the absolute path. */
export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', (code) => {
      if (code === 0) removeTestTempDirs();
      else if (made.length) process.stderr.write(`test temporary directories kept (exit ${code}): ${made.join(' ')}\n`);
    });
  }
  return dir;
}

/** Removes every directory testTempDir made (also run at a successful exit unless KEEP_TEST_TMP=1). */
export function removeTestTempDirs(): void {
  if (process.env.KEEP_TEST_TMP === '1') return;
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A directory a child process still writes into (or already gone): nothing to lose.
    }
  }
}
