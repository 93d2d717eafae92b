// API methods served by the job, model, training and evaluation services: model check, training
// and keypoint jobs, evaluation, attention maps.
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';

type JobMethods =
  | 'model.check'
  | 'training.settings'
  | 'training.current'
  | 'training.start'
  | 'training.setWorkers'
  | 'training.resume'
  | 'keypoints.find'
  | 'jobs.list'
  | 'jobs.cancel'
  | 'attention.map'
  | 'evaluation.run'
  | 'evaluation.last'
  | 'parts.consistency'
  | 'quality.check';

export function jobHandlers({ services, allowed }: SessionContext): Pick<Handlers, JobMethods> {
  const { jobs, models, training, evaluation, project, quality } = services;
  /** The project's choice of workers, for a job the app starts. */
  const workers = async () => {
    const choice = (await project.info()).settings.workers;
    return choice ? { workers: choice } : {};
  };
  return {
    'model.check': ({ path, settings }) => models.check(allowed.check(path, 'model', 'file-or-folder'), settings),
    'training.settings': async () => training.settings(),
    'training.current': () => training.current(),
    'training.start': async ({ settings }) => jobs.start({ kind: 'train', settings, ...(await workers()) }),
    'training.setWorkers': ({ workers }) => project.updateSettings({ workers }),
    'training.resume': async ({ runId }) => jobs.start({ kind: 'train', resumeRunId: runId, ...(await workers()) }),
    'keypoints.find': async ({ runId }) =>
      jobs.start({ kind: 'keypoints', ...(runId === undefined ? {} : { runId }), ...(await workers()) }),
    'jobs.list': () => jobs.list(),
    'jobs.cancel': ({ jobId }) => jobs.cancel(jobId),
    'attention.map': ({ imageId, partId }) => evaluation.attentionMap(imageId, partId),
    'evaluation.run': () => evaluation.evaluate(),
    'evaluation.last': () => evaluation.last(),
    'parts.consistency': () => evaluation.indexConsistency(),
    'quality.check': () => quality.check(),
  };
}
