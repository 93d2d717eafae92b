// What the UI sees: the data shapes of the typed API. The services' own types (electron/common) are
// plain JSON and travel unchanged; the few shapes here exist only at the UI boundary. Coordinates are
// pixels of the original image file (x right, y down, origin at the top-left corner).
import type { ImageRecord, ImageSummary } from '../common/images.js';
import type { ImageKeypoints, Keypoint } from '../common/keypoints.js';
import type { GroundTruthInstance } from '../common/groundTruth.js';

export type * from '../common/images.js';
export type * from '../common/keypoints.js';
export type * from '../common/groundTruth.js';
export type * from '../common/project.js';
export type * from '../common/transfer.js';
export type { ModelReference, RunStatus, JsonObject, JsonValue } from '../common/runs.js';

export type ExecutionProvider = 'cuda' | 'directml' | 'coreml' | 'webgpu' | 'cpu';

/** Parts of the product that need the engine, which a build or machine may lack. */
export type EnginePart = 'training' | 'model-check' | 'attention' | 'prediction' | 'evaluation';

export interface AppInfo {
  version: string;
  transport: 'ipc' | 'http';
  /** Changes when the server restarts, so a browser session can tell a restart from a network blip. */
  serverId: string;
  /** True in the desktop window, where files and folders are picked with the system dialog. */
  nativeDialogs: boolean;
  /** Folders the user opened: projects, images and exports must lie inside one of them. */
  allowedFolders: string[];
  /** What this build or machine cannot do, with the reason shown to the user. */
  unavailable: { part: EnginePart; reason: string }[];
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
  /** Effective point (correction, else prediction) of each current index that has one. */
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
  /** Peak memory the training step needs at the current settings. */
  memoryNeededBytes: number;
  provider: ExecutionProvider;
  /** Why this provider runs it, e.g. "CUDA addon found an H100" or "no GPU provider in this build". */
  providerReason: string;
  problems: string[];
}

export interface HeatMap {
  width: number;
  height: number;
  /** Row-major, normalised to 0..1. */
  values: number[];
}

export interface ProgressPoint {
  step: number;
  loss: number;
  equivariance: number;
  sharpening: number;
  imagesPerSecond: number;
}

export type TrainingState = 'running' | 'cancelled' | 'failed' | 'done' | 'paused' | 'queued';

export interface TrainingView {
  runId: number;
  state: TrainingState;
  step: number;
  totalSteps: number;
  settings: Record<string, number>;
  provider: ExecutionProvider | null;
  etaSeconds: number | null;
  /** Why it stopped, when it failed, in the user's words. */
  message: string | null;
  /** Every step so far, so a reloaded window redraws the whole plot. */
  history: ProgressPoint[];
}

export interface IndexMetric {
  name: string;
  /** Mean error, normalised as EvaluationReport.metric says. */
  error: number;
  /** Fraction of visible points within the PCK threshold. */
  pck: number;
}

export interface EvaluationReport {
  metric: string;
  pckThreshold: number;
  overall: { error: number; pck: number };
  perIndex: IndexMetric[];
  /** Worst first. */
  images: { id: number; path: string; error: number }[];
}
