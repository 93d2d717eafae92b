// Starts a job's worker thread. A compiled build runs worker.js directly; from TypeScript
// sources (tsx, vitest) the thread first registers tsx's loader itself, because on Node 20 a
// worker does not pick up `--import tsx` hooks for its entry file.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerInput } from './messages.js';

export function startJobWorker(input: WorkerInput): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker.js', here), { workerData: input });
  const tsxFolder = path.dirname(createRequire(here).resolve('tsx/package.json'));
  const loader = pathToFileURL(path.join(tsxFolder, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./worker.ts', here).href;
  const bootstrap = `import(${JSON.stringify(loader)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: input });
}
