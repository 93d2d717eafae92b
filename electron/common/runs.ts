// Training runs as the UI and the jobs see them. Settings and progress are free-form JSON
// owned by the training code; the database stores them as text.

export type RunStatus = 'queued' | 'running' | 'paused' | 'done' | 'failed' | 'cancelled';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface TrainingRun {
  id: number;
  name: string | null;
  status: RunStatus;
  /** ISO 8601. */
  createdAt: string;
  updatedAt: string;
  settings: JsonObject;
  modelId: number | null;
  progress: JsonObject | null;
  /** Why the run failed, in the user's words; null unless status is 'failed'. */
  error: string | null;
}

export interface LossPoint {
  step: number;
  loss: number;
  sharpening: number;
  equivariance: number;
}

/** A checkpoint's metadata; the blobs are read through RunStore only when needed. */
export interface TokenCheckpointInfo {
  runId: number;
  step: number;
  createdAt: string;
  tokenBytes: number;
  optimizerStateBytes: number;
}

/** The SDXL weights a project (and each run) uses: a local file or folder, never a download. */
export interface ModelReference {
  id: number;
  name: string;
  path: string;
  /** Optional fingerprint to notice that the file at `path` changed. */
  fingerprint: string | null;
  addedAt: string;
}

export interface ModelReferenceInput {
  name: string;
  path: string;
  fingerprint?: string | null;
}
