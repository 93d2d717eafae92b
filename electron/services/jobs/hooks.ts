// How a job reports while it works, whether it runs in a worker thread (messages to the
// main thread) or in the caller's thread (tests, the disk-full check).
import type { JobProgressEvent } from '../../common/jobs.js';
import type { JsonObject } from '../../common/runs.js';
import type { BackendInfo } from '../../../native/runtime/backend.js';

export type PhaseProgress = Omit<JobProgressEvent, 'jobId'>;

export interface JobHooks {
  signal: AbortSignal;
  /** The job passed its checks and starts working on `runId`; nothing was computed before this. */
  ready(runId: number, backend: BackendInfo | null): void;
  progress(progress: PhaseProgress): void;
  log(message: string): void;
}

/** How a job ended once it was ready. Errors before `ready` are thrown instead (bad input). */
export interface JobOutcome {
  state: 'done' | 'failed' | 'cancelled';
  runId: number;
  error: string | null;
  result: JsonObject | null;
}
