// The work queue of `--gpus`: one `skp worker --ipc` process per GPU of this machine, each pinned
// to its GPU before its backend starts (the native CUDA backend drives one device per process),
// fed one task at a time over Node's IPC channel. No Redis: the same tasks, results, retries and
// shared run data as the other queues. A worker process that dies (a crash, an out-of-memory
// kill) gives its task back to the queue, to be tried again, and is started again itself.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelSource } from '../../common/jobs.js';
import { toCoordinatorSchema, type ToWorker } from './childMessages.js';
import { runBatch, type BatchEntry } from './taskBatch.js';
import type { TaskResult, WorkerInfo } from './tasks.js';
import type { QueuedTask, RunTasksOptions, WorkQueue } from './workQueue.js';

/** Tries per task before its failure ends the run. */
const ATTEMPTS = 3;
const BACKOFF_MS = 200;
/** Times a worker process is started again after it died, before its GPU is given up. */
const RESTARTS = 2;
/** Lines of a worker's output kept to say why it died. */
const OUTPUT_LINES = 5;
/** How long a worker asked to stop may take before it is killed. */
const STOP_MS = 10_000;

export interface WorkerProcessesOptions {
  /** One worker per entry: the GPU it is pinned to, or null for none (each takes its own backend). */
  gpus: Array<number | null>;
  model: ModelSource;
  backend: string | undefined;
}

interface Slot {
  name: string;
  gpu: number | null;
  child: ChildProcess | null;
  info: WorkerInfo | null;
  busy: BatchEntry | null;
  deaths: number;
  output: string[];
}

/** bin/skp.mjs of this installation, found from this file whether it runs from sources or dist/. */
function launcher(): string {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error('cannot find the app folder (no package.json above this file)');
    folder = parent;
  }
  return path.join(folder, 'bin', 'skp.mjs');
}

export class WorkerProcessQueue implements WorkQueue {
  readonly where: string;
  private readonly slots: Slot[];
  private readonly shared = new Map<string, string>();
  private readonly waiting: BatchEntry[] = [];
  /** Set once every worker process was ready: a worker that dies after that is started again. */
  private started = false;
  private closing = false;

  private constructor(private readonly options: WorkerProcessesOptions) {
    const pinned = options.gpus.every((gpu) => gpu !== null);
    this.where = pinned
      ? `GPU${options.gpus.length === 1 ? '' : 's'} ${options.gpus.join(', ')} of this machine`
      : `${options.gpus.length} worker process${options.gpus.length === 1 ? '' : 'es'} of this machine`;
    this.slots = options.gpus.map((gpu, n) => ({
      name: gpu === null ? `worker process ${n + 1}` : `GPU ${gpu}`,
      gpu,
      child: null,
      info: null,
      busy: null,
      deaths: 0,
      output: [],
    }));
  }

  /** Starts every worker process and resolves once all are ready; one that fails to start fails it all. */
  static async start(options: WorkerProcessesOptions): Promise<WorkerProcessQueue> {
    const queue = new WorkerProcessQueue(options);
    try {
      await Promise.all(queue.slots.map((slot) => queue.launch(slot)));
      queue.started = true;
    } catch (e) {
      await queue.close();
      throw e;
    }
    return queue;
  }

  /** What each worker process said about itself when it was ready. */
  ready(): WorkerInfo[] {
    return this.slots.flatMap((slot) => (slot.info ? [slot.info] : []));
  }

  async workers(): Promise<WorkerInfo[]> {
    return this.ready();
  }

  async share(run: string, field: string, bytes: Uint8Array): Promise<void> {
    this.shared.set(`${run}:${field}`, Buffer.from(bytes).toString('base64'));
  }

  async unshare(run: string, field: string): Promise<void> {
    this.shared.delete(`${run}:${field}`);
  }

