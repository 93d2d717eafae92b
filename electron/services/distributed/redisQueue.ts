// The work queue on Redis through BullMQ: one job per task with an idempotent id, retries with
// backoff, stalled-job recovery (a worker that stops renewing its lock, e.g. killed, loses the
// job to another). The coordinator looks at its jobs' states whenever a job finishes (an event,
// jobFinishes.ts) and every second without one, so a Redis that restarted empty is noticed (its
// jobs are "unknown") and the jobs and run data are put back; results already written to the
// project are never asked for again.
//
// Keys under the prefix "skp": BullMQ's queue "work"; skp:run:<run>:<field> (run data, expiring
// unless the coordinator keeps refreshing it: a coordinator that quit leaves its jobs to fail
// "run expired" and be removed); skp:run:<run>:refused (why workers refused the run);
// skp:worker:<id> (each connected worker, expiring unless it keeps announcing itself).
import { createIORedisClient, DelayedError, Job, Queue, UnrecoverableError, Worker, type IRedisClient } from 'bullmq';
import { RunCancelled } from '../../../native/keypoints/method.js';
import { JobFinishes } from './jobFinishes.js';
import { answerMs, connectRedis, redisFailure, RedisUnanswered, type RedisTarget } from './redisTarget.js';
import { Redis } from 'ioredis';
import {
  taskResultSchema,
  taskSchema,
  workerInfoSchema,
  type Task,
  type TaskResult,
  type WorkerInfo,
} from './tasks.js';
import {
  TaskRefused,
  TaskUnworkable,
  type QueuedTask,
  type RunTasksOptions,
  type TaskSource,
  type WorkQueue,
} from './workQueue.js';

export const PREFIX = 'skp';
export const QUEUE = 'work';
/** How often the coordinator looks at its jobs when no event says one finished. */
const LOOK_MS = 1000;
/** Run data outlives its coordinator by this long; then the run's leftover jobs fail and go. */
const RUN_TTL_S = 120;
const REFRESH_MS = 10_000;
const WORKER_TTL_S = 30;
const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 3600 },
} as const;

/**
 * A connection for a BullMQ Queue (`blocking` false) or Worker. BullMQ leaves a connection it was
 * given open when it closes, so its owner disconnects it; errors while Redis is away are BullMQ's
 * to retry.
 */
