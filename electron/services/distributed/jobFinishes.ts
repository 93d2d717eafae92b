// Tells a coordinator the moment a job of the queue completes or fails (BullMQ's QueueEvents, a
// blocking read of the queue's event stream), so it looks at its jobs then rather than every
// quarter second: a training step waits on its slowest gradient and nothing more. The coordinator
// still looks now and then without an event, which is how it notices a Redis that restarted empty.
import { QueueEvents, type IRedisClient } from 'bullmq';
import { answerMs, type RedisTarget } from './redisTarget.js';

export class JobFinishes {
  private finished = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly events: QueueEvents,
    private readonly connection: IRedisClient,
    private readonly target: RedisTarget,
  ) {
    const wake = () => {
      this.finished += 1;
      for (const waiter of this.waiters) waiter();
      this.waiters.clear();
    };
    events.on('completed', wake);
    events.on('failed', wake);
  }

  static async listen(
    queue: string,
    prefix: string,
    connection: IRedisClient,
    target: RedisTarget,
  ): Promise<JobFinishes> {
    const events = new QueueEvents(queue, { connection, prefix });
    events.on('error', () => {
      // Lost connections are BullMQ's to retry; meanwhile the coordinator looks without events.
    });
    await events.waitUntilReady();
    return new JobFinishes(events, connection, target);
  }

  /** Where to wait from: a job that finishes after this ends the wait at once. */
  mark(): number {
    return this.finished;
  }

  /** Resolves when a job has finished since `mark`, or after `ms`. */
  async wait(mark: number, ms: number): Promise<void> {
    if (this.finished !== mark) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      waiter = resolve;
      this.waiters.add(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.waiters.delete(waiter!);
  }

  async close(): Promise<void> {
    // Closing talks to Redis, which may be the thing that stopped answering.
    await Promise.race([
      this.events.close().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, answerMs(this.target))),
    ]);
    this.connection.disconnect();
  }
}
