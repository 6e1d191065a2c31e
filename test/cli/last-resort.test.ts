/**
 * lib/cli/last-resort.ts: an exception nobody caught and a rejection nobody awaited are reported
 * on stderr with their stacks (escaped), counted, and the process carries on. Run in a child
 * process exactly as the CLI installs them (lib/cli/main.ts).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('cli/last-resort: uncaught exceptions and unhandled rejections are logged with their stack', function () {
  this.timeout(30000);

  it('reports both with stack frames, escapes control bytes, and the process keeps running', () => {
    const script = `
      const { installLastResortHandlers } = await import(${JSON.stringify(join(root, 'lib', 'cli', 'last-resort.ts'))});
      const counters = installLastResortHandlers();
      function deepInTheCodec() { throw new TypeError('codec table broke on \\x1b[31mred'); }
      setTimeout(() => deepInTheCodec(), 1);
      setTimeout(() => { void Promise.reject(new RangeError('nobody awaited me')); }, 5);
      setTimeout(() => console.log(JSON.stringify({ alive: true, internalErrors: counters.internalErrors })), 100);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).to.deep.equal({ alive: true, internalErrors: 2 });
    expect(r.stderr).to.match(/icephone: internal error #1 \(uncaught exception; continuing\): TypeError: codec table broke on \\x1b\[31mred\n {4}at deepInTheCodec /);
    expect(r.stderr).to.match(/icephone: internal error #2 \(unhandled rejection; continuing\): RangeError: nobody awaited me\n {4}at /);
    expect(/\x1b/.test(r.stderr), 'no raw ESC').to.equal(false);
  });
});
