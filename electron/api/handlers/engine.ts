// API methods served by the keypoint engine: model check, training, attention maps, evaluation.
import type { Handlers } from '../dispatcher.js';
import { trainingSettings } from '../training-settings.js';
import type { SessionContext } from '../session.js';

type EngineMethods =
  | 'model.check'
  | 'training.settings'
  | 'training.current'
  | 'training.start'
  | 'training.cancel'
  | 'training.resume'
  | 'attention.map'
  | 'evaluation.report';

export function engineHandlers({ engine, allowed }: SessionContext): Pick<Handlers, EngineMethods> {
  return {
    'model.check': ({ path }) => engine.checkModel(allowed.check(path, 'model')),
    'training.settings': async () => trainingSettings(),
    'training.current': () => engine.currentTraining(),
    'training.start': ({ settings }) => engine.startTraining(settings),
    'training.cancel': ({ runId }) => engine.cancelTraining(runId),
    'training.resume': ({ runId }) => engine.resumeTraining(runId),
    'attention.map': ({ imageId, indexId }) => engine.attentionMap(imageId, indexId),
    'evaluation.report': () => engine.evaluate(),
  };
}
