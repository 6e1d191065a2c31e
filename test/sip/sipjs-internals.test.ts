/**
 * The sip.js adapter (lib/sip/sipjs/): every internal icephone relies on exists in the pinned
 * sip.js, and importing icephone changes nothing in sip.js until a Phone is made.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SIPJS_INTERNALS, missingSipJsInternals } from '../../lib/sip/sipjs/internals.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('sip.js adapter (lib/sip/sipjs)', () => {
  for (const internal of SIPJS_INTERNALS) {
    it(`pinned sip.js has ${internal.name} (used by lib/sip/${internal.usedBy})`, () => {
      expect(internal.present(), `${internal.name} is missing or changed kind: re-check lib/sip/${internal.usedBy}`).to.equal(true);
    });
  }

  it('reports nothing missing', () => {
    expect(missingSipJsInternals()).to.deep.equal([]);
  });

  it('importing icephone changes nothing in sip.js; making a Phone installs the adapter and leaves AllowedMethods alone', function () {
    this.timeout(30000);
    // A fresh process: what a host application that also uses sip.js would see.
    const script = `
      import { Grammar, Invitation, Inviter } from 'sip.js';
      import { AllowedMethods } from 'sip.js/lib/core/user-agent-core/allowed-methods.js';
      const before = { parse: Grammar.parse, ack: Invitation.prototype.onAckTimeout, notify: Inviter.prototype.notifyReferer, allowed: [...AllowedMethods] };
      const icephone = await import(${JSON.stringify(join(root, 'lib', 'index.ts'))});
      const afterImport = Grammar.parse === before.parse && Invitation.prototype.onAckTimeout === before.ack && Inviter.prototype.notifyReferer === before.notify && AllowedMethods.join() === before.allowed.join();
      const phone = await icephone.Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'] } });
      const afterPhone = { parse: Grammar.parse !== before.parse, ack: Invitation.prototype.onAckTimeout !== before.ack, notify: Inviter.prototype.notifyReferer !== before.notify, allowed: AllowedMethods.join() === before.allowed.join() };
      await phone.stop();
      console.log(JSON.stringify({ afterImport, afterPhone }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.afterImport, 'sip.js untouched by import').to.equal(true);
    // AllowedMethods is shared by every sip.js UserAgent in the process: a Phone leaves it as sip.js
    // ships it and rewrites Allow on its own messages instead (lib/sip/sipjs/allow-header.ts).
    expect(result.afterPhone).to.deep.equal({ parse: true, ack: true, notify: true, allowed: true });
  });
});
