// The worker's side of `--gpus`: a `skp worker --ipc` process takes its tasks from the process
// that started it, over Node's IPC channel, one at a time. It lives only as long as that channel:
// when the coordinator goes (even by kill -9) the channel closes and the worker exits, so no
// worker is left holding a GPU.
import { toCoordinatorSchema, toWorkerSchema, type ToCoordinator } from './childMessages.js';
import { taskSchema, type Task, type TaskResult, type WorkerInfo } from './tasks.js';
import { TaskRefused, TaskUnworkable, type TaskSource } from './workQueue.js';

export class IpcTaskSource implements TaskSource {
  readonly where = 'the skp process that started this worker';
  private readonly answers = new Map<number, (base64: string | null) => void>();
  private nextRequest = 0;
  private stopped: (() => void) | null = null;
  private queue: Promise<void> = Promise.resolve();

  /** Exits this process when its coordinator's channel closes; call before any long setup. */
  static exitWithCoordinator(): void {
    if (!process.send) throw new Error('--ipc: this worker was not started by skp with an IPC channel');
    process.on('disconnect', () => process.exit(0));
  }

  private send(message: ToCoordinator): void {
    // Checked on the way out too: a message the coordinator would reject is a bug here, named here.
    process.send!(toCoordinatorSchema.parse(message));
  }

  async fetch(run: string, field: string): Promise<Uint8Array | null> {
    const request = this.nextRequest++;
    const base64 = await new Promise<string | null>((resolve) => {
      this.answers.set(request, resolve);
      this.send({ type: 'fetch', request, run, field });
    });
    return base64 === null ? null : new Uint8Array(Buffer.from(base64, 'base64'));
  }

  serve(info: WorkerInfo, handle: (task: Task) => Promise<TaskResult>): Promise<void> {
    const onMessage = (raw: unknown) => {
      const parsed = toWorkerSchema.safeParse(raw);
      if (!parsed.success) {
        // Not from our coordinator's code: nothing to answer, and nothing to trust.
        process.stderr.write(`ignored a message that is not one: ${parsed.error.issues[0]?.message}\n`);
        return;
      }
      const message = parsed.data;
      if (message.type === 'data') {
        this.answers.get(message.request)?.(message.base64);
        this.answers.delete(message.request);
        return;
      }
      // The coordinator sends one task at a time; a chain keeps them in order all the same.
      this.queue = this.queue.then(() => this.run(message.id, message.task, handle));
    };
    process.on('message', onMessage);
    this.send({ type: 'ready', info });
    return new Promise<void>((resolve) => (this.stopped = resolve)).finally(() => process.off('message', onMessage));
  }

  private async run(id: string, payload: unknown, handle: (task: Task) => Promise<TaskResult>): Promise<void> {
    const task = taskSchema.safeParse(payload);
    if (!task.success) {
      const issue = task.error.issues[0];
      this.send({
        type: 'failed',
        id,
        kind: 'unworkable',
        message: `task ${id}: its payload is not a task (${issue?.path.join('.') || 'payload'}: ${issue?.message})`,
      });
      return;
    }
    try {
      this.send({ type: 'done', id, result: await handle(task.data) });
    } catch (e) {
      const kind = e instanceof TaskRefused ? 'refused' : e instanceof TaskUnworkable ? 'unworkable' : 'error';
      this.send({ type: 'failed', id, kind, message: (e as Error).message });
    }
  }

  async stop(): Promise<void> {
    this.stopped?.();
  }
}
