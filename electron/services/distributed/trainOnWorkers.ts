// Data-parallel training: each optimiser step's batch of iterations goes to the workers, one task
// per iteration, and their token gradients come back here, where trainTokens sums them in
// iteration order and takes the AdamW step. The step's tokens are shared once per step.
//
// "Identical to one worker" is bitwise: a worker runs IterationRunner.run, the very call the
// single process makes, on the same image bytes (decoded the same way), the same draws (a
// function of the seed and the iteration number) and the same tokens; on the same kind of backend
// it gives the same float32 gradient, and the coordinator adds the gradients in the same order
// with the same float32 roundings (GradientAccumulator), so AdamW sees the same numbers. Workers
// with different backends (a CPU and a GPU) would not give bitwise equal gradients, and neither
// would two single-process runs on them. Workers may join or leave between steps (or during
// one: an iteration whose worker died is recomputed by another, to the same bits).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ImageRecord } from '../../common/images.js';
import type { BatchEvaluator, IterationResult } from '../../../native/keypoints/method.js';
import type { RunSettings } from '../../../native/keypoints/settings.js';
import { floatsOf, type RunSpec } from './tasks.js';
import { WorkerRates } from './workerRates.js';
import type { WorkQueue } from './workQueue.js';

export interface TrainingWork {
  runId: number;
  modelHash: string;
  settings: RunSettings;
  /** The training images, in the order the schedule's image indices refer to. */
  images: ImageRecord[];
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const bytesOfTokens = (tokens: Float32Array) => new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);

export async function workersEvaluator(
  queue: WorkQueue,
  work: TrainingWork,
  log: (line: string) => void,
): Promise<BatchEvaluator> {
  const run = sha256(
    JSON.stringify(['train', work.runId, work.modelHash, work.settings, work.images.map((i) => i.id)]),
  ).slice(0, 32);
  const spec: RunSpec = { modelHash: work.modelHash, settings: work.settings as unknown as RunSpec['settings'] };
  await queue.share(run, 'spec', new TextEncoder().encode(JSON.stringify(spec)));
  const rates = new WorkerRates();
  return {
    async evaluate(plans, tokens, signal) {
      const step = plans[0]!.step;
      const field = `tokens.${step}`;
      const tokenBytes = bytesOfTokens(tokens);
      await queue.share(run, field, tokenBytes);
      const version = sha256(tokenBytes).slice(0, 16);
      const results: Array<IterationResult | null> = plans.map(() => null);
      const tasks = plans.map((plan, b) => {
        const image = work.images[plan.imageIndex]!;
        return {
          id: `g.${run}.${step}.${b}.${version}`,
          task: {
            kind: 'gradient' as const,
            run,
            step,
            iteration: plan.iteration,
            image: {
              id: image.id,
              name: image.absolutePath,
              bytes: fs.readFileSync(image.absolutePath).toString('base64'),
            },
          },
        };
      });
      const slot = new Map(tasks.map((t, b) => [t.id, b]));
      await queue.runTasks(
        tasks,
        (id, result) => {
          if (result.kind !== 'gradient') return;
          results[slot.get(id)!] = {
            loss: result.loss,
            sharpening: result.sharpening,
            equivariance: result.equivariance,
            gradient: floatsOf(result.gradient, `gradient of task ${id}`, tokens.length),
          };
          rates.add(result.worker, 1);
        },
        { signal, onNotice: log },
      );
      await queue.unshare(run, field);
      log(`step ${step + 1} workers: ${rates.text()}`);
      return results as IterationResult[];
    },
    // Each worker reads, decodes and encodes its task's image itself.
    ahead: () => undefined,
    release: () => queue.unshare(run, 'spec'),
  };
}
