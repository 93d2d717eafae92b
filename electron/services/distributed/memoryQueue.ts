// The work queue inside one process (`--local-workers`): the same tasks, results,
// retries and shared run data as on Redis, for workers that are async loops of this process.
import { runBatch, type BatchEntry } from './taskBatch.js';
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

export class MemoryWorkQueue implements WorkQueue {
  readonly where: string;
  private readonly shared = new Map<string, Uint8Array>();
  private readonly waiting: BatchEntry[] = [];
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
    return runBatch({ waiting: this.waiting, add: (entry) => this.push(entry) }, tasks, onResult, opts);
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

  private push(entry: BatchEntry): void {
    this.waiting.push(entry);
    this.wakers.shift()?.();
  }

  private async next(): Promise<BatchEntry | null> {
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
