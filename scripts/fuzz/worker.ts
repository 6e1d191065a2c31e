/**
 * One fuzz target in a worker thread (started by run.ts through worker-boot.mjs). Writes the index
 * of the input about to run into the shared counter, so the runner's watchdog can name an input
 * that never returns; posts progress and, at the end, the report.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTarget, type TargetReport } from './engine.js';
import { regressionInputs, targetNamed } from './targets/index.js';

export interface WorkerJob {
  entry: string;
  target: string;
  inputs: number;
  start: number;
  seed: number;
  slowMs: number;
  progress: SharedArrayBuffer;
}

export type WorkerMessage = { kind: 'progress'; done: number } | { kind: 'report'; report: TargetReport };

const job = workerData as WorkerJob;
const target = targetNamed(job.target);
if (!target) throw new Error(`no fuzz target ${job.target}`);
const report = runTarget(target, {
  inputs: job.inputs,
  start: job.start,
  seed: job.seed,
  slowMs: job.slowMs,
  extraSeeds: regressionInputs(target.name),
  progress: new Int32Array(job.progress),
  progressEvery: 5000,
  onProgress: (done) => parentPort!.postMessage({ kind: 'progress', done } satisfies WorkerMessage),
});
parentPort!.postMessage({ kind: 'report', report } satisfies WorkerMessage);
