// One call of runTasks on a queue that holds its tasks in this process (the in-process and the
// child-process queues): each unique task becomes an entry workers take, results reach the
// caller as they come, and the first failure or a cancellation ends the batch, taking its
// entries still waiting off the queue.
import { RunCancelled } from '../../../native/keypoints/method.js';
import type { Task, TaskResult } from './tasks.js';
import type { QueuedTask, RunTasksOptions } from './workQueue.js';

/** What a queue keeps of one task while workers compute it. */
export interface BatchEntry {
  id: string;
  task: Task;
  attempts: number;
  /** Its batch still waits for it (false once the batch failed or was cancelled). */
  wanted(): boolean;
  notice(message: string): void;
  deliver(result: TaskResult): void;
  fail(e: Error): void;
}

export interface BatchQueue {
  /** Entries not yet taken by a worker; those of an ended batch are removed. */
  readonly waiting: BatchEntry[];
  /** Why no task can run now (no worker left), checked before the batch is queued. */
  refusal?(): Error | null;
  /** Queues one entry (and wakes a worker). */
  add(entry: BatchEntry): void;
}

export function runBatch(
  queue: BatchQueue,
  tasks: QueuedTask[],
  onResult: (id: string, result: TaskResult) => Promise<void> | void,
  opts: RunTasksOptions,
): Promise<void> {
  const unique = [...new Map(tasks.map((t) => [t.id, t])).values()];
  return new Promise<void>((resolve, reject) => {
    let left = unique.length;
    let failed = false;
    const mine = new Set<BatchEntry>();
    const stop = (e: Error) => {
      if (failed) return;
      failed = true;
      for (let i = queue.waiting.length - 1; i >= 0; i--) if (mine.has(queue.waiting[i]!)) queue.waiting.splice(i, 1);
      opts.signal?.removeEventListener('abort', cancel);
      reject(e);
    };
    const cancel = () => stop(new RunCancelled());
    if (opts.signal?.aborted) return cancel();
    opts.signal?.addEventListener('abort', cancel, { once: true });
    if (left === 0) return resolve();
    const refused = queue.refusal?.();
    if (refused) return stop(refused);
    for (const { id, task } of unique) {
      const entry: BatchEntry = {
        id,
        task,
        attempts: 0,
        wanted: () => !failed,
        notice: (message) => opts.onNotice?.(message),
        deliver: (result) => {
          if (failed) return;
          Promise.resolve(onResult(id, result)).then(() => {
            left -= 1;
            if (left === 0 && !failed) {
              opts.signal?.removeEventListener('abort', cancel);
              resolve();
            }
          }, stop);
        },
        fail: stop,
      };
      mine.add(entry);
      queue.add(entry);
    }
  });
}
