// Runs jobs on the open project in worker threads and relays what they report. The main
// thread never computes: it starts a worker, forwards its progress as events, asks it to
// cancel, and notices when it dies (the run is then marked failed, its checkpoints kept).

import { randomUUID } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { badInput, notFound } from '../../common/errors.js';
import { workersChoiceSchema } from '../../common/schemas.js';
import { Emitter } from '../../common/events.js';
import type {
  JobKind,
  JobProgressEvent,
  JobRequest,
  JobService,
  JobState,
  JobStateEvent,
  JobStatus,
} from '../../common/jobs.js';
import type { ResumableRun } from '../../common/jobs.js';
import type { JsonObject } from '../../common/runs.js';
import { openProjectDatabase } from '../../db/database.js';
import { RunStore } from '../../db/runStore.js';
import type { ProjectContext } from '../projectContext.js';
import { parseInput } from '../validation.js';
import type { WorkerCommand, WorkerMessage } from './messages.js';
import { interruption } from './runRecord.js';
import { startJobWorker } from './startWorker.js';

const modelSchema = z.strictObject({
  path: z.string().min(1),
  unetConfig: z.string().min(1).optional(),
  vaeConfig: z.string().min(1).optional(),
});
const backendSchema = z.string().min(1);

const requestSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('train'),
    model: modelSchema.optional(),
    settings: z.record(z.string(), z.json()).optional(),
    resumeRunId: z.number().int().positive().optional(),
    name: z.string().min(1).optional(),
    backend: backendSchema.optional(),
    checkpointEvery: z.number().int().positive().optional(),
    workers: workersChoiceSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('keypoints'),
    runId: z.number().int().positive().optional(),
    model: modelSchema.optional(),
    backend: backendSchema.optional(),
    workers: workersChoiceSchema.optional(),
    chunkSize: z.number().int().min(1).max(1000).optional(),
  }),
  z.strictObject({ kind: z.literal('evaluate'), runId: z.number().int().positive().optional() }),
]);

const finished = (state: JobState) => state === 'done' || state === 'failed' || state === 'cancelled';

interface Job {
  status: JobStatus;
  projectPath: string;
  worker: Worker;
  ended: Promise<JobStatus>;
}

