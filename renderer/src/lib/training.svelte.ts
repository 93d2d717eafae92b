// The training run the panel shows. Its whole loss history comes from the project file on every
// load, so a reloaded window redraws the full curve; live progress arrives as job events.
import { api } from '../api/index.js';
import type { JobProgressEvent, JobStatus, TrainingView } from '../../../electron/common/api/types.js';
import { notices } from './notices.svelte.js';

class Training {
  view = $state<TrainingView | null>(null);
  /** The latest progress of the running job (steps, images per second, ETA). */
  live = $state<JobProgressEvent | null>(null);

  /** A job of this server is working on the run now. */
  running = $derived(
    this.view?.job !== null && this.view?.job !== undefined && ['starting', 'running'].includes(this.view.job.state),
  );

  /** This server's jobs, so the header can show one under way on every tab. */
  jobs = $state<JobStatus[]>([]);
  underWay = $derived(this.jobs.find((j) => j.state === 'starting' || j.state === 'running') ?? null);

  async refreshJobs(): Promise<void> {
    try {
      this.jobs = await api.call('jobs.list', {});
    } catch (error) {
      notices.error(error);
    }
  }

  async refresh(): Promise<void> {
    try {
      this.view = await api.call('training.current', {});
    } catch (error) {
      notices.error(error);
    }
  }
}

export const training = new Training();

api.on('job.progress', (progress) => {
  training.live = progress;
  const view = training.view;
  if (!view || view.run.id !== progress.runId) {
    void training.refresh();
    return;
  }
  const last = view.history.at(-1);
  if (progress.phase === 'train' && progress.loss !== null && (!last || progress.step > last.step)) {
    const point = {
      step: progress.step,
      loss: progress.loss,
      sharpening: progress.sharpening ?? 0,
      equivariance: progress.equivariance ?? 0,
    };
    training.view = { ...view, history: [...view.history, point] };
  }
});
// A job that fails to start is reported by the call that started it; one that fails while
// running (the model gone, the disk full) has no caller left to tell, so it is reported here.
const jobsUnderWay = new Set<string>();
api.on('job.state', (change) => {
  if (change.state === 'running') jobsUnderWay.add(change.jobId);
  else if (change.state !== 'starting') {
    training.live = null;
    if (change.state === 'failed' && jobsUnderWay.has(change.jobId)) {
      notices.show('error', `The ${change.kind} job failed: ${change.error ?? 'no reason given'}`);
    }
    jobsUnderWay.delete(change.jobId);
  }
  void training.refresh();
  void training.refreshJobs();
});
