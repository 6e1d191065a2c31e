/**
 * The README's gateway-style example (scripts/examples/echo-gateway.mjs) in a project of its own
 * that installs icephone from the packed tarball (`npm pack`) and imports nothing but the package's
 * exports: it answers a call and plays the caller's own audio back through the frame API. The
 * caller's recording must hold the caller's own tone.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';
import { spawnProcess } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('e2e: a gateway-style project using only the package exports (npm pack)', function () {
  this.timeout(240_000);
  let project = '';

  before(function () {
    project = testTempDir('icephone-consumer-');
    // `npm pack` runs the package's prepare script (tsc) and writes icephone-VERSION.tgz.
    execFileSync('npm', ['pack', '--pack-destination', project, '--silent'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'))!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'echo-gateway', private: true, type: 'module', dependencies: { icephone: `file:./${tarball}` } }, null, 2));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--silent'], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] });
    copyFileSync(join(root, 'scripts', 'examples', 'echo-gateway.mjs'), join(project, 'echo-gateway.mjs'));
  });

  it('answers a call and echoes the caller\'s audio: the caller hears its own 440 Hz tone', async () => {
    const port = await freePortPair();
    const gateway = spawnProcess(process.execPath, [join(project, 'echo-gateway.mjs'), '127.0.0.1', String(port), '1'], { name: 'echo-gateway', cwd: project });
    try {
      await gateway.waitForOutput(/echo-gateway: listening/, 20000);
      const record = join(project, 'caller.wav');
      const call = runIcephone(['call', `sip:echo@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '3', '--play', 'tone:440', '--record', record, '--json']);
      expect(await exitWithin(call, 30000), call.stderr().slice(-3000)).to.equal(0);
      await assertToneInWav(record, 440);
      expect(await gateway.waitForExit(15000), gateway.output().slice(-3000)).to.equal(0);
      expect(gateway.output()).to.match(/echo-gateway: call from sip:/);
    } finally {
      await gateway.stop();
    }
  });
});
