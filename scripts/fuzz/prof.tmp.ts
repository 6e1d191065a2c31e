import { InputSource, runOne } from './engine.js';
import { targetNamed } from './targets/index.js';
const t = targetNamed(process.argv[2]!)!;
const n = Number(process.argv[3] ?? 20000);
const src = new InputSource(t, 1);
for (let i = 0; i < 200; i++) runOne(t, src.at(i));
let gen = 0, run = 0, bytes = 0; const bySlot = new Array(10).fill(0); const lenBySlot = new Array(10).fill(0);
for (let i = 200; i < n; i++) {
  const a = performance.now(); const inp = src.at(i); const b = performance.now(); runOne(t, inp); const c = performance.now();
  gen += b - a; run += c - b; bytes += inp.length; bySlot[i % 10] += c - b; lenBySlot[i % 10] += inp.length;
}
const m = n - 200;
console.log(t.name, 'gen us', (gen * 1000 / m).toFixed(1), 'run us', (run * 1000 / m).toFixed(1), 'avg len', (bytes / m).toFixed(0));
console.log(' run us by slot', bySlot.map((x) => (x * 1000 / (m / 10)).toFixed(0)).join(' '), '\n len by slot', lenBySlot.map((x) => (x / (m / 10)).toFixed(0)).join(' '));
