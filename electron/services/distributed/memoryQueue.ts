// The work queue inside one process (`--local-workers`): the same tasks, results,
// retries and shared run data as on Redis, for workers that are async loops of this process.
import { RunCancelled } from '../../../native/keypoints/method.js';
import type { Task, TaskResult, WorkerInfo } from './tasks.js';
import {
  TaskRefused,
  TaskUnworkable,
  type QueuedTask,
  type RunTasksOptions,
  type TaskSource,
  type WorkQueue,
} from './workQueue.js';

/** Tries per task before its failure ends the run (a worker that failed once may succeed again). */
const ATTEMPTS = 3;
const BACKOFF_MS = 200;

interface Entry {
  id: string;
  task: Task;
  attempts: number;
  deliver(result: TaskResult): void;
  fail(e: Error): void;
}

export class MemoryWorkQueue implements WorkQueue {
  readonly where: string;
  private readonly shared = new Map<string, Uint8Array>();
  private readonly waiting: Entry[] = [];
  private readonly wakers: Array<() => void> = [];
  private readonly connected = new Map<string, WorkerInfo>();
  private stopped = false;

  constructor(workerCount: number) {
    this.where = `${workerCount} worker${workerCount === 1 ? '' : 's'} in this process`;
  }

  async share(run: string, field: string, bytes: Uint8Array): Promise<void> {
    // A copy: the caller goes on changing its tokens after the step.
    this.shared.set(`${run}:${field}`, Uint8Array.from(bytes));
  }

  async unshare(run: string, field: string): Promise<void> {
    this.shared.delete(`${run}:${field}`);
  }

  async workers(): Promise<WorkerInfo[]> {
    return [...this.connected.values()];
  }

  runTasks(
    tasks: QueuedTask[],
    onResult: (id: string, result: TaskResult) => Promise<void> | void,
    opts: RunTasksOptions = {},
  ): Promise<void> {
    const unique = [...new Map(tasks.map((t) => [t.id, t])).values()];
    return new Promise<void>((resolve, reject) => {
      let left = unique.length;
      let failed = false;
      const mine = new Set<Entry>();
      const stop = (e: Error) => {
        if (failed) return;
        failed = true;
        for (let i = this.waiting.length - 1; i >= 0; i--) if (mine.has(this.waiting[i]!)) this.waiting.splice(i, 1);
        opts.signal?.removeEventListener('abort', cancel);
        reject(e);
      };
      const cancel = () => stop(new RunCancelled());
      if (opts.signal?.aborted) return cancel();
      opts.signal?.addEventListener('abort', cancel, { once: true });
      if (left === 0) return resolve();
      for (const { id, task } of unique) {
        const entry: Entry = {
          id,
          task,
          attempts: 0,
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
        this.push(entry);
      }
    });
  }

  /** One worker's view of the queue. */
  source(): TaskSource {
    return {
      where: this.where,
      fetch: async (run, field) => this.shared.get(`${run}:${field}`) ?? null,
      serve: (info, handle) => this.serve(info, handle),
      stop: async () => this.close(),
    };
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers.splice(0)) wake();
  }

  private push(entry: Entry): void {
    this.waiting.push(entry);
    this.wakers.shift()?.();
  }

  private async next(): Promise<Entry | null> {
    while (!this.stopped) {
      const entry = this.waiting.shift();
      if (entry) return entry;
      await new Promise<void>((wake) => this.wakers.push(wake));
    }
    return null;
  }

  private async serve(info: WorkerInfo, handle: (task: Task) => Promise<TaskResult>): Promise<void> {
    this.connected.set(info.id, info);
    try {
      for (let entry = await this.next(); entry; entry = await this.next()) {
        try {
          entry.deliver(await handle(entry.task));
        } catch (e) {
          const error = e as Error;
          entry.attempts += 1;
          // Every worker of this process has the project's model, so a refusal would repeat.
          if (error instanceof TaskUnworkable || error instanceof TaskRefused || entry.attempts >= ATTEMPTS) {
            entry.fail(new Error(`task ${entry.id} failed on ${info.id}: ${error.message}`));
          } else {
            const again = entry;
            setTimeout(() => this.push(again), BACKOFF_MS * 2 ** (entry.attempts - 1));
          }
        }
      }
    } finally {
      this.connected.delete(info.id);
    }
  }
}