  runTasks(
    tasks: QueuedTask[],
    onResult: (id: string, result: TaskResult) => Promise<void> | void,
    opts: RunTasksOptions = {},
  ): Promise<void> {
    return runBatch(
      {
        waiting: this.waiting,
        refusal: () => (this.slots.some((slot) => this.usable(slot)) ? null : this.allGone()),
        add: (entry) => {
          this.waiting.push(entry);
          this.dispatch();
        },
      },
      tasks,
      onResult,
      opts,
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        // The worker exits when its channel closes; one stuck in a computation is killed.
        if (child.connected) child.disconnect();
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  /** Alive, or to be started again. */
  private usable(slot: Slot): boolean {
    return slot.child !== null || slot.deaths <= RESTARTS;
  }

  private allGone(): Error {
    const last = this.slots.map((slot) => `${slot.name}: ${slot.output.join(' | ') || 'no output'}`).join('; ');
    return new Error(
      `every worker process of ${this.where} has ended (each was started ${RESTARTS + 1} times); their last output: ${last}`,
    );
  }

  private launch(slot: Slot): Promise<void> {
    const { model, backend } = this.options;
    const args = [
      launcher(),
      'worker',
      '--ipc',
      '--model',
      model.path,
      ...(model.unetConfig ? ['--unet-config', model.unetConfig] : []),
      ...(model.vaeConfig ? ['--vae-config', model.vaeConfig] : []),
      ...(backend ? ['--backend', backend] : []),
      ...(slot.gpu === null ? [] : ['--gpu', String(slot.gpu)]),
    ];
    // In the desktop app process.execPath is Electron, which runs a script as Node only when told.
    const env = process.versions.electron ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env;
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
    slot.child = child;
    slot.output = [];
    const keep = (data: Buffer) => {
      for (const line of data.toString().split('\n')) if (line.trim()) slot.output.push(line.trim());
      slot.output.splice(0, Math.max(0, slot.output.length - OUTPUT_LINES));
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      child.on('message', (raw) => {
        const parsed = toCoordinatorSchema.safeParse(raw);
        if (!parsed.success) {
          keep(Buffer.from(`sent a message that is not one (${parsed.error.issues[0]?.message}); stopped`));
          child.kill('SIGKILL');
          return;
        }
        const message = parsed.data;
        if (message.type === 'ready') {
          slot.info = message.info;
          ready = true;
          resolve();
          this.dispatch();
        } else if (message.type === 'fetch') {
          const base64 = this.shared.get(`${message.run}:${message.field}`) ?? null;
          this.send(slot, { type: 'data', request: message.request, base64 });
        } else {
          const entry = slot.busy;
          if (entry?.id !== message.id) return;
          slot.busy = null;
          if (message.type === 'done') entry.deliver(message.result);
          else this.failed(entry, slot, message.kind, message.message);
          this.dispatch();
        }
      });
      const ended = (why: string) => {
        if (slot.child !== child) return;
        slot.child = null;
        slot.info = null;
        slot.deaths += 1;
        const output = slot.output.length ? `; its last output: ${slot.output.join(' | ')}` : '';
        if (!ready) {
          reject(new Error(`${slot.name}: skp worker ended before it was ready (${why})${output}`));
          if (this.started && !this.closing) this.lost(slot);
          return;
        }
        if (this.closing) return;
        const entry = slot.busy;
        slot.busy = null;
        if (entry) this.died(entry, `${slot.name} (pid ${child.pid}) ended (${why}) during task ${entry.id}${output}`);
        this.lost(slot);
      };
      child.once('error', (e) => ended(`it did not start: ${e.message}`));
      child.once('exit', (code, signal) => ended(signal ? `signal ${signal}` : `exit code ${code}`));
    });
  }

  /** A worker process ended: start it again while it may. */
  private lost(slot: Slot): void {
    if (slot.deaths <= RESTARTS) this.launch(slot).catch(() => this.dispatch());
    else this.dispatch();
  }

  private died(entry: BatchEntry, why: string): void {
    if (!entry.wanted()) return;
    entry.attempts += 1;
    if (entry.attempts >= ATTEMPTS) {
      entry.fail(new Error(`task ${entry.id} failed ${ATTEMPTS} times; the last time: ${why}`));
      return;
    }
    entry.notice(`${why}; the task is tried again`);
    this.waiting.unshift(entry);
    this.dispatch();
  }

  private failed(entry: BatchEntry, slot: Slot, kind: 'refused' | 'unworkable' | 'error', message: string): void {
    if (!entry.wanted()) return;
    entry.attempts += 1;
    // Every worker process has the coordinator's model, so a refusal would repeat.
    if (kind !== 'error' || entry.attempts >= ATTEMPTS) {
      entry.fail(new Error(`task ${entry.id} failed on ${slot.name}: ${message}`));
      return;
    }
    setTimeout(
      () => {
        this.waiting.push(entry);
        this.dispatch();
      },
      BACKOFF_MS * 2 ** (entry.attempts - 1),
    );
  }

  private dispatch(): void {
    if (!this.slots.some((slot) => this.usable(slot))) {
      const error = this.allGone();
      for (const entry of this.waiting.splice(0)) entry.fail(error);
      return;
    }
    for (const slot of this.slots) {
      if (!slot.info || slot.busy || this.waiting.length === 0) continue;
      const entry = this.waiting.shift()!;
      slot.busy = entry;
      this.send(slot, { type: 'task', id: entry.id, task: entry.task });
    }
  }

  private send(slot: Slot, message: ToWorker): void {
    // A worker that just died cannot be written to (EPIPE); its exit gives its task back.
    if (slot.child?.connected) slot.child.send(message, () => undefined);
  }
}