export function bullConnection(target: RedisTarget, { blocking }: { blocking: boolean }): IRedisClient {
  // Commands wait out a Redis restart rather than fail after N retries. A queue's commands are
  // bounded all the same, so a stuck server fails them; a worker's blocking reads cannot be.
  const client = createIORedisClient(
    new Redis({
      ...target.options,
      maxRetriesPerRequest: null,
      ...(blocking ? {} : { commandTimeout: answerMs(target), connectTimeout: answerMs(target) }),
    }),
  );
  client.on('error', () => undefined);
  return client;
}
const runKey = (run: string, field: string) => `${PREFIX}:run:${run}:${field}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Plain commands on one connection, reconnecting on the next command after Redis went away. Each
 * fails within answerMs, with an error naming the server.
 */
class Commands {
  private client: Redis | null = null;
  constructor(private readonly target: RedisTarget) {}

  async send<T>(command: string, args: string[]): Promise<T> {
    if (this.client?.status !== 'ready') {
      this.client?.disconnect();
      this.client = null;
      this.client = await connectRedis(this.target);
    }
    try {
      return (await this.client.call(command, ...args)) as T;
    } catch (e) {
      // An error reply (a wrong type, out of memory) leaves the connection usable; a timeout does not.
      if (/Command timed out/.test((e as Error).message)) {
        // Its socket may take a while to close; the next command takes a new one.
        this.client.disconnect();
        this.client = null;
      }
      throw new Error(`Redis at ${this.target.label}: ${redisFailure(this.target, e)}`, { cause: e });
    }
  }

  close(): void {
    this.client?.disconnect();
  }
}

/** An error of the run itself (not of reaching Redis): it ends runTasks. */
class RunFailure extends Error {}

export class RedisWorkQueue implements WorkQueue {
  readonly where: string;
  private readonly shared = new Map<string, { run: string; field: string; base64: string }>();
  private readonly refresh: NodeJS.Timeout;

  private constructor(
    private readonly queue: Queue,
    private readonly connection: IRedisClient,
    private readonly finishes: JobFinishes,
    private readonly commands: Commands,
    private readonly target: RedisTarget,
  ) {
    this.where = target.label;
    this.refresh = setInterval(() => void this.reshare().catch(() => undefined), REFRESH_MS);
    this.refresh.unref();
  }

  static async connect(target: RedisTarget): Promise<RedisWorkQueue> {
    const commands = new Commands(target);
    await commands.send('PING', []);
    const connection = bullConnection(target, { blocking: false });
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    queue.on('error', () => {
      // Connection errors surface in runTasks, which waits for Redis to come back.
    });
    await queue.waitUntilReady();
    const finishes = await JobFinishes.listen(QUEUE, PREFIX, bullConnection(target, { blocking: true }), target);
    return new RedisWorkQueue(queue, connection, finishes, commands, target);
  }

  async share(run: string, field: string, bytes: Uint8Array): Promise<void> {
    const entry = { run, field, base64: Buffer.from(bytes).toString('base64') };
    this.shared.set(runKey(run, field), entry);
    await this.commands.send('SET', [runKey(run, field), entry.base64, 'EX', String(RUN_TTL_S)]);
  }

  async unshare(run: string, field: string): Promise<void> {
    this.shared.delete(runKey(run, field));
    await this.commands.send('DEL', [runKey(run, field)]);
  }

  /** Writes the run data again: refreshes its expiry, and restores it after Redis lost it. */
  private async reshare(): Promise<void> {
    for (const [key, entry] of this.shared) {
      await this.commands.send('SET', [key, entry.base64, 'EX', String(RUN_TTL_S)]);
    }
  }

  private async add({ id, task }: QueuedTask): Promise<void> {
    // A job that failed for good in an earlier coordinator's run is tried afresh.
    if ((await this.queue.getJobState(id)) === 'failed') await this.queue.remove(id);
    await this.queue.add(task.kind, task, { jobId: id, ...JOB_OPTIONS });
  }

  async runTasks(
    tasks: QueuedTask[],
    onResult: (id: string, result: TaskResult) => Promise<void> | void,
    opts: RunTasksOptions = {},
  ): Promise<void> {
    const pending = new Map(tasks.map((t) => [t.id, t]));
    const runs = new Set(tasks.map((t) => t.task.run));
    const refusals = new Map<string, string>();
    let unreachable: string | null = null;
    let unreachableSince = 0;
    let added = false;
    while (pending.size > 0) {
      if (opts.signal?.aborted) {
        // Waiting tasks go with the run; a task being computed ends its current attempt.
        await Promise.all([...pending.keys()].map((id) => this.queue.remove(id).catch(() => 0)));
        throw new RunCancelled();
      }
      const mark = this.finishes.mark();
      try {
        // BullMQ's connection waits out an outage in silence; this one fails at once, so the user hears of it.
        await this.commands.send('PING', []);
        if (!added) {
          for (const task of pending.values()) await this.add(task);
          added = true;
        }
        const ids = [...pending.keys()];
        const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
        const lost = states.filter((state) => state === 'unknown').length;
        if (lost > 0) {
          opts.onNotice?.(
            `Redis at ${this.where} no longer holds ${lost} of this run's tasks (restarted?); they are queued again`,
          );
          await this.reshare();
        }
        for (const [n, id] of ids.entries()) {
          const state = states[n];
          if (state === 'unknown') await this.add(pending.get(id)!);
          if (state !== 'completed' && state !== 'failed') continue;
          // Two fields of the job's hash: Job.fromId would parse the task's image bytes back too.
          const [returned, failedReason] = await this.commands.send<Array<string | null>>('HMGET', [
            this.queue.toKey(id),
            'returnvalue',
            'failedReason',
          ]);
          if (returned === null && failedReason === null) {
            // The job's hash went between reading its state and its fields: Redis lost it (restarted empty).
            opts.onNotice?.(`Redis at ${this.where} no longer holds task ${id} (restarted?); it is queued again`);
            await this.add(pending.get(id)!);
            continue;
          }
          if (state === 'failed') throw new RunFailure(`task ${id} failed: ${failedReason}`);
          let value: unknown = null;
          try {
            value = JSON.parse(returned ?? 'null');
          } catch {
            // Reported below as not a result.
          }
          const parsed = taskResultSchema.safeParse(value);
          if (!parsed.success) {
            throw new RunFailure(
              `task ${id}: a worker sent a result that is not one (${parsed.error.issues[0]?.message})`,
            );
          }
          try {
            await onResult(id, parsed.data);
          } catch (e) {
            throw new RunFailure((e as Error).message, { cause: e });
          }
          pending.delete(id);
          await this.queue.remove(id).catch(() => 0);
        }
        if (unreachable) opts.onNotice?.(`Redis at ${this.where} answers again; the run carries on`);
        unreachable = null;
        for (const run of runs) {
          const reasons = await this.commands.send<string[] | null>('HGETALL', [runKey(run, 'refused')]);
          for (let i = 0; reasons && i + 1 < reasons.length; i += 2) {
            if (refusals.get(reasons[i]!) === reasons[i + 1]) continue;
            refusals.set(reasons[i]!, reasons[i + 1]!);
            opts.onNotice?.(`worker ${reasons[i]} refuses this run: ${reasons[i + 1]}`);
          }
        }
      } catch (e) {
        if (e instanceof RunFailure) throw (e.cause as Error | undefined) ?? e;
        // Errors of BullMQ's own connection do not name the server; those of this.commands do.
        const raw = (e as Error).message;
        const message = raw.startsWith('Redis at ') ? raw : `Redis at ${this.where}: ${redisFailure(this.target, e)}`;
        if (unreachable === null) {
          unreachableSince = Date.now();
          opts.onNotice?.(
            `${message}; waiting up to ${this.target.timeoutSeconds} s for it to answer again (what is written stays)`,
          );
        } else if (Date.now() - unreachableSince > this.target.timeoutSeconds * 1000) {
          throw new RedisUnanswered(this.target, message.replace(`Redis at ${this.where}: `, ''));
        }
        unreachable = message;
      }
      if (pending.size > 0) await this.finishes.wait(mark, LOOK_MS);
    }
  }

  async workers(): Promise<WorkerInfo[]> {
    const found: WorkerInfo[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.commands.send<[string, string[]]>('SCAN', [
        cursor,
        'MATCH',
        `${PREFIX}:worker:*`,
        'COUNT',
        '100',
      ]);
      cursor = next;
      for (const key of keys) {
        const text = await this.commands.send<string | null>('GET', [key]);
        const parsed = text ? workerInfoSchema.safeParse(JSON.parse(text)) : null;
        if (parsed?.success) found.push(parsed.data);
      }
    } while (cursor !== '0');
    return found.sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    clearInterval(this.refresh);
    // Closing talks to Redis, which may be the thing that stopped answering.
    await Promise.race([this.queue.close().catch(() => undefined), sleep(answerMs(this.target))]);
    this.connection.disconnect();
    await this.finishes.close();
    this.commands.close();
  }
}

