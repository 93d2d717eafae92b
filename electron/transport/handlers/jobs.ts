// API methods served by the job, model, training and evaluation services: model check, training
// and keypoint jobs, evaluation, attention maps.
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';

type JobMethods =
  | 'model.check'
  | 'training.settings'
  | 'training.current'
  | 'training.start'
  | 'training.resume'
  | 'keypoints.find'
  | 'jobs.list'
  | 'jobs.cancel'
  | 'attention.map'
  | 'evaluation.run'
  | 'evaluation.last'
  | 'parts.consistency';

export function jobHandlers({ services, allowed }: SessionContext): Pick<Handlers, JobMethods> {
  const { jobs, models, training, evaluation } = services;
  return {
    'model.check': ({ path }) => models.check(allowed.check(path, 'model', 'file-or-folder')),
    'training.settings': async () => training.settings(),
    'training.current': () => training.current(),
    'training.start': ({ settings }) => jobs.start({ kind: 'train', settings }),
    'training.resume': ({ runId }) => jobs.start({ kind: 'train', resumeRunId: runId }),
    'keypoints.find': ({ runId }) =>
      jobs.start(runId === undefined ? { kind: 'keypoints' } : { kind: 'keypoints', runId }),
    'jobs.list': () => jobs.list(),
    'jobs.cancel': ({ jobId }) => jobs.cancel(jobId),
    'attention.map': ({ imageId, partId }) => evaluation.attentionMap(imageId, partId),
    'evaluation.run': () => evaluation.evaluate(),
    'evaluation.last': () => evaluation.last(),
    'parts.consistency': () => evaluation.indexConsistency(),
  };
}
