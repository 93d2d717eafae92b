// Jobs run as the CLI runs them (their own services and job thread), and what they wrote, for the
// distributed tests.
import type { JobProgressEvent, JobRequest, JobStatus } from '../../../../electron/common/jobs.js';
import { KeypointStore } from '../../../../electron/db/keypointStore.js';
import { RunStore } from '../../../../electron/db/runStore.js';
import { createServices } from '../../../../electron/services/container.js';
import { JobServiceImpl } from '../../../../electron/services/jobs/jobService.js';
import { withProject } from '../../../support/jobFixtures.js';

/** Runs one job on `project`; returns its end and its log lines. */
export async function runJob(
  project: string,
  request: JobRequest,
  hear: { log?: (line: string) => void; progress?: (p: JobProgressEvent) => void } = {},
) {
  const services = createServices();
  const log: string[] = [];
  try {
    await services.project.open(project);
    const jobs = new JobServiceImpl(services.context);
    const watch = jobs.onStateChange((e) => {
      if (!e.message) return;
      log.push(e.message);
      hear.log?.(e.message);
    });
    const progress = jobs.onProgress((p) => hear.progress?.(p));
    try {
      const started = await jobs.start(request);
      const status: JobStatus = await jobs.wait(started.jobId);
      return { status, log };
    } finally {
      watch.dispose();
      progress.dispose();
      await jobs.dispose();
    }
  } finally {
    services.dispose();
  }
}

/** Every predicted point and stored attention map of the project's only run, in a fixed order. */
export function keypointsOf(project: string) {
  return withProject(project, (db) => {
    const runId = new RunStore(db).runs()[0]!.id;
    const points = new KeypointStore(db)
      .forRun(runId)
      .map((k) => [k.imageId, k.indexId, k.x, k.y, k.score])
      .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    const maps = db.sql
      .prepare('SELECT image_id, side, peaks, maps FROM attention_maps WHERE run_id = ? ORDER BY image_id')
      .all(runId);
    return { points, maps };
  });
}

/** The newest checkpoint of the project's only run, as bytes, and its losses. */
export function trainedStateOf(project: string) {
  return withProject(project, (db) => {
    const runs = new RunStore(db);
    const run = runs.runs()[0]!;
    const checkpoint = runs.checkpoint(run.id)!;
    return {
      step: checkpoint.step,
      tokens: Buffer.from(checkpoint.tokens.buffer, checkpoint.tokens.byteOffset, checkpoint.tokens.byteLength),
      optimizer: Buffer.from(checkpoint.optimizerState!),
      losses: runs.losses(run.id),
    };
  });
}
