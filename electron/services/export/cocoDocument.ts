// Building COCO keypoints documents from a project: the app's keypoints (hand corrections
// win over predictions) or the imported ground truth. Conventions (see shared/docs/UX.md):
// keypoints [x, y, v] × K in the order of categories[].keypoints, v = 0 written as 0, 0, 0;
// num_keypoints counts v > 0; skeleton 1-based and always present (pycocotools reads it);
// area from the box of the labelled points with a floor, since one point would give 0.

import { badInput } from '../../common/errors.js';
import type { BoundingBox } from '../../common/groundTruth.js';
import type { ImageRecord, Split } from '../../common/images.js';
import type { Keypoint, KeypointSource } from '../../common/keypoints.js';
import type { ProjectDatabase } from '../../db/database.js';
import { GroundTruthStore } from '../../db/groundTruthStore.js';
import { ImageStore, toStoredPath } from '../../db/imageStore.js';
import { KeypointStore } from '../../db/keypointStore.js';
import { readSettings } from '../../db/settingsStore.js';

/** Smallest `area` written, as a fraction of the image's area: keeps OKS meaningful for one or two points. */
export const AREA_FLOOR = 0.01;

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

export interface CocoSelection {
  onlyCorrected?: boolean;
  split?: Split;
  withScores?: boolean;
}

interface Point {
  x: number;
  y: number;
  visibility: number;
}

const round = (value: number) => Math.round(value * 100) / 100;

function flatten(points: Point[]): number[] {
  return points.flatMap((p) => (p.visibility === 0 ? [0, 0, 0] : [round(p.x), round(p.y), p.visibility]));
}