export class JobServiceImpl implements JobService {
  private readonly progressEmitter = new Emitter<JobProgressEvent>();
  private readonly stateEmitter = new Emitter<JobStateEvent>();
  readonly onProgress = this.progressEmitter.event;
  readonly onStateChange = this.stateEmitter.event;
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly context: ProjectContext) {}

  async start(request: JobRequest): Promise<JobStatus> {
    const valid = parseInput(requestSchema, request, 'job') as JobRequest;
    const projectPath = this.context.writable.path;
    const busy = [...this.jobs.values()].find((j) => !finished(j.status.state));
    if (busy) {
      throw badInput(
        `a ${busy.status.kind} job is running on this project (${busy.status.jobId}); cancel it or wait for it first`,
      );
    }
    const jobId = randomUUID();
    const status: JobStatus = {
      jobId,
      kind: valid.kind as JobKind,
      runId: null,
      state: 'starting',
      phase: null,
      progress: null,
      error: null,
      backend: null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      result: null,
    };
    const worker = startJobWorker({ projectPath, request: valid });
    let whenReady!: { resolve: (s: JobStatus) => void; reject: (e: Error) => void };
    const ready = new Promise<JobStatus>((resolve, reject) => (whenReady = { resolve, reject }));
    let endJob!: (s: JobStatus) => void;
    const ended = new Promise<JobStatus>((resolve) => (endJob = resolve));
    const job: Job = { status, projectPath, worker, ended };
    this.jobs.set(jobId, job);

    const change = (state: JobState, message: string | null = null) => {
      status.state = state;
      this.stateEmitter.fire({ jobId, kind: status.kind, runId: status.runId, state, error: status.error, message });
    };
    const end = (state: JobState, error: string | null, code: string | null, result: JsonObject | null = null) => {
      if (finished(status.state)) return;
      status.error = error;
      status.result = result;
      status.endedAt = new Date().toISOString();
      change(state, error);
      if (code === 'bad-input') whenReady.reject(badInput(error ?? 'the job could not start'));
      else if (state === 'failed' && status.runId === null) whenReady.reject(new Error(error ?? 'the job failed'));
      else whenReady.resolve({ ...status });
      endJob({ ...status });
      void worker.terminate();
    };

    worker.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'ready':
          status.runId = m.runId;
          status.backend = m.backend ? `${m.backend.label} — ${m.backend.reasons.join('; ')}` : null;
          change(
            'running',
            m.backend ? [`Backend: ${m.backend.label}`, ...m.backend.reasons.map((r) => `  - ${r}`)].join('\n') : null,
          );
          whenReady.resolve({ ...status });
          return;
        case 'progress': {
          const event = { ...m.progress, jobId };
          status.phase = event.phase;
          status.progress = event;
          this.progressEmitter.fire(event);
          return;
        }
        case 'log':
          this.stateEmitter.fire({
            jobId,
            kind: status.kind,
            runId: status.runId,
            state: status.state,
            error: null,
            message: m.message,
          });
          return;
        case 'end':
          if (m.runId !== null) status.runId = m.runId;
          end(m.state, m.error, m.errorCode, m.result);
      }
    });
    worker.on('error', (e) => {
      this.markRunFailed(job, `the job stopped on an error: ${e.message}`);
      end('failed', `the job stopped on an error: ${e.message}`, null);
    });
    worker.on('exit', (code) => {
      if (finished(status.state)) return;
      this.markRunFailed(job, `the job's worker stopped unexpectedly (exit code ${code})`);
      end('failed', `the job's worker stopped unexpectedly (exit code ${code})`, null);
    });
    return ready;
  }

  /** A worker that died mid-run could not say so in the project; the main thread does. */
  private markRunFailed(job: Job, error: string): void {
    if (job.status.kind !== 'train' || job.status.runId === null) return;
    const db = openProjectDatabase(job.projectPath);
    try {
      const runs = new RunStore(db);
      if (runs.run(job.status.runId)?.status === 'running') runs.setStatus(job.status.runId, 'failed', error);
    } finally {
      db.close();
    }
  }

  private job(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (!job) throw notFound(`no job ${jobId}`);
    return job;
  }

  async cancel(jobId: string): Promise<JobStatus> {
    const job = this.job(jobId);
    if (!finished(job.status.state)) job.worker.postMessage({ type: 'cancel' } satisfies WorkerCommand);
    return { ...job.status };
  }

  async status(jobId: string): Promise<JobStatus> {
    return { ...this.job(jobId).status };
  }

  async list(): Promise<JobStatus[]> {
    return [...this.jobs.values()].map((j) => ({ ...j.status }));
  }

  wait(jobId: string): Promise<JobStatus> {
    return this.job(jobId).ended;
  }

  async resumable(): Promise<ResumableRun[]> {
    const runs = new RunStore(this.context.db);
    const activeRuns = new Set(
      [...this.jobs.values()].filter((j) => !finished(j.status.state)).map((j) => j.status.runId),
    );
    return runs
      .runs()
      .filter(
        (run) =>
          run.status === 'cancelled' ||
          run.status === 'failed' ||
          (run.status === 'running' && interruption(run, activeRuns.has(run.id)) !== null),
      )
      .map((run) => ({
        runId: run.id,
        status: run.status,
        lastCheckpointStep: runs.checkpoints(run.id).at(-1)?.step ?? null,
        steps: typeof run.settings.steps === 'number' ? run.settings.steps : 0,
      }));
  }

  /** Stops every worker (app shutdown); their runs keep their checkpoints. */
  async dispose(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((j) => j.worker.terminate()));
  }
}
