// Keypoint indices (the K tokens a run chose) and the keypoints placed on each image.
// Coordinates are always pixels of the original image file (x right, y down, origin at the
// top-left corner of the top-left pixel), whatever size the engine worked at.

/** COCO visibility: 0 absent/not labelled (x = y = 0), 1 labelled but occluded, 2 visible. */
export type Visibility = 0 | 1 | 2;

/** 'predicted' comes from a run; 'corrected' was placed by hand and is never overwritten by a run. */
export type KeypointSource = 'predicted' | 'corrected';

export interface KeypointIndex {
  id: number;
  runId: number;
  /** k: place in the run's chosen list (0-based); fixed once chosen. */
  position: number;
  /** The learned token (0..N-1) whose attention map gives this keypoint. */
  token: number;
  /** The user's name, or null while unnamed. */
  name: string | null;
  /** `name`, or the stable default used for unnamed indices (see defaultIndexName). */
  displayName: string;
  /** '#rrggbb'. */
  colour: string;
  hidden: boolean;
  /** Where the UI and the export list it (0-based, dense). */
  order: number;
}

export interface IndexPatch {
  /** A new name; null or '' clears it back to the default. */
  name?: string | null;
  colour?: string;
  hidden?: boolean;
}

/** A skeleton edge between two indices of the same run. */
export interface SkeletonEdge {
  from: number;
  to: number;
}

export interface Keypoint {
  imageId: number;
  indexId: number;
  source: KeypointSource;
  x: number;
  y: number;
  visibility: Visibility;
  /** Confidence of a prediction; null for hand corrections. */
  score: number | null;
  /** The run whose tokens predicted it; null for hand corrections. */
  runId: number | null;
  updatedAt: string;
}

/** One index on one image: what the run said, what the user said, and which one counts. */
export interface IndexPoint {
  indexId: number;
  predicted: Keypoint | null;
  corrected: Keypoint | null;
  /** corrected ?? predicted: hand corrections win. */
  effective: Keypoint | null;
}

export interface ImageKeypoints {
  imageId: number;
  runId: number | null;
  points: IndexPoint[];
}

export interface CorrectedPointInput {
  indexId: number;
  x: number;
  y: number;
  visibility: Visibility;
}

export interface PredictedPointInput {
  imageId: number;
  indexId: number;
  x: number;
  y: number;
  visibility: Visibility;
  score: number | null;
}

export interface PredictionWriteResult {
  written: number;
  /** Rows whose image and index also have a hand correction: stored, but the correction still wins. */
  shadowedByCorrections: number;
}

/** The stable name an unnamed index gets in the UI and in exports. */
export function defaultIndexName(position: number): string {
  return `keypoint_${position + 1}`;
}
