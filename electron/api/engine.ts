// What the UI needs from the keypoint engine (model check, training jobs, attention maps,
// evaluation). The jobs code provides an Engine; a build or machine without one uses
// `engineUnavailable`, and the UI says why instead of offering buttons that cannot work.
import type { Disposable } from '../common/events.js';
import { ApiError } from './errors.js';
import type { EventHub } from './events.js';
import type { EnginePart, EvaluationReport, HeatMap, ModelCheck, TrainingView } from './types.js';

export interface Engine {
  /** What this engine cannot do here, with the reason to show. */
  unavailable(): { part: EnginePart; reason: string }[];
  checkModel(path: string): Promise<ModelCheck>;
  currentTraining(): Promise<TrainingView | null>;
  startTraining(settings: Record<string, number>): Promise<TrainingView>;
  cancelTraining(runId: number): Promise<TrainingView>;
  resumeTraining(runId: number): Promise<TrainingView>;
  attentionMap(imageId: number, indexId: number): Promise<HeatMap>;
  evaluate(): Promise<EvaluationReport>;
  /** Sends training progress and state changes to the session's events. */
  forwardEvents(events: EventHub): Disposable[];
}

/** An engine that can do nothing, for builds that have none: every call explains itself. */
export function engineUnavailable(reason: string): Engine {
  const refuse = (what: string) => (): Promise<never> =>
    Promise.reject(new ApiError('unavailable', `${what} is not available: ${reason}`));
  const parts: EnginePart[] = ['training', 'model-check', 'attention', 'prediction', 'evaluation'];
  return {
    unavailable: () => parts.map((part) => ({ part, reason })),
    checkModel: refuse('Checking a model'),
    currentTraining: () => Promise.resolve(null),
    startTraining: refuse('Training'),
    cancelTraining: refuse('Training'),
    resumeTraining: refuse('Training'),
    attentionMap: refuse('The attention map'),
    evaluate: refuse('Evaluation'),
    forwardEvents: () => [],
  };
}
