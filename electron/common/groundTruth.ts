// Labelled keypoints imported from COCO or CUB. They live apart from what the app predicts
// and are only read (for display and evaluation) or replaced by a later import.

import type { Visibility } from './keypoints.js';

export interface GroundTruthPart {
  /** 0-based place in the labelled keypoint list. */
  position: number;
  name: string;
}

export interface GroundTruthSchema {
  parts: GroundTruthPart[];
  /** Edges between part positions (0-based here; COCO files use 1-based). */
  skeleton: Array<[number, number]>;
}

export interface GroundTruthPoint {
  part: number;
  x: number;
  y: number;
  visibility: Visibility;
}

export interface BoundingBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GroundTruthInstance {
  id: number;
  imageId: number;
  category: string;
  bbox: BoundingBox | null;
  /** Area as given by the source (COCO `area`), or null. */
  area: number | null;
  iscrowd: boolean;
  /** Where it came from, e.g. "coco:train.json#17" or "cub:images.txt#42". */
  origin: string;
  points: GroundTruthPoint[];
}

export interface GroundTruthSummary {
  parts: GroundTruthPart[];
  instances: number;
  images: number;
}
