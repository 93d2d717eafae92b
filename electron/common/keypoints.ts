// Parts (what the user means by a keypoint), keypoint indices (the K tokens a run chose, each
// standing for a part) and the keypoints placed on each image.
// Coordinates are always pixels of the original image file (x right, y down, origin at the
// top-left corner of the top-left pixel), whatever size the engine worked at.

/** COCO visibility: 0 absent/not labelled (x = y = 0), 1 labelled but occluded, 2 visible. */
export type Visibility = 0 | 1 | 2;

/** 'predicted' comes from a run; 'corrected' was placed by hand and is never overwritten by a run. */
export type KeypointSource = 'predicted' | 'corrected';

/**
 * What the user means by a keypoint, whatever run found it: a name, a colour, whether the export
 * includes it, its place in the list. Hand corrections and the skeleton are the project's, by part.
 */
export interface Part {
  id: number;
  /** The user's name, or null while unnamed. */
  name: string | null;
  /** `name`, or the stable default used for unnamed parts (see defaultPartName). */
  displayName: string;
  /** '#rrggbb'. */
  colour: string;
  /** Left out of exports (and off on the image by default). */
  hidden: boolean;
  /** Where the UI and the export list it (0-based, dense). */
  order: number;
}

export interface PartPatch {
  /** A new name; null or '' clears it back to the default. */
  name?: string | null;
  colour?: string;
  hidden?: boolean;
}

/** One of the K tokens a run chose, and the part it stands for. */
export interface KeypointIndex {
  id: number;
  runId: number;
  /** k: place in the run's chosen list (0-based); fixed once chosen. */
  position: number;
  /** The learned token (0..N-1) whose attention map gives this keypoint. */
  token: number;
  /** Null until the user has matched the run's indices to parts. */
  partId: number | null;
}

/** A skeleton edge between two parts. */
export interface SkeletonEdge {
  from: number;
  to: number;
}

/** A point of a part on an image: a run's prediction (through its index) or a hand correction. */
export interface Keypoint {
  imageId: number;
  partId: number;
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

/** What one index of a run predicted on one image. */
export interface Prediction {
  imageId: number;
  indexId: number;
  x: number;
  y: number;
  visibility: Visibility;
  score: number | null;
  updatedAt: string;
}

/** One part on one image: what the run said, what the user said, and which one counts. */
export interface PartPoint {
  partId: number;
  predicted: Keypoint | null;
  corrected: Keypoint | null;
  /** corrected ?? predicted: hand corrections win. */
  effective: Keypoint | null;
}

export interface ImageKeypoints {
  imageId: number;
  /** The run whose predictions are shown. */
  runId: number | null;
  /** One per part, in display order. */
  points: PartPoint[];
}

export interface CorrectedPointInput {
  partId: number;
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
  /** Rows whose image and part also have a hand correction: stored, but the correction still wins. */
  shadowedByCorrections: number;
}

/** How sure the matching is that an index stands for a part. */
export type MatchVerdict = 'confident' | 'check' | 'new';

/** The matching's proposal for one index of a run. */
export interface IndexMatch {
  indexId: number;
  position: number;
  token: number;
  /** The part it would stand for; null: a new, unnamed part. */
  partId: number | null;
  /** Mean distance to that part's points over `images`, as a share of the image diagonal. */
  distance: number | null;
  /** Images on which both the index and the part have a point. */
  images: number;
  verdict: MatchVerdict;
  /** The closest part whatever the verdict (for a new part: how far the nearest one is); null when no part shares an image. */
  nearest: { partId: number; distance: number } | null;
}

/** What adopting a run would do to the parts; nothing changes until the user accepts it. */
export interface MatchProposal {
  runId: number;
  /** The run whose points the parts were compared by (the current one); null when none. */
  comparedWithRunId: number | null;
  matches: IndexMatch[];
}

export interface IndexAssignment {
  indexId: number;
  /** Null: make a new part for it. */
  partId: number | null;
}

/** The stable name an unnamed part gets in the UI and in exports. */
export function defaultPartName(partId: number): string {
  return `keypoint_${partId}`;
}
