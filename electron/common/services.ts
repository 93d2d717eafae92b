// The service interfaces the CLI, the headless server and the UI all use. Every argument and
// result is plain JSON so transports (Electron IPC, HTTP) can carry them unchanged; progress
// arrives through events, never through callbacks passed as arguments.

import type { Event } from './events.js';
import type { GroundTruthInstance, GroundTruthSchema, GroundTruthSummary } from './groundTruth.js';
import type { ImageKeypoints, IndexAssignment, KeypointIndex, CorrectedPointInput, Keypoint } from './keypoints.js';
import type { MatchProposal, Part, PartPatch } from './keypoints.js';
import type { PredictedPointInput, PredictionWriteResult, SkeletonEdge } from './keypoints.js';
import type { ImagePage, ImageQuery, ImageRecord, ImportFolderResult, ImportProgress, Split } from './images.js';
import type { CreateProjectRequest, CreateProjectResult, OpenProjectOptions, ProjectInfo } from './project.js';
import type { ProjectSettings, ProjectSettingsPatch } from './project.js';
import type { ModelReference, ModelReferenceInput } from './runs.js';
import type {
  CocoExportRequest,
  CocoExportResult,
  CocoImportRequest,
  CsvExportRequest,
  CsvExportResult,
  CubImportRequest,
} from './transfer.js';
import type { LabelledImportResult, NewProjectImportRequest } from './transfer.js';

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
  /** The project's parts, in display order. */
  listParts(): Promise<Part[]>;
  updatePart(partId: number, patch: PartPatch): Promise<Part>;
  /** `partIds`: every part, in the new display order. */
  reorderParts(partIds: number[]): Promise<Part[]>;
  getSkeleton(): Promise<SkeletonEdge[]>;
  /** Replaces the skeleton. */
  setSkeleton(edges: SkeletonEdge[]): Promise<SkeletonEdge[]>;
  /** Indices of `runId`, or of the current run; in chosen order. */
  listIndices(runId?: number): Promise<KeypointIndex[]>;
  /** Every part on one image: the predictions of `runId` (or the current run) and the corrections. */
  getKeypoints(imageId: number, runId?: number): Promise<ImageKeypoints>;
  /** Places points of parts by hand on one image, all or nothing. */
  setCorrected(imageId: number, points: CorrectedPointInput[]): Promise<Keypoint[]>;
  /** Removes hand corrections (the user's explicit "revert to prediction"). */
  clearCorrected(imageId: number, partIds: number[]): Promise<number>;
  /** Stores predictions; never changes a hand correction. */
  setPredicted(runId: number, points: PredictedPointInput[]): Promise<PredictionWriteResult>;
  /** Which part each index of the run would stand for; changes nothing. */
  proposeMatch(runId: number): Promise<MatchProposal>;
  /** The user's accepted (or edited) match: the run's indices stand for these parts, and the run becomes the current one. */
  adoptRun(runId: number, assignments: IndexAssignment[]): Promise<KeypointIndex[]>;
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
  /** Creates the project, named after the dataset, and imports it; a failed import leaves no project behind. */
  importAsNewProject(request: NewProjectImportRequest): Promise<{ info: ProjectInfo; imported: LabelledImportResult }>;
}

export interface ExportService {
  exportCoco(request: CocoExportRequest): Promise<CocoExportResult>;
  exportCsv(request: CsvExportRequest): Promise<CsvExportResult>;
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
