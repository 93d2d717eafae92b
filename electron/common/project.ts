// A project: one SQLite file holding a dataset, its runs and its keypoints.

import type { ImportFolderResult } from './images.js';
import type { SavedWorkersChoice } from './jobs.js';
import type { KeypointIndex, Part } from './keypoints.js';
import type { JsonObject, ModelReference, RunStatus } from './runs.js';

export interface ProjectSettings {
  /** Shown in the UI; also the COCO category name on export. */
  name: string;
  /** The run whose predictions are shown; null: the latest run whose indices stand for parts. */
  activeRunId: number | null;
  modelId: number | null;
  /** Where the app's training and keypoint jobs compute; null: in the job itself, on this machine. */
  workers: SavedWorkersChoice | null;
}

export type ProjectSettingsPatch = Partial<ProjectSettings>;

export interface CreateProjectRequest {
  /** Path of the new project file (conventionally *.skp); must not exist yet. */
  path: string;
  /** A folder of images to import right away. */
  images?: string;
  name?: string;
}

/**
 * How to open a project that another process has open for writing: by default the open is
 * refused, naming that process. 'if-locked': open it read-only then (commands that only read);
 * true: open it read-only in any case (to look at a project being edited elsewhere).
 */
export interface OpenProjectOptions {
  readOnly?: boolean | 'if-locked';
}

export interface CreateProjectResult {
  info: ProjectInfo;
  imported: ImportFolderResult | null;
}

export interface RunSummary {
  id: number;
  name: string | null;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  settings: JsonObject;
  indexCount: number;
  lastStep: number | null;
  /** The loss at the last recorded step. */
  finalLoss: number | null;
  /** Its indices stand for parts (it can feed the predictions). */
  matched: boolean;
}

export interface ProjectCounts {
  images: number;
  train: number;
  test: number;
  unassigned: number;
  imagesWithGroundTruth: number;
  groundTruthParts: number;
  runs: number;
  parts: number;
  /** Of the current run. */
  indices: number;
  /** Of the current run. */
  predictedKeypoints: number;
  /** Of every part: corrections belong to the project, not to a run. */
  correctedKeypoints: number;
  imagesWithCorrections: number;
}

export interface ProjectInfo {
  /** Absolute path of the project file. */
  path: string;
  schemaVersion: number;
  readOnly: boolean;
  /** Why the project is read-only, in the user's words. */
  readOnlyReason: string | null;
  settings: ProjectSettings;
  counts: ProjectCounts;
  model: ModelReference | null;
  runs: RunSummary[];
  /** The run whose predictions are shown (settings.activeRunId or the latest matched run). */
  currentRunId: number | null;
  parts: Part[];
  /** The current run's indices. */
  indices: KeypointIndex[];
  /** Project file plus its write-ahead log. */
  fileBytes: number;
}
