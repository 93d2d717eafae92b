// Import of labelled layouts users already have, and export to COCO keypoints.

import type { SkippedFile, Split } from './images.js';

export interface CocoImportRequest {
  /** The COCO keypoints JSON file. */
  file: string;
  /** Folder that `images[].file_name` is relative to; default: the JSON file's folder. */
  imagesRoot?: string;
}

export interface CubImportRequest {
  /** The CUB_200_2011 folder (images.txt, images/, parts/, ...). */
  folder: string;
}

/** A new project at `path` holding a labelled dataset. */
export type NewProjectImportRequest = { path: string } & (
  ({ kind: 'coco' } & CocoImportRequest) | ({ kind: 'cub' } & CubImportRequest)
);

export interface LabelledImportResult {
  source: string;
  /** Images new to the project. */
  imagesAdded: number;
  /** Images the project already had (same path). */
  imagesMatched: number;
  /** Image files that could not be read; their annotations were left out. */
  skipped: SkippedFile[];
  /** Ground-truth instances stored. */
  instances: number;
  /** Annotations dropped because their image was skipped. */
  instancesDropped: number;
  /** Images whose earlier ground truth this import replaced. */
  imagesReplaced: number;
  parts: string[];
  splitsSet: number;
  seconds: number;
}

export interface CocoExportRequest {
  file: string;
  /** Only images with at least one hand correction. */
  onlyCorrected?: boolean;
  split?: Split;
  /** Add `keypoint_scores` and `keypoint_sources` to each annotation. */
  withScores?: boolean;
  /** Export the imported ground truth instead of the app's keypoints. */
  groundTruth?: boolean;
  /** false: a file already there is a 'conflict', for the UI to ask; left out, the file named is replaced (the CLI). */
  overwrite?: boolean;
}

export interface CocoExportResult {
  file: string;
  images: number;
  annotations: number;
  keypointNames: string[];
  bytes: number;
  seconds: number;
}

/** The same selection as a COCO export, as a CSV table; sources and scores are always in it. */
export type CsvExportRequest = Omit<CocoExportRequest, 'withScores'>;

export interface CsvExportResult {
  file: string;
  /** Images with a row (those with keypoints). */
  images: number;
  /** One per image and part. */
  rows: number;
  keypointNames: string[];
  bytes: number;
  seconds: number;
}
