// What the UI needs from the keypoint engine: checking a model, training and keypoint jobs, the
// evaluation, attention maps. job-engine.ts provides it on top of the job service; the interface
// keeps the API handlers independent of how jobs run.
import type { Disposable } from '../common/events.js';
import type { EventHub } from './events.js';
import type {
  EnginePart,
  EvaluationReport,
  HeatMap,
  IndexConsistency,
  JobStatus,
  ModelCheck,
  TrainingView,
} from '../common/api/types.js';

export interface Engine {
  /** What this engine cannot do here, with the reason to show. */
  unavailable(): { part: EnginePart; reason: string }[];
  checkModel(path: string): Promise<ModelCheck>;
  currentTraining(): Promise<TrainingView | null>;
  startTraining(settings: Record<string, number>): Promise<JobStatus>;
  resumeTraining(runId: number): Promise<JobStatus>;
  findKeypoints(runId: number | undefined): Promise<JobStatus>;
  jobs(): Promise<JobStatus[]>;
  cancelJob(jobId: string): Promise<JobStatus>;
  evaluate(): Promise<EvaluationReport>;
  lastEvaluation(): Promise<EvaluationReport | null>;
  /** The attention map of the current run's index for `partId`. */
  attentionMap(imageId: number, partId: number): Promise<HeatMap>;
  /** Per part, through the current run's index for it: the share of the index-choice images on which its token was among
   * the K chosen — how consistently it lands as a keypoint across images. Empty before the choice. */
  indexConsistency(): Promise<IndexConsistency[]>;
  /** Sends job progress and state changes to the session's events. */
  forwardEvents(events: EventHub): Disposable[];
}
