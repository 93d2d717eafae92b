// The service interfaces the CLI, the headless server and the UI all use. Every argument and
// result is plain JSON so transports (Electron IPC, HTTP) can carry them unchanged; progress
// arrives through events, never through callbacks passed as arguments.

import type { Event } from './events.js';
import type { GroundTruthInstance, GroundTruthSchema, GroundTruthSummary } from './groundTruth.js';
import type { ImageKeypoints, IndexPatch, KeypointIndex, CorrectedPointInput, Keypoint } from './keypoints.js';
import type { PredictedPointInput, PredictionWriteResult, SkeletonEdge } from './keypoints.js';
import type { ImagePage, ImageQuery, ImageRecord, ImportFolderResult, ImportProgress, Split } from './images.js';
import type { CreateProjectRequest, CreateProjectResult, OpenProjectOptions, ProjectInfo } from './project.js';
import type { ProjectSettings, ProjectSettingsPatch } from './project.js';
import type { ModelReference, ModelReferenceInput } from './runs.js';
import type { CocoExportRequest, CocoExportResult, CocoImportRequest, CubImportRequest } from './transfer.js';
import type { LabelledImportResult } from './transfer.js';

/** Opens, creates and closes the one current project. */
export interface ProjectService {
  readonly onDidChangeProject: Event<ProjectInfo | null>;
  create(request: CreateProjectRequest): Promise<CreateProjectResult>;
  open(path: string, options?: OpenProjectOptions): Promise<ProjectInfo>;
  close(): Promise<void>;
  /** Null when no project is open. */
  current(): Promise<ProjectInfo | null>;
  info(): Promise<ProjectInfo>;
  updateSettings(patch: ProjectSettingsPatch): Promise<ProjectSettings>;
  setModel(model: ModelReferenceInput): Promise<ModelReference>;
}

export interface ImageService {
  readonly onImportProgress: Event<ImportProgress>;
  importFolder(folder: string): Promise<ImportFolderResult>;
  list(query: ImageQuery): Promise<ImagePage>;
  get(id: number): Promise<ImageRecord>;
  setSplit(ids: number[], split: Split | null): Promise<number>;
  /** Marks images reviewed or not (the review queue); returns how many changed. */
  setReviewed(ids: number[], reviewed: boolean): Promise<number>;
  isReviewed(id: number): Promise<boolean>;
}

export interface KeypointService {
  /** Indices of `runId`, or of the current run; in display order. */
  listIndices(runId?: number): Promise<KeypointIndex[]>;
  updateIndex(indexId: number, patch: IndexPatch): Promise<KeypointIndex>;
  /** `indexIds`: every index of the run, in the new display order. */
  reorderIndices(runId: number, indexIds: number[]): Promise<KeypointIndex[]>;
  getSkeleton(runId?: number): Promise<SkeletonEdge[]>;
  /** Replaces the run's skeleton. */
  setSkeleton(runId: number, edges: SkeletonEdge[]): Promise<SkeletonEdge[]>;
  getKeypoints(imageId: number, runId?: number): Promise<ImageKeypoints>;
  /** Places points by hand on one image, all or nothing. */
  setCorrected(imageId: number, points: CorrectedPointInput[]): Promise<Keypoint[]>;
  /** Removes hand corrections (the user's explicit "revert to prediction"). */
  clearCorrected(imageId: number, indexIds: number[]): Promise<number>;
  /** Stores predictions; never changes a hand-corrected row. */
  setPredicted(runId: number, points: PredictedPointInput[]): Promise<PredictionWriteResult>;
}

export interface GroundTruthService {
  summary(): Promise<GroundTruthSummary>;
  schema(): Promise<GroundTruthSchema>;
  forImage(imageId: number): Promise<GroundTruthInstance[]>;
}

export interface ImportService {
  readonly onImportProgress: Event<ImportProgress>;
  importCoco(request: CocoImportRequest): Promise<LabelledImportResult>;
  importCub(request: CubImportRequest): Promise<LabelledImportResult>;
}

export interface ExportService {
  exportCoco(request: CocoExportRequest): Promise<CocoExportResult>;
}

/** Everything the UI and CLI reach, one instance each per app (or per CLI invocation). */
export interface Services {
  project: ProjectService;
  images: ImageService;
  keypoints: KeypointService;
  groundTruth: GroundTruthService;
  imports: ImportService;
  exports: ExportService;
}
