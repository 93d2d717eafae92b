// API methods served by the keypoint engine: model check, training and keypoint jobs, evaluation,
// attention maps.
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';
import { trainingSettings } from '../training-settings.js';

type EngineMethods =
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

export function engineHandlers({ engine, allowed }: SessionContext): Pick<Handlers, EngineMethods> {
  return {
    'model.check': ({ path }) => engine.checkModel(allowed.check(path, 'model', 'file-or-folder')),
    'training.settings': async () => trainingSettings(),
    'training.current': () => engine.currentTraining(),
    'training.start': ({ settings }) => engine.startTraining(settings),
    'training.resume': ({ runId }) => engine.resumeTraining(runId),
    'keypoints.find': ({ runId }) => engine.findKeypoints(runId),
    'jobs.list': () => engine.jobs(),
    'jobs.cancel': ({ jobId }) => engine.cancelJob(jobId),
    'attention.map': ({ imageId, partId }) => engine.attentionMap(imageId, partId),
    'evaluation.run': () => engine.evaluate(),
    'evaluation.last': () => engine.lastEvaluation(),
    'parts.consistency': () => engine.indexConsistency(),
  };
}
