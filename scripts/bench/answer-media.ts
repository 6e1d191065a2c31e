/**
 * Benchmark 4: time from answer (the caller gets the 200 OK) to two-way media (both ends have
 * received RTP), median and p95, in the same run for:
 *  - icephone↔icephone: two library Phones in one child process on 127.0.0.1 (ICE host candidates);
 *  - baresip↔baresip: baresip 1.0.0 in two network namespaces joined by a veth pair (its ice module
 *    skips loopback, see test/helpers/baresip.ts); alice dials bob, both with medianat=ice. Times are
 *    this process's clock at the output lines "Call established" (alice) and "incoming rtp for
 *    'audio' established" (each side);
 *  - icephone↔baresip: a library Phone in one namespace calling baresip bob in the other.
 * Every call goes through ICE checks before media in all three.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startBaresip, baresipAvailable, type BaresipInstance } from '../../test/helpers/baresip.js';
import { NetnsLab, netnsSupport } from '../../test/helpers/netns.js';
import { ROOT, TINY, median, percentile, ratio, round, sleep, type BenchRow } from './common.js';

const CHILD = join(ROOT, 'scripts', 'bench', 'answer-media-child.ts');
const A_IP = '198.51.100.1';
const B_IP = '198.51.100.2';

async function runChild(prefix: string[], args: string[]): Promise<Array<{ answerAt?: number; callerRxAt?: number; calleeRxAt?: number }>> {
  const argv = [...prefix, process.execPath, '--import', 'tsx', CHILD, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
  if (code !== 0) throw new Error(`answer-media child exited ${code}: ${err}`);
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function stats(samples: number[]): { median: number | null; p95: number | null } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: round(median(s), 1), p95: round(percentile(s, 95), 1) };
}

export async function benchAnswerToMedia(log: (s: string) => void): Promise<BenchRow[]> {
  const calls = TINY ? 1 : 20;
  const results: Record<string, number[]> = {};
  const notes: Record<string, string> = {};

  // icephone <-> icephone on loopback.
  const self = await runChild([], ['127.0.0.1', 'self', String(calls), TINY ? '300' : '1000']);
  results['icephone↔icephone'] = self.filter((r) => r.answerAt && r.callerRxAt && r.calleeRxAt).map((r) => Math.max(r.callerRxAt!, r.calleeRxAt!) - r.answerAt!);
  log(`answer-to-media: icephone↔icephone ${JSON.stringify(stats(results['icephone↔icephone']))}`);

  const ns = netnsSupport();
  if (!ns.ok || !baresipAvailable()) {
    notes['baresip'] = ns.ok ? 'baresip not installed' : ns.reason!;
  } else {
    const lab = new NetnsLab();
    let bob: BaresipInstance | undefined;
    try {
      const nsA = lab.createNamespace('a');
      const nsB = lab.createNamespace('b');
      lab.connect(nsA, `${A_IP}/24`, nsB, `${B_IP}/24`);
      bob = await startBaresip({ listenPort: 5060, user: 'bob', host: B_IP, netns: nsB, echo: false });
      let bobRx: number | undefined;
      bob.process.onLine((l) => { if (/incoming rtp for '\S+' established/.test(l)) bobRx ??= Date.now(); });

      // baresip <-> baresip
      const bb: number[] = [];
      for (let i = 0; i < calls; i++) {
        bobRx = undefined;
        let answerAt: number | undefined;
        let aliceRx: number | undefined;
        const alice = await startBaresip({ listenPort: 5070 + 2 * (i % 10), user: 'alice', host: A_IP, netns: nsA, dial: `sip:bob@${B_IP}:5060`, echo: false });
        alice.process.onLine((l) => {
          if (/Call established/.test(l)) answerAt ??= Date.now();
          if (/incoming rtp for '\S+' established/.test(l)) aliceRx ??= Date.now();
        });
        const deadline = Date.now() + 15000;
        while (Date.now() < deadline && (answerAt === undefined || aliceRx === undefined || bobRx === undefined)) await sleep(5);
        if (answerAt !== undefined && aliceRx !== undefined && bobRx !== undefined) bb.push(Math.max(aliceRx, bobRx) - answerAt);
        await alice.stop();
        alice.remove();
        await sleep(300);
      }
      results['baresip↔baresip'] = bb;
      log(`answer-to-media: baresip↔baresip ${JSON.stringify(stats(bb))}`);

      // icephone -> baresip
      const ib: number[] = [];
      const records: Array<{ answerAt?: number; callerRxAt?: number }> = [];
      const bobRxTimes: number[] = [];
      const off = bob.process.onLine((l) => { if (/incoming rtp for '\S+' established/.test(l)) bobRxTimes.push(Date.now()); });
      records.push(...await runChild(['ip', 'netns', 'exec', nsA], [A_IP, `sip:bob@${B_IP}:5060`, String(calls), TINY ? '300' : '1000']));
      off();
      for (const r of records) {
        const bRx = bobRxTimes.find((t) => r.answerAt !== undefined && t >= r.answerAt - 2000 && t <= r.answerAt + 15000);
        if (r.answerAt && r.callerRxAt && bRx) ib.push(Math.max(r.callerRxAt, bRx) - r.answerAt);
      }
      results['icephone↔baresip'] = ib;
      log(`answer-to-media: icephone↔baresip ${JSON.stringify(stats(ib))}`);
    } catch (e) {
      notes['baresip'] = `baresip runs failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    } finally {
      await bob?.stop().catch(() => undefined);
      bob?.remove();
      lab.destroy();
    }
  }

  const bare = results['baresip↔baresip'] ? stats(results['baresip↔baresip']) : undefined;
  const rows: BenchRow[] = [];
  for (const pairName of ['icephone↔icephone', 'baresip↔baresip', 'icephone↔baresip']) {
    const samples = results[pairName];
    const s = samples ? stats(samples) : { median: null, p95: null };
    const isIce = pairName === 'icephone↔icephone';
    rows.push({
      benchmark: 'answer-to-media', metric: `${pairName} median (${samples?.length ?? 0}/${calls} calls)`, value: s.median, unit: 'ms',
      ...(pairName !== 'baresip↔baresip' && bare ? { baseline: { name: 'baresip↔baresip', value: bare.median, ratio: ratio(s.median, bare.median) } } : {}),
      ...(isIce ? { target: '<= baresip↔baresip median', met: TINY || !bare || s.median === null || bare.median === null ? null : s.median <= bare.median } : {}),
      note: samples ? undefined : notes['baresip'],
    });
    rows.push({ benchmark: 'answer-to-media', metric: `${pairName} p95`, value: s.p95, unit: 'ms' });
  }
  return rows;
}