export interface WorkerTiming {
  /** How long a job stays with a worker that stopped renewing its lock (killed, hung). */
  lockSeconds: number;
}

export class RedisTaskSource implements TaskSource {
  readonly where: string;
  private readonly commands: Commands;
  private worker: Worker | null = null;
  private connection: IRedisClient | null = null;
  private stopped: (() => void) | null = null;
  private gaveUp: ((e: Error) => void) | null = null;

  constructor(
    private readonly target: RedisTarget,
    private readonly timing: WorkerTiming,
  ) {
    this.where = target.label;
    this.commands = new Commands(target);
  }

  async fetch(run: string, field: string): Promise<Uint8Array | null> {
    const text = await this.commands.send<string | null>('GET', [runKey(run, field)]);
    return text === null ? null : new Uint8Array(Buffer.from(text, 'base64'));
  }

  /**
   * Takes jobs until stop(); rejects with RedisUnanswered once the server has not answered the
   * worker's announcements for target.timeoutSeconds (a restart within that time is waited out).
   */
  async serve(info: WorkerInfo, handle: (task: Task) => Promise<TaskResult>): Promise<void> {
    let answered = Date.now();
    const announce = () =>
      this.commands.send('SET', [`${PREFIX}:worker:${info.id}`, JSON.stringify(info), 'EX', String(WORKER_TTL_S)]).then(
        () => void (answered = Date.now()),
        (e: Error) => {
          if (Date.now() - answered > this.target.timeoutSeconds * 1000) {
            this.giveUp(new RedisUnanswered(this.target, e.message.replace(`Redis at ${this.where}: `, '')));
          }
        },
      );
    await announce();
    const beat = setInterval(announce, Math.min(WORKER_TTL_S * 1000, this.target.timeoutSeconds * 1000) / 3);
    const lockMs = this.timing.lockSeconds * 1000;
    this.connection = bullConnection(this.target, { blocking: true });
    this.worker = new Worker(QUEUE, (job, token) => this.process(info, handle, job, token), {
      connection: this.connection,
      prefix: PREFIX,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 5,
    });
    this.worker.on('error', () => {
      // Lost connections are retried by BullMQ; the worker carries on when Redis is back.
    });
    try {
      await new Promise<void>((resolve, reject) => {
        this.stopped = resolve;
        this.gaveUp = reject;
      });
    } finally {
      clearInterval(beat);
      await this.commands.send('DEL', [`${PREFIX}:worker:${info.id}`]).catch(() => undefined);
    }
  }

  private async process(
    info: WorkerInfo,
    handle: (task: Task) => Promise<TaskResult>,
    job: Job,
    token: string | undefined,
  ): Promise<TaskResult> {
    const parsed = taskSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnrecoverableError(
        `job ${job.id}: its payload is not a task (${issue?.path.join('.') || 'payload'}: ${issue?.message})`,
      );
    }
    try {
      return await handle(parsed.data);
    } catch (e) {
      if (e instanceof TaskRefused) {
        const key = runKey(parsed.data.run, 'refused');
        await this.commands.send('HSET', [key, info.id, e.message]);
        await this.commands.send('EXPIRE', [key, String(RUN_TTL_S)]);
        // Back in the queue for a worker with the right model, without using up a retry.
        await job.moveToDelayed(Date.now() + 2000, token);
        throw new DelayedError();
      }
      if (e instanceof TaskUnworkable) throw new UnrecoverableError(e.message);
      throw e;
    }
  }

  /** Lets go of a server that stopped answering: nothing here may wait on it any more. */
  private giveUp(error: Error): void {
    void this.worker?.close(true).catch(() => undefined);
    this.connection?.disconnect();
    this.commands.close();
    this.gaveUp?.(error);
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
    this.commands.close();
    this.stopped?.();
  }
}
