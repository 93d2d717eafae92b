// Building COCO keypoints documents from a project: the app's keypoints (hand corrections
// win over predictions) or the imported ground truth. Conventions (see shared/docs/UX.md):
// keypoints [x, y, v] × K in the order of categories[].keypoints, v = 0 written as 0, 0, 0;
// num_keypoints counts v > 0; skeleton 1-based and always present (pycocotools reads it);
// area from the box of the labelled points with a floor, since one point would give 0.

import { badInput } from '../../common/errors.js';
import type { BoundingBox } from '../../common/groundTruth.js';
import type { ImageRecord, Split } from '../../common/images.js';
import type { CocoAnnotation, CocoDocument, CocoImage } from '../../common/coco.js';
import type { Keypoint, Part, SkeletonEdge } from '../../common/keypoints.js';
import type { ProjectDatabase } from '../../db/database.js';
import { GroundTruthStore } from '../../db/groundTruthStore.js';
import { ImageStore, toStoredPath } from '../../db/imageStore.js';
import { KeypointStore } from '../../db/keypointStore.js';
import { PartStore } from '../../db/partStore.js';
import { readSettings } from '../../db/settingsStore.js';

/** Smallest `area` written, as a fraction of the image's area: keeps OKS meaningful for one or two points. */
export const AREA_FLOOR = 0.01;

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

/** Refuses what the COCO file could not say faithfully: two columns of one name, an edge to a part left out. */
function checkExportable(parts: Part[], visible: Part[], skeleton: SkeletonEdge[]): void {
  const byName = new Map<string, Part>();
  for (const part of visible) {
    const other = byName.get(part.displayName.toLowerCase());
    if (other) {
      throw badInput(
        `two parts are both named "${part.displayName}" (parts ${other.id} and ${part.id}); ` +
          'rename or hide one of them before exporting (COCO keypoint names must be unique)',
      );
    }
    byName.set(part.displayName.toLowerCase(), part);
  }
  const hidden = new Map(parts.filter((p) => p.hidden).map((p) => [p.id, p]));
  const nameOf = (id: number) => parts.find((p) => p.id === id)?.displayName ?? String(id);
  const edge = skeleton.find((e) => hidden.has(e.from) || hidden.has(e.to));
  if (edge) {
    const part = hidden.get(edge.from) ?? hidden.get(edge.to)!;
    throw badInput(
      `the skeleton joins ${nameOf(edge.from)}–${nameOf(edge.to)}, but ${part.displayName} is hidden from the export; ` +
        `show ${part.displayName} or remove that edge first`,
    );
  }
}

/** Each image's points, a column per part not hidden (display order): the hand correction where
 * there is one, else the current run's prediction; images with no point are left out. */
export interface EffectivePoints {
  parts: Part[];
  runId: number | null;
  byImage: Map<number, Array<Keypoint | null>>;
}

export function effectivePoints(db: ProjectDatabase): EffectivePoints {
  const store = new KeypointStore(db);
  const parts = new PartStore(db).parts().filter((part) => !part.hidden);
  const runId = store.currentRunId();
  const column = new Map(parts.map((part, k) => [part.id, k]));
  const byImage = new Map<number, Array<Keypoint | null>>();
  const add = (row: Keypoint) => {
    const k = column.get(row.partId);
    if (k === undefined) return;
    const points = byImage.get(row.imageId) ?? parts.map(() => null);
    if (row.source === 'corrected' || points[k] === null) points[k] = row;
    byImage.set(row.imageId, points);
  };
  if (runId !== null) {
    const partOf = new Map(store.indices(runId).map((index) => [index.id, index.partId]));
    for (const p of store.forRun(runId)) {
      const partId = partOf.get(p.indexId);
      if (partId == null) continue;
      add({ ...p, partId, source: 'predicted', runId });
    }
  }
  for (const c of new PartStore(db).corrections()) add(c);
  return { parts, runId, byImage };
}

/**
 * The app's keypoints: the visible parts in display order, each point the hand correction where
 * there is one, else the current run's prediction; one annotation per image that has any.
 */
export function keypointsDocument(db: ProjectDatabase, selection: CocoSelection, outputFolder: string): CocoDocument {
  const partStore = new PartStore(db);
  const parts = partStore.parts();
  if (parts.length === 0) {
    throw badInput(`${db.path} has no parts yet (no run has found keypoints); export the ground truth instead`);
  }
  const { parts: visible, runId, byImage } = effectivePoints(db);
  if (visible.length === 0) throw badInput('every part is hidden from the export; nothing to export');
  const edges = partStore.skeleton();
  checkExportable(parts, visible, edges);
  const column = new Map(visible.map((part, k) => [part.id, k]));
  const skeleton = edges.map(
    (edge) => [(column.get(edge.from) as number) + 1, (column.get(edge.to) as number) + 1] as [number, number],
  );
  const objectBoxes = new GroundTruthStore(db).singleObjectBoxes();

  const images = selectImages(db, selection.split).filter(
    (image) => !selection.onlyCorrected || byImage.get(image.id)?.some((r) => r?.source === 'corrected'),
  );
  const annotations: CocoAnnotation[] = [];
  for (const image of images) {
    const effective = byImage.get(image.id);
    if (!effective) continue;
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
    info: info(db, runId === null ? 'Keypoints (hand corrections only)' : `Keypoints (run ${runId})`),
    images: images.map((image) => cocoImage(image, outputFolder)),
    annotations,
    categories: [
      {
        id: 1,
        name: readSettings(db).name,
        supercategory: '',
        keypoints: visible.map((part) => part.displayName),
        skeleton,
        keypoint_colors: visible.map((part) => part.colour),
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
