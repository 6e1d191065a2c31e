// Benchmark-only preload (scripts/bench/scale.ts, rss-after-load): with `node --expose-gc`, SIGWINCH
// runs a full garbage collection in the answerer, so the RSS read afterwards is what the process
// still holds rather than garbage V8 has not collected yet (an idle process allocates nothing, so
// it never collects on its own). The product itself never calls gc().
if (typeof globalThis.gc === 'function') process.on('SIGWINCH', () => globalThis.gc());
