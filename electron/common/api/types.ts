// What the UI sees: the data shapes of the typed API. The services' own types (electron/common) are
// plain JSON and travel unchanged; the few shapes here exist only at the UI boundary. Coordinates are
// pixels of the original image file (x right, y down, origin at the top-left corner).
import type { ImageRecord, ImageSummary } from '../images.js';
import type { ImageKeypoints, Keypoint } from '../keypoints.js';
import type { GroundTruthInstance } from '../groundTruth.js';
import type { EvaluatedImage, EvaluationResult, JobStatus } from '../jobs.js';
import type { LossPoint, TrainingRun } from '../runs.js';

export type * from '../images.js';
export type * from '../keypoints.js';
export type * from '../groundTruth.js';
export type * from '../project.js';
export type * from '../transfer.js';
export type { ModelReference, RunStatus, JsonObject, JsonValue, LossPoint, TrainingRun } from '../runs.js';
export type * from '../jobs.js';

export type ExecutionProvider = 'cuda' | 'directml' | 'coreml' | 'webgpu' | 'cpu';

export interface AppInfo {
  version: string;
  transport: 'ipc' | 'http';
  /** Changes when the server restarts, so a browser session can tell a restart from a network blip. */
  serverId: string;
  /** True in the desktop window, where files and folders are picked with the system dialog. */
  nativeDialogs: boolean;
  /** Folders the user opened: projects, images and exports must lie inside one of them. */
  allowedFolders: string[];
}

export interface FolderEntry {
  name: string;
  path: string;
  kind: 'folder' | 'file';
}

export interface FolderListing {
  path: string;
  /** Null at the top of an allowed folder: browsing goes no higher. */
  parent: string | null;
  entries: FolderEntry[];
}

export interface RecentProject {
  path: string;
  name: string;
  openedAt: string;
  /** False when the file was moved or deleted since. */
  exists: boolean;
}

/** A grid row: the image, what the list says about it, and its points for the thumbnail. */
export interface ImageRow extends ImageSummary {
  /** Effective point (correction, else the current run's prediction) of each part that has one. */
  points: Keypoint[];
}

export interface ImageRowPage {
  total: number;
  offset: number;
  items: ImageRow[];
}

export interface ImageDetail {
  image: ImageRecord;
  /** False when the file was deleted or moved since it was added; its keypoints stay. */
  fileExists: boolean;
  keypoints: ImageKeypoints;
  groundTruth: GroundTruthInstance[];
  /** Marked reviewed in the review queue. */
  reviewed: boolean;
}

export interface ImageFile {
  mime: string;
  bytes: Uint8Array;
}

export interface ModelCheck {
  path: string;
  ok: boolean;
  architecture: string;
  dtype: string;
  parameterCount: number;
  /** GPU memory training needs on native CUDA at `memorySettings`. */
  memoryNeededBytes: number;
  /** The same with the "Low GPU memory" setting. */
  lowMemoryTrainingBytes: number;
  /** Finding keypoints (augmented inference) at `memorySettings`. */
  inferenceBytes: number;
  /** The settings the memory figures are for, in words: the reference's (512 px, 500 tokens, maps
   * 128²) unless the check was asked for others. */
  memorySettings: string;
  provider: ExecutionProvider;
  /** Why this provider runs it, e.g. "CUDA addon found an H100" or "no GPU provider in this build". */
  providerReason: string;
  /** Made by `skp demo` / the tests with random weights: it runs, but its keypoints mean nothing. */
  randomWeights: boolean;
  problems: string[];
}

/** One index's attention map on one image, as kept by the keypoints job (at most 64×64). It covers
 * the whole image, stretched as the method saw it. */
export interface HeatMap {
  width: number;
  height: number;
  /** Row-major, normalised to 0..1 of `peak`. */
  values: number[];
  /** The map's largest value (0..1: at each pixel the maps are the share of the attention each token
   * gets), what 1 in `values` stands for. */
  peak: number;
}

/** An evaluation as the UI shows it: the stored result, with the path of each listed image. */
export interface EvaluationReport extends Omit<EvaluationResult, 'images'> {
  /** Worst first; empty for a result stored before images were listed (evaluate again). */
  images: Array<EvaluatedImage & { path: string }>;
}

/** One thing the label checks found on one image. */
export interface QualityIssue {
  imageId: number;
  path: string;
  /** far-from-usual: a point far from where its part sits on the other images; odd-edge-length: a
   * skeleton edge far longer or shorter than usual. */
  kind: 'far-from-usual' | 'odd-edge-length';
  /** The part, or the edge's two parts. */
  partIds: number[];
  partNames: string[];
  /** The distance or the length, in units of the mean shape's size, and the same on a typical image. */
  measure: number;
  usual: number;
}

export interface QualityReport {
  /** Images with three or more labelled points, the ones checked. */
  checkedImages: number;
  /** Fewer checked images than this say nothing about what is usual. */
  minImages: number;
  tooFew: boolean;
  totalIssues: number;
  /** The worst first, at most a few hundred. */
  issues: QualityIssue[];
}

/** The latest training run as the training panel shows it, whole history included, so a reloaded
 * window redraws the full loss curve. */
export interface TrainingView {
  run: TrainingRun;
  totalSteps: number;
  history: LossPoint[];
  /** The job of this server working on the run now; null when none is. */
  job: JobStatus | null;
}

export interface IndexConsistency {
  partId: number;
  /** 0..1 */
  consistency: number;
}

/** A training setting the UI offers, with the reference default and a one-line explanation. */
export type SettingDescription = NumberSetting | SwitchSetting;

export interface NumberSetting {
  kind: 'number';
  key: string;
  label: string;
  default: number;
  min: number;
  /** Whole numbers only. */
  integer: boolean;
  explain: string;
}

/** A setting that is on or off. */
export interface SwitchSetting {
  kind: 'switch';
  key: string;
  label: string;
  default: boolean;
  explain: string;
}
