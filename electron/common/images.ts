// Images of a project as the UI lists them.

export type ImageFormat = 'jpeg' | 'png' | 'webp';
export type Split = 'train' | 'test';

export interface ImageRecord {
  id: number;
  /** As stored: relative to the project file's folder where possible, '/' separators. */
  path: string;
  /** Resolved against the project's folder. */
  absolutePath: string;
  width: number;
  height: number;
  format: ImageFormat;
  bytes: number;
  sha256: string;
  /** EXIF orientation tag (1..8); width and height are of the stored pixels, before rotation. */
  orientation: number;
  split: Split | null;
  addedAt: string;
}

/** A list row: the image plus what the grid shows about it. */
export interface ImageSummary extends ImageRecord {
  /** Hand-corrected keypoints of the current indices. */
  correctedCount: number;
  /** Lowest prediction score of the current indices, null when nothing was predicted. */
  minScore: number | null;
  hasGroundTruth: boolean;
  /** The user marked it reviewed (the review queue). */
  reviewed: boolean;
}

export type ImageSort = 'path' | 'added' | 'min-score';

export interface ImageQuery {
  offset?: number;
  /** At most 1000. */
  limit?: number;
  /** true: only images with a hand correction; false: only images without. */
  corrected?: boolean;
  /** Only images with a predicted score below this value. */
  scoreBelow?: number;
  hasGroundTruth?: boolean;
  /** true: only images marked reviewed; false: only those not yet reviewed. */
  reviewed?: boolean;
  /** 'none': images without a split. */
  split?: Split | 'none';
  /** Substring of the path, case-insensitive. */
  pathContains?: string;
  sort?: ImageSort;
}

export interface ImagePage {
  total: number;
  offset: number;
  items: ImageSummary[];
}

/** A file that was not imported, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ImportProgress {
  /** Files examined so far. */
  done: number;
  total: number;
  imported: number;
  skipped: number;
}

export interface ImportFolderResult {
  folder: string;
  /** Files found under the folder. */
  found: number;
  imported: number;
  /** Already in the project (same path): left as they were. */
  alreadyPresent: number;
  skipped: SkippedFile[];
  seconds: number;
}
