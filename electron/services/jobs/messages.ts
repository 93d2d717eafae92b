// What the main thread and a job's worker thread say to each other (structured-clone safe).
import type { ServiceErrorCode } from '../../common/errors.js';
import type { JobRequest } from '../../common/jobs.js';
import type { JsonObject } from '../../common/runs.js';
import type { PhaseProgress } from './hooks.js';

export interface WorkerInput {
  /** Absolute path of the project file; the worker opens its own connection (WAL). */
  projectPath: string;
  request: JobRequest;
}

export type WorkerCommand = { type: 'cancel' };

export type WorkerMessage =
  | { type: 'ready'; runId: number; backend: { label: string; reasons: string[] } | null }
  | { type: 'progress'; progress: PhaseProgress }
  | { type: 'log'; message: string }
  | {
      type: 'end';
      state: 'done' | 'failed' | 'cancelled';
      runId: number | null;
      error: string | null;
      /** Set when the job stopped at its checks, before any work. */
      errorCode: ServiceErrorCode | null;
      result: JsonObject | null;
    };
