// Shared by the job commands (train, keypoints, evaluate, demo): runs one job in its worker
// thread, prints the backend and a line per step, and turns Ctrl-C or a kill into a clean cancel.

import type { JobProgressEvent, JobRequest, JobStatus } from '../common/jobs.js';
import type { ModelSource } from '../common/jobs.js';
import type { ServiceHost } from '../services/container.js';
import type { CliIO } from './command.js';

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const PHASE_WORD = {
  train: 'step',
  choose: 'choosing indices, image',
  keypoints: 'keypoints, image',
  evaluate: 'evaluating',
};

export function progressLine(p: JobProgressEvent): string {
  const head = `${PHASE_WORD[p.phase]} ${p.step}/${p.steps}`;
  const loss =
    p.loss === null
      ? ''
      : `  loss ${p.loss.toPrecision(4)} (sharpening ${p.sharpening!.toPrecision(3)}, equivariance ${p.equivariance!.toPrecision(3)})`;
  return `${head}${loss}  ${p.imagesPerSecond.toFixed(2)} images/s  ETA ${duration(p.etaSeconds)}`;
}

/** --model with its optional configs, or undefined when not given. */
export function modelOption(values: {
  model?: string;
  'unet-config'?: string;
  'vae-config'?: string;
}): ModelSource | undefined {
  if (values.model === undefined) return undefined;
  return {
    path: values.model,
    ...(values['unet-config'] ? { unetConfig: values['unet-config'] } : {}),
    ...(values['vae-config'] ? { vaeConfig: values['vae-config'] } : {}),
  };
}

/** Ctrl-C, a plain `kill` and a closed terminal all stop a job the same way: checkpoint, then exit. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function runJobInCli(
  services: ServiceHost,
  request: JobRequest,
  io: CliIO,
  opts: { quiet?: boolean } = {},
): Promise<JobStatus> {
  const { jobs } = services;
  let lastLine = 0;
  const progress = jobs.onProgress((p) => {
    // Training prints every step; per-image phases at most once a second, and their last image.
    const now = Date.now();
    if (p.phase !== 'train' && p.step !== p.steps && now - lastLine < 1000) return;
    lastLine = now;
    if (!opts.quiet) io.out(progressLine(p));
  });
  const state = jobs.onStateChange((e) => {
    if (e.message && e.state !== 'failed') io.out(e.message);
  });
  const kill = () => process.exit(130);
  let cancel: (() => void) | null = null;
  try {
    const started = await jobs.start(request);
    cancel = () => {
      io.err('Cancelling after the current step (Ctrl-C again to stop at once)…');
      void jobs.cancel(started.jobId);
      for (const signal of STOP_SIGNALS) {
        process.off(signal, cancel!);
        process.once(signal, kill);
      }
    };
    for (const signal of STOP_SIGNALS) process.once(signal, cancel);
    return await jobs.wait(started.jobId);
  } finally {
    for (const signal of STOP_SIGNALS) {
      if (cancel) process.off(signal, cancel);
      process.off(signal, kill);
    }
    progress.dispose();
    state.dispose();
    await jobs.dispose();
  }
}
