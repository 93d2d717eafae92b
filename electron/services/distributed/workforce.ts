// The workers a job runs on: those connected to a Redis server, `local` workers started in this
// process behind the in-memory queue, or worker processes of this machine (one per GPU). Either
// way the job sees one WorkQueue.
import os from 'node:os';
import type { ModelSource, WorkersChoice } from '../../common/jobs.js';
import { defaultCacheDir } from '../../../native/runtime/cache.js';
import type { Backend } from '../../../native/runtime/backend.js';
import type { LoadedModel } from '../../../native/sdxl/load.js';
import { chooseBackend } from '../jobs/preflight.js';
import { WorkerProcessQueue } from './childQueue.js';
import { resolveGpus } from './gpus.js';
import { MemoryWorkQueue } from './memoryQueue.js';
import { modelHash } from './modelHash.js';
import { RedisWorkQueue } from './redisQueue.js';
import { redisTarget } from './redisTarget.js';
import { TaskHandler } from './taskHandler.js';
import type { Task, WorkerInfo } from './tasks.js';
import type { TaskSource, WorkQueue } from './workQueue.js';

export interface Workforce {
  queue: WorkQueue;
  /** The content hash of the project's model, which every worker must have. */
  modelHash: string;
  stop(): Promise<void>;
}

/** What a worker says about itself. */
export function describeWorker(
  id: string,
  backend: Backend,
  model: LoadedModel,
  hash: string,
  gpu: number | null,
): WorkerInfo {
  // The native CUDA backend knows its device's free memory; ONNX Runtime's providers do not say.
  const gpuFree = (backend as { device?: { freeMemory?: number } }).device?.freeMemory;
  return {
    id,
    host: os.hostname(),
    pid: process.pid,
    backend: backend.info.label,
    freeMemoryBytes: gpuFree ?? os.freemem(),
    freeMemoryOf: gpuFree === undefined ? 'host' : 'GPU',
    modelPath: model.path,
    modelHash: hash,
    gpu,
  };
}

/** One line about a worker for the user. */
export const workerInfoText = (w: WorkerInfo) =>
  `${w.id}: ${w.backend}${w.gpu === null ? '' : ` (GPU ${w.gpu})`}, ${(w.freeMemoryBytes / 2 ** 30).toFixed(1)} GiB ${w.freeMemoryOf} memory free, model ${w.modelHash.slice(0, 12)}`;

/** Serves `source` with `handler` until the source stops; `log` hears of each task. */
export function serveTasks(
  source: TaskSource,
  info: WorkerInfo,
  handler: TaskHandler,
  log?: (line: string) => void,
): Promise<void> {
  const handle = async (task: Task) => {
    const what =
      task.kind === 'keypoints'
        ? `${task.images.length} images`
        : task.kind === 'vote'
          ? `vote ${task.vote + 1}`
          : `gradient of step ${task.step + 1}`;
    log?.(`working on ${what} of run ${task.run.slice(0, 8)}`);
    try {
      const result = await handler.handle(task);
      log?.(`done: ${what} of run ${task.run.slice(0, 8)} in ${result.seconds.toFixed(1)} s`);
      return result;
    } catch (e) {
      log?.(`task of run ${task.run.slice(0, 8)} not done: ${(e as Error).message}`);
      throw e;
    }
  };
  return source.serve(info, handle).finally(() => handler.release());
}

export async function openWorkforce(
  choice: WorkersChoice,
  source: ModelSource,
  model: LoadedModel,
  backendPreference: string | undefined,
  log: (line: string) => void,
): Promise<Workforce> {
  if ('gpus' in choice || 'processes' in choice) {
    const gpus = 'gpus' in choice ? resolveGpus(choice.gpus) : Array.from({ length: choice.processes }, () => null);
    const hash = modelHash(model, defaultCacheDir());
    log(`starting ${gpus.length} worker process${gpus.length === 1 ? '' : 'es'}…`);
    const queue = await WorkerProcessQueue.start({ gpus, model: source, backend: backendPreference });
    for (const info of queue.ready()) log(`worker process ${workerInfoText(info)}`);
    return { queue, modelHash: hash, stop: () => queue.close() };
  }
  if ('redis' in choice) {
    const queue = await RedisWorkQueue.connect(redisTarget(choice.redis));
    let hash: string;
    try {
      hash = modelHash(model, defaultCacheDir());
    } catch (e) {
      await queue.close();
      throw e;
    }
    const workers = await queue.workers();
    const same = workers.filter((w) => w.modelHash === hash);
    log(
      workers.length === 0
        ? `no worker is connected to ${queue.where} yet; the work waits for one (skp worker --redis ${queue.where} --model ${model.path})`
        : `${workers.length} worker${workers.length === 1 ? '' : 's'} connected to ${queue.where} (${same.length} with this project's model ${hash.slice(0, 12)}): ${workers.map(workerInfoText).join('; ')}`,
    );
    return { queue, modelHash: hash, stop: () => queue.close() };
  }
  const hash = modelHash(model, defaultCacheDir());
  const queue = new MemoryWorkQueue(choice.local);
  const serving: Array<Promise<void>> = [];
  for (let n = 0; n < choice.local; n++) {
    const backend = await chooseBackend(backendPreference);
    const id = `${os.hostname()}:${process.pid}#${n + 1}`;
    const source = queue.source();
    const info = describeWorker(id, backend, model, hash, null);
    serving.push(serveTasks(source, info, new TaskHandler(id, model, hash, backend, source)));
    log(`local worker ${workerInfoText(info)}`);
  }
  return {
    queue,
    modelHash: hash,
    stop: async () => {
      await queue.close();
      await Promise.all(serving);
    },
  };
}
