/**
 * Scanner resistance against SIPVicious (Debian's sipvicious: svmap, svwar, svcrack) run on loopback
 * against a live `icephone answer --user alice --auth-user alice --auth-pass <random>`:
 * - svmap finds the device (that is fine) and it stays up;
 * - svwar, by REGISTER (its default), INVITE and OPTIONS over a dictionary and range containing alice,
 *   reports no extension: every user gets the same 401 (RFC 3261 §22.4 before the user is looked at);
 * - svcrack with a wordlist without the password finds nothing, and its failed attempts trip the
 *   per-source limit (a 403, then no answers, so it gives up);
 * - no call is ever set up, and afterwards an authenticated icephone call works with tones both ways.
 * svcrack reads only the first WWW-Authenticate and knows no SHA-256 (the default order, RFC 8760
 * §2.4, stops it cold), so the cracking run faces a second answerer that offers MD5 first
 * (`--auth-algorithms MD5,SHA-256`); its legitimate caller answers the SHA-256 challenge.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

interface ToolRun { code: number | null; stdout: string; stderr: string }

/** Runs a SIPVicious tool to its end (killed after `timeoutMs`), never throwing on its exit status. */
function runTool(tool: string, args: string[], timeoutMs = 40000): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('e2e: SIPVicious scans of an authenticating answerer', function () {
  this.timeout(120000);
  const password = randomBytes(12).toString('base64url');
  const dir = testTempDir('icephone-sipvicious-');
  let main: IcephoneRun | undefined;
  let md5First: IcephoneRun | undefined;
  let mainPort = 0;
  let md5Port = 0;

  before(async function () {
    for (const tool of ['svmap', 'svwar', 'svcrack']) {
      if (which(tool)) continue;
      if (isRoot()) throw new Error(`${tool} missing although running as root: run scripts/install-deps.sh (Debian package sipvicious)`);
      process.stderr.write(`skipped: ${tool} is not installed (Debian package sipvicious; scripts/install-deps.sh as root installs it)\n`);
      this.skip();
    }
    mainPort = await freePortPair();
    md5Port = await freePortPair();
    const common = ['--user', 'alice', '--auth-user', 'alice', '--auth-pass', password, '--max-calls', '1', '--play', 'tone:660', '--json'];
    main = runIcephone(['answer', '--listen', `127.0.0.1:${mainPort}`, ...common, '--record', join(dir, 'main.wav')]);
    md5First = runIcephone(['answer', '--listen', `127.0.0.1:${md5Port}`, ...common, '--auth-algorithms', 'MD5,SHA-256', '--record', join(dir, 'md5.wav')]);
    await Promise.all([main.waitForStderr(/sip: digest authentication on/, 20000), md5First.waitForStderr(/sip: digest authentication on/, 20000)]);
  });
  after(() => {
    main?.kill('SIGKILL');
    md5First?.kill('SIGKILL');
  });

  const alive = (r: IcephoneRun | undefined) => r !== undefined && r.child.exitCode === null && r.child.signalCode === null;
  const dictionary = join(dir, 'users.txt');
  writeFileSync(dictionary, ['admin', 'bob', 'alice', 'carol', 'operator', 'test'].join('\n') + '\n');

  it('svmap finds the device, and it stays up', async () => {
    const r = await runTool('svmap', ['-p', String(mainPort), '-P', String(await freeUdpPort()), '127.0.0.1']);
    expect(r.stdout).to.include(`127.0.0.1:${mainPort}`);
    expect(r.stdout).to.match(/icephone\/\d/);
    expect(alive(main)).to.equal(true);
  });

  it('svwar sees the same 401 for unknown users and refuses to go on without --force', async () => {
    const r = await runTool('svwar', ['-d', dictionary, '-e', '100-120', '-p', String(mainPort), '-P', String(await freeUdpPort()), '127.0.0.1']);
    expect(r.stderr).to.match(/authentication request for an unknown extension/);
    expect(r.stderr).to.match(/found nothing/);
  });

  for (const method of ['REGISTER', 'INVITE', 'OPTIONS']) {
    it(`svwar --force -m ${method} over a dictionary and a range with alice reports no extension`, async () => {
      const r = await runTool('svwar', ['--force', '-m', method, '-d', dictionary, '-e', '100-120', '--maximumtime', '3', '-p', String(mainPort), '-P', String(await freeUdpPort()), '127.0.0.1']);
      // svwar prints a table of the extensions it found on stdout; an empty scan logs "found nothing".
      expect(r.stderr, r.stderr.slice(-2000)).to.match(/found nothing/);
      expect(r.stdout).not.to.match(/Extension|alice/i);
      // It did reach the answerer: alice and the rest drew the same 401.
      expect(r.stderr).to.match(new RegExp(`SIP/2\\.0 401 Unauthorized[^']*CSeq: 1 ${method}`));
      expect(alive(main)).to.equal(true);
    });
  }

  it('svcrack cannot even start against the default SHA-256-first challenge', async () => {
    const r = await runTool('svcrack', ['-u', 'alice', '-d', dictionary, '--maximumtime', '3', '-p', String(mainPort), '-P', String(await freeUdpPort()), '127.0.0.1']);
    expect(r.stderr).to.match(/found nothing/);
    expect(r.stdout).not.to.include(password);
    expect(alive(main)).to.equal(true);
  });

  it('svcrack with a wordlist without the password finds nothing and trips the rate limit (403, then silence)', async () => {
    const words = join(dir, 'passwords.txt');
    writeFileSync(words, ['123456', 'password', 'alice', 'secret', 'letmein', 'qwerty', 'welcome', 'monkey', 'dragon', 'sunshine', 'admin', '1234'].join('\n') + '\n');
    const r = await runTool('svcrack', ['-u', 'alice', '-d', words, '--maximumtime', '3', '-p', String(md5Port), '-P', String(await freeUdpPort()), '127.0.0.1']);
    expect(r.stderr).to.match(/found nothing/);
    expect(r.stdout).not.to.match(/alice/);
    // It gave up because nothing answered any more (the block), not because it ran out of passwords.
    expect(r.stderr).to.match(/since we last received a response - stopping/);
    await md5First!.waitForStderr(/sip: auth: rate limit: wrong username or password; 127\.0\.0\.1 refused for 60 s after 5 failed attempts \(403\)/, 10000);
    const failures = md5First!.stderr().match(/sip: auth: REGISTER from 127\.0\.0\.1 failed: wrong username or password/g) ?? [];
    expect(failures).to.have.length(4);
    expect(alive(md5First)).to.equal(true);
  });

  it('no call was set up by any scan; afterwards authenticated calls work with tones both ways', async () => {
    for (const r of [main!, md5First!]) {
      expect(r.stderr()).not.to.match(/sip: incoming call/);
      expect(r.summaries()).to.have.length(0);
    }
    // 127.0.0.1 is blocked on the MD5-first answerer for 60 s: that caller comes from 127.0.0.2.
    const callMain = runIcephone(['call', `sip:alice@127.0.0.1:${mainPort}`, '--listen', '127.0.0.1:0', '--auth-user', 'alice', '--auth-pass', password,
      '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller-main.wav'), '--json']);
    const callMd5 = runIcephone(['call', `sip:alice@127.0.0.1:${md5Port}`, '--listen', '127.0.0.2:0', '--auth-user', 'alice', '--auth-pass', password,
      '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller-md5.wav'), '--json', '--trace']);
    const codes = await Promise.all([exitWithin(callMain, 40000), exitWithin(callMd5, 40000), exitWithin(main!, 40000), exitWithin(md5First!, 40000)]);
    expect(codes, [callMain, callMd5, main!, md5First!].map((r) => r.stderr().slice(-1500)).join('\n----\n')).to.deep.equal([0, 0, 0, 0]);
    await assertToneInWav(join(dir, 'caller-main.wav'), 660);
    await assertToneInWav(join(dir, 'main.wav'), 440);
    await assertToneInWav(join(dir, 'caller-md5.wav'), 660);
    await assertToneInWav(join(dir, 'md5.wav'), 440);
    // sip.js sees the last challenge, SHA-256 here: answered with the adapter's SHA-256 (RFC 8760).
    expect(callMd5.stderr()).to.match(/^Authorization: Digest algorithm=SHA-256, username="alice"/m);
    expect(main!.summaries()).to.have.length(1);
    expect(md5First!.summaries()).to.have.length(1);
    // Final counters: one accepted request each; the cracker was blocked once and refused at least once.
    expect(main!.stderr()).to.match(/sip: auth: \d+ challenged, 1 accepted, 0 failed, 0 stale, 0 refused \(rate limit\), 0 sources blocked/);
    const m = /sip: auth: \d+ challenged, 1 accepted, 5 failed, 0 stale, (\d+) refused \(rate limit\), 1 sources blocked/.exec(md5First!.stderr());
    expect(m, md5First!.stderr().slice(-1500)).to.not.equal(null);
    expect(Number(m![1])).to.be.greaterThan(1);
  });
});
