// The index vote on workers: one task per voting image (its place in the vote decides its
// noise), the selections collected here in vote order, so the K indices chosen from them are
// those a single process chooses. The run's tokens are shared once.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ImageRecord } from '../../common/images.js';
import type { VoteEvaluator } from '../../../native/keypoints/method.js';
import type { RunSettings } from '../../../native/keypoints/settings.js';
import type { RunSpec } from './tasks.js';
import type { WorkQueue } from './workQueue.js';

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export async function votesOnWorkers(
  queue: WorkQueue,
  work: { modelHash: string; settings: RunSettings; tokens: Float32Array; images: ImageRecord[] },
  log: (line: string) => void,
): Promise<VoteEvaluator> {
  const tokens = new Uint8Array(work.tokens.buffer, work.tokens.byteOffset, work.tokens.byteLength);
  const run = sha256(JSON.stringify(['vote', work.modelHash, work.settings]) + sha256(tokens)).slice(0, 32);
  const spec: RunSpec = { modelHash: work.modelHash, settings: work.settings as unknown as RunSpec['settings'] };
  await queue.share(run, 'spec', new TextEncoder().encode(JSON.stringify(spec)));
  await queue.share(run, 'tokens', tokens);
  return {
    async votes(plans, _tokens, opts) {
      const selections: Array<number[] | null> = plans.map(() => null);
      const tasks = plans.map((plan) => {
        const image = work.images[plan.imageIndex]!;
        const bytes = fs.readFileSync(image.absolutePath);
        return {
          id: `v.${run}.${plan.vote}.${sha256(bytes).slice(0, 16)}`,
          task: {
            kind: 'vote' as const,
            run,
            vote: plan.vote,
            image: { id: image.id, name: image.absolutePath, bytes: bytes.toString('base64') },
          },
        };
      });
      const slot = new Map(tasks.map((t, n) => [t.id, n]));
      let done = 0;
      await queue.runTasks(
        tasks,
        (id, result) => {
          if (result.kind !== 'vote') return;
          selections[slot.get(id)!] = result.selected;
          opts.onVoted?.((done += 1));
        },
        { signal: opts.signal, onNotice: log },
      );
      return selections as number[][];
    },
    release: async () => {
      await queue.unshare(run, 'tokens');
      await queue.unshare(run, 'spec');
    },
  };
}
