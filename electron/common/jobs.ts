// Long-running work on a project (training the tokens, choosing the indices, computing
// keypoints, evaluating against ground truth) as jobs that run off the main thread. Every
// request, status and event is plain JSON so the UI transports carry them unchanged.

import type { Event } from './events.js';
import type { JsonObject, RunStatus } from './runs.js';

/** What a job is doing right now; a keypoints job goes 'choose' then 'keypoints'. */
export type JobPhase = 'train' | 'choose' | 'keypoints' | 'evaluate';

export type JobKind = 'train' | 'keypoints' | 'evaluate';

/** Where the SDXL weights come from: a diffusers folder or a single .safetensors file. */
export interface ModelSource {
  path: string;
  /** A UNet config (JSON file) for a single file or a folder without one. */
  unetConfig?: string;
  vaeConfig?: string;
}

/** Backend preference: 'auto' picks the fastest that works (CUDA, then CPU). */
export type BackendPreference = 'auto' | 'cpu' | 'cuda' | (string & {});

/**
 * Where a job computes: workers connected to a Redis server (`skp worker`), `local` workers in
 * the job's own process, one worker process per GPU of this machine (`gpus`: all, or GPU numbers
 * as nvidia-smi lists them), or `processes` of this machine pinned to no GPU; omitted: the job's
 * own backend, one image after the other.
 */
export type WorkersChoice = { redis: string } | { local: number } | { gpus: 'all' | number[] } | { processes: number };

/** What the app's training panel offers and the project keeps: workers on Redis, or GPUs of this machine. */
export type SavedWorkersChoice = Extract<WorkersChoice, { redis: string } | { gpus: unknown }>;

export interface TrainJobRequest {
  /** The model; omitted: the project's model reference. */
  model?: ModelSource;
  /** Run settings (see native/keypoints/settings.ts); missing keys take the reference defaults. */
  settings?: JsonObject;
  /** Continue this run from its last checkpoint instead of starting a new run. */
  resumeRunId?: number;
  name?: string;
  backend?: BackendPreference;
  /** Optimiser steps between checkpoints (default 10). */
  checkpointEvery?: number;
  workers?: WorkersChoice;
}

export interface KeypointsJobRequest {
  /** The run whose tokens are used; omitted: the latest finished run. */
  runId?: number;
  model?: ModelSource;
  backend?: BackendPreference;
  workers?: WorkersChoice;
  /** Images per task sent to a worker (default 4). */
  chunkSize?: number;
}

export interface EvaluateJobRequest {
  runId?: number;
}

export type JobRequest =
  | ({ kind: 'train' } & TrainJobRequest)
  | ({ kind: 'keypoints' } & KeypointsJobRequest)
  | ({ kind: 'evaluate' } & EvaluateJobRequest);

export type JobState = 'starting' | 'running' | 'done' | 'failed' | 'cancelled';

/** Sent often while a job runs; `step`/`steps` count optimiser steps (train) or images (others). */
export interface JobProgressEvent {
  jobId: string;
  runId: number;
  phase: JobPhase;
  step: number;
  steps: number;
  /** Training phase only; null elsewhere. */
  loss: number | null;
  sharpening: number | null;
  equivariance: number | null;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** Sent when a job changes state, including its end. */
export interface JobStateEvent {
  jobId: string;
  kind: JobKind;
  runId: number | null;
  state: JobState;
  /** In the user's words; set for 'failed'. */
  error: string | null;
  /** A line for the log: "backend: cpu (CUDA addon not built)", "checkpoint at step 40". */
  message: string | null;
}

export interface JobStatus {
  jobId: string;
  kind: JobKind;
  runId: number | null;
  state: JobState;
  phase: JobPhase | null;
  /** Latest progress, null before the first. */
  progress: JobProgressEvent | null;
  error: string | null;
  /** Backend label and why it was chosen, once known. */
  backend: string | null;
  startedAt: string;
  endedAt: string | null;
  /** What a finished job produced: train {step}, keypoints {images, predicted, withAttentionMaps, unreadable, keptCorrections}, evaluate an EvaluationResult. */
  result: JsonObject | null;
}

/** One accuracy measure over the test images: overall and per labelled part. */
export interface EvaluationMetric {
  /** e.g. "mean error (visible, fraction of image)", "inter-ocular error", "PCK@0.1 (bbox)". */
  name: string;
  /** Lower is better for errors, higher for PCK. */
  higherIsBetter: boolean;
  overall: number;
  /** One value per labelled part (EvaluationResult.parts); null where no test image shows it. */
  perPart: Array<number | null>;
}

/** How far off one test image is; errors are distances in fractions of the image side, as the mean-error metric. */
export interface EvaluatedImage {
  imageId: number;
  /** Mean over the image's labelled parts; null when none is labelled. */
  meanError: number | null;
  /** One per labelled part (EvaluationResult.parts); null where the image does not label it. */
  perPart: Array<number | null>;
}

/** The regressor from the K discovered points to the labelled parts, fitted on the train split. */
export interface EvaluationResult {
  runId: number;
  trainImages: number;
  testImages: number;
  /** Names of the labelled parts, ground-truth order. */
  parts: string[];
  metrics: EvaluationMetric[];
  /** The test images, worst first (largest mean error; images with no labelled part last). */
  images: EvaluatedImage[];
  /** How train and test images were chosen, in the user's words. */
  protocol: string;
  evaluatedAt: string;
}

/** A run as resuming sees it: a 'running' run whose heartbeat stopped counts as interrupted. */
export interface ResumableRun {
  runId: number;
  status: RunStatus;
  lastCheckpointStep: number | null;
  steps: number;
}

/** Starts, cancels and reports jobs on the open project. One job runs at a time per project. */
export interface JobService {
  readonly onProgress: Event<JobProgressEvent>;
  readonly onStateChange: Event<JobStateEvent>;
  /** Checks the request (settings, model, images) and starts the job; resolves once it runs. */
  start(request: JobRequest): Promise<JobStatus>;
  /** Asks the job to stop; it stops after the current step, keeping its last checkpoint. */
  cancel(jobId: string): Promise<JobStatus>;
  status(jobId: string): Promise<JobStatus>;
  list(): Promise<JobStatus[]>;
  /** Resolves when the job ends, with its final status. */
  wait(jobId: string): Promise<JobStatus>;
  /** Runs of the open project that can be resumed (cancelled, failed, or interrupted). */
  resumable(): Promise<ResumableRun[]>;
}
