// The work-queue interface between a coordinator (the process that owns the project and is its
// only writer) and the workers that compute. Three implementations: BullMQ on Redis (workers on
// other GPUs and machines), an in-memory queue (workers in the coordinator's own process) and
// worker processes of this machine fed over IPC (one per GPU, childQueue.ts).
import type { Task, TaskResult, WorkerInfo } from './tasks.js';

export interface QueuedTask {
  /** Idempotent: submitting an id that is already queued, running or done adds nothing. */
  id: string;
  task: Task;
}

export interface RunTasksOptions {
  signal?: AbortSignal;
  /** Things the user should know while waiting: a worker refusing the run, Redis going away. */
  onNotice?: (message: string) => void;
}

/** The coordinator's side. */
export interface WorkQueue {
  /** Where the workers are, for messages: "redis://host:6379" or "2 workers in this process". */
  readonly where: string;
  /** Stores `bytes` under the run for every worker to read, once (not per task), while the run lives. */
  share(run: string, field: string, bytes: Uint8Array): Promise<void>;
  /** Drops a shared field the run no longer needs (the tokens of a finished step). */
  unshare(run: string, field: string): Promise<void>;
  /**
   * Runs the tasks and hands over each one's result exactly once, as it comes; resolves when all
   * are in. A task that fails for good rejects with the worker's reason.
   */
  runTasks(
    tasks: QueuedTask[],
    onResult: (id: string, result: TaskResult) => Promise<void> | void,
    opts?: RunTasksOptions,
  ): Promise<void>;
  /** The workers connected now. */
  workers(): Promise<WorkerInfo[]>;
  close(): Promise<void>;
}

/** The worker's side. */
export interface TaskSource {
  readonly where: string;
  /** A field shared by the run's coordinator, or null when it is gone (the run expired). */
  fetch(run: string, field: string): Promise<Uint8Array | null>;
  /** Takes tasks one at a time and answers each with `handle`'s result, until stop(). */
  serve(info: WorkerInfo, handle: (task: Task) => Promise<TaskResult>): Promise<void>;
  stop(): Promise<void>;
}

/** This worker will not do this run's tasks (a different model); another worker may. */
export class TaskRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TaskRefused';
  }
}

/** The task cannot succeed anywhere (bad payload, the run's data expired): no retry. */
export class TaskUnworkable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TaskUnworkable';
  }
}
