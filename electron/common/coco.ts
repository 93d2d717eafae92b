// The COCO keypoints file as the workstation writes it: the export and the demo data set both
// produce this shape, so it lives with the other shared types rather than in either writer.
import type { KeypointSource } from './keypoints.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  keypoints: number[];
  num_keypoints: number;
  bbox: [number, number, number, number];
  area: number;
  iscrowd: 0 | 1;
  keypoint_scores?: Array<number | null>;
  keypoint_sources?: Array<KeypointSource | null>;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
  keypoints: string[];
  skeleton: Array<[number, number]>;
  keypoint_colors?: string[];
}

export interface CocoDocument {
  info: { description: string; version: string; date_created: string };
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}