/** The tight box of the labelled (v > 0) points, or null when there are none. */
function pointsBox(points: Point[]): BoundingBox | null {
  const labelled = points.filter((p) => p.visibility > 0);
  if (labelled.length === 0) return null;
  const xs = labelled.map((p) => p.x);
  const ys = labelled.map((p) => p.y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}

function boxAndArea(box: BoundingBox | null, image: ImageRecord): { bbox: CocoAnnotation['bbox']; area: number } {
  const b = box ?? { x: 0, y: 0, width: 0, height: 0 };
  const area = Math.max(b.width * b.height, AREA_FLOOR * image.width * image.height);
  return { bbox: [round(b.x), round(b.y), round(b.width), round(b.height)], area: round(area) };
}

function cocoImage(image: ImageRecord, outputFolder: string): CocoImage {
  return {
    id: image.id,
    file_name: toStoredPath(outputFolder, image.absolutePath),
    width: image.width,
    height: image.height,
  };
}

function info(db: ProjectDatabase, what: string): CocoDocument['info'] {
  return {
    description:
      `${what} of Keypoint Workstation project "${readSettings(db).name}". ` +
      `area: the object box when the project has one, else the box of the labelled points, ` +
      `at least ${AREA_FLOOR * 100}% of the image area.`,
    version: '1.0',
    date_created: new Date().toISOString(),
  };
}

function selectImages(db: ProjectDatabase, split: Split | undefined): ImageRecord[] {
  const all = new ImageStore(db).all();
  return split ? all.filter((image) => image.split === split) : all;
}

/**
 * The app's keypoints of the current run: visible (not hidden) indices in display order,
 * one annotation per image that has any keypoint of them.
 */
export function keypointsDocument(db: ProjectDatabase, selection: CocoSelection, outputFolder: string): CocoDocument {
  const store = new KeypointStore(db);
  const runId = store.currentRunId();
  if (runId === null) {
    throw badInput(`${db.path} has no keypoint indices yet (no run has chosen any); export the ground truth instead`);
  }
  const indices = store.indices(runId).filter((index) => !index.hidden);
  if (indices.length === 0) throw badInput(`every keypoint index of run ${runId} is hidden; nothing to export`);
  const column = new Map(indices.map((index, k) => [index.id, k]));
  const skeleton = store
    .skeleton(runId)
    .filter((edge) => column.has(edge.from) && column.has(edge.to))
    .map((edge) => [(column.get(edge.from) as number) + 1, (column.get(edge.to) as number) + 1] as [number, number]);

  const rowsByImage = new Map<number, Keypoint[]>();
  for (const row of store.forRun(runId)) {
    if (!column.has(row.indexId)) continue;
    const rows = rowsByImage.get(row.imageId) ?? [];
    rows.push(row);
    rowsByImage.set(row.imageId, rows);
  }
  const objectBoxes = new GroundTruthStore(db).singleObjectBoxes();

  const images = selectImages(db, selection.split).filter(
    (image) => !selection.onlyCorrected || rowsByImage.get(image.id)?.some((r) => r.source === 'corrected'),
  );
  const annotations: CocoAnnotation[] = [];
  for (const image of images) {
    const rows = rowsByImage.get(image.id);
    if (!rows) continue;
    const effective: Array<Keypoint | null> = indices.map(() => null);
    for (const row of rows) {
      const k = column.get(row.indexId) as number;
      if (row.source === 'corrected' || effective[k] === null) effective[k] = row;
    }
    const points = effective.map((p) => p ?? { x: 0, y: 0, visibility: 0 });
    const objectBox = objectBoxes.get(image.id) ?? null;
    annotations.push({
      id: annotations.length + 1,
      image_id: image.id,
      category_id: 1,
      keypoints: flatten(points),
      num_keypoints: points.filter((p) => p.visibility > 0).length,
      ...boxAndArea(objectBox ?? pointsBox(points), image),
      iscrowd: 0,
      ...(selection.withScores
        ? {
            keypoint_scores: effective.map((p) => (p?.source === 'predicted' ? p.score : null)),
            keypoint_sources: effective.map((p) => p?.source ?? null),
          }
        : {}),
    });
  }
  return {
    info: info(db, `Keypoints (run ${runId})`),
    images: images.map((image) => cocoImage(image, outputFolder)),
    annotations,
    categories: [
      {
        id: 1,
        name: readSettings(db).name,
        supercategory: '',
        keypoints: indices.map((index) => index.displayName),
        skeleton,
        keypoint_colors: indices.map((index) => index.colour),
      },
    ],
  };
}

/** The imported ground truth, one category per category name it came with. */
export function groundTruthDocument(db: ProjectDatabase, selection: CocoSelection, outputFolder: string): CocoDocument {
  if (selection.onlyCorrected || selection.withScores) {
    throw badInput("only-corrected and with-scores apply to the app's keypoints, not to a ground-truth export");
  }
  const store = new GroundTruthStore(db);
  const schema = store.schema();
  if (schema.parts.length === 0)
    throw badInput(`${db.path} has no ground truth; import a COCO file or a CUB folder first`);
  const images = selectImages(db, selection.split);
  const selected = new Map(images.map((image) => [image.id, image]));
  const instances = store.all().filter((instance) => selected.has(instance.imageId));
  const found = [...new Set(instances.map((instance) => instance.category))];
  // A selection without instances still gets its category, so the file stays valid COCO.
  const categoryNames = found.length > 0 ? found : [readSettings(db).name];
  const skeleton = schema.skeleton.map(([a, b]) => [a + 1, b + 1] as [number, number]);
  return {
    info: info(db, 'Ground truth'),
    images: images.map((image) => cocoImage(image, outputFolder)),
    annotations: instances.map((instance, i) => {
      const image = selected.get(instance.imageId) as ImageRecord;
      const { bbox, area } = boxAndArea(instance.bbox ?? pointsBox(instance.points), image);
      return {
        id: i + 1,
        image_id: instance.imageId,
        category_id: categoryNames.indexOf(instance.category) + 1,
        keypoints: flatten(instance.points),
        num_keypoints: instance.points.filter((p) => p.visibility > 0).length,
        bbox,
        area: instance.area ?? area,
        iscrowd: instance.iscrowd ? 1 : 0,
      };
    }),
    categories: categoryNames.map((name, c) => ({
      id: c + 1,
      name,
      supercategory: '',
      keypoints: schema.parts.map((p) => p.name),
      skeleton,
    })),
  };
}
