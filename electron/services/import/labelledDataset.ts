// A labelled dataset read from an outside layout (COCO, CUB), already validated, and how it
// is stored: the images it names, its labelled parts, and its instances as ground truth.
// Ground truth of the images it covers is replaced; nothing else in the project changes.

import { badInput } from '../../common/errors.js';
import type { GroundTruthInstance } from '../../common/groundTruth.js';
import type { ImportProgress, SkippedFile, Split } from '../../common/images.js';
import type { LabelledImportResult } from '../../common/transfer.js';
import type { ProjectDatabase } from '../../db/database.js';
import { GroundTruthStore } from '../../db/groundTruthStore.js';
import { ImageStore, type NewImage } from '../../db/imageStore.js';
import { readImageFiles } from '../imageFiles.js';
import { imagePointSchema } from '../validation.js';
import { outsideRoot } from './inputFiles.js';

export interface LabelledImage {
  /** Absolute path of the image file. */
  file: string;
  /** Pixel size the labels were made at, when the layout says. */
  width?: number;
  height?: number;
  split?: Split;
}

/** A ground-truth instance as the dataset has it: its image is the dataset's, not yet a project id. */
export interface LabelledInstance extends Omit<GroundTruthInstance, 'id' | 'imageId'> {
  /** Index into LabelledDataset.images. */
  image: number;
}

export interface LabelledDataset {
  /** Shown to the user, e.g. the file imported. */
  source: string;
  /** The import folder: every image the dataset names must lie inside it (symlinks resolved). */
  root: string;
  parts: string[];
  /** 0-based part positions. */
  skeleton: Array<[number, number]>;
  images: LabelledImage[];
  instances: LabelledInstance[];
}

/** The project's part list must be the dataset's (a project holds one list of labelled parts). */
function checkParts(store: GroundTruthStore, dataset: LabelledDataset): boolean {
  const existing = store.schema().parts.map((p) => p.name);
  if (existing.length === 0) return true;
  const same = existing.length === dataset.parts.length && existing.every((name, i) => name === dataset.parts[i]);
  if (!same) {
    throw badInput(
      `${dataset.source}: its labelled parts (${dataset.parts.join(', ')}) differ from the project's ` +
        `(${existing.join(', ')}); a project holds one list of labelled parts`,
    );
  }
  return false;
}

/**
 * Why the labels of an image of `width`×`height` pixels cannot be right (a labelled point or a
 * box corner far outside it), or null.
 */
function outsideImage(dataset: LabelledDataset, instances: LabelledInstance[], width: number, height: number) {
  const bound = imagePointSchema(width, height);
  for (const instance of instances) {
    const corners = instance.bbox
      ? [
          { what: 'box corner', x: instance.bbox.x, y: instance.bbox.y },
          { what: 'box corner', x: instance.bbox.x + instance.bbox.width, y: instance.bbox.y + instance.bbox.height },
        ]
      : [];
    const points = instance.points
      .filter((p) => p.visibility > 0)
      .map((p) => ({ what: `point "${dataset.parts[p.part]}"`, x: p.x, y: p.y }));
    for (const { what, x, y } of [...points, ...corners]) {
      const problem = bound.safeParse({ x, y }).error?.issues[0];
      if (problem) {
        return `${instance.origin}: ${what} at (${x}, ${y}): ${String(problem.path[0])} ${problem.message}`;
      }
    }
  }
  return null;
}

export async function storeLabelledDataset(
  db: ProjectDatabase,
  dataset: LabelledDataset,
  progress: (p: ImportProgress) => void,
): Promise<LabelledImportResult> {
  const started = performance.now();
  db.requireWritable();
  const gt = new GroundTruthStore(db);
  const setSchema = checkParts(gt, dataset);
  const images = new ImageStore(db);
  const known = images.idsByPath();

  // Image i of the dataset → project image id, once known; -1 while not (yet) stored.
  const imageIds = new Array<number>(dataset.images.length).fill(-1);
  const skipped: SkippedFile[] = [];
  const instancesOf = new Map<number, LabelledInstance[]>();
  for (const instance of dataset.instances) {
    instancesOf.set(instance.image, [...(instancesOf.get(instance.image) ?? []), instance]);
  }
  /** Why image i's labels do not fit the image as it really is (its size, or points far outside it), or null. */
  const labelProblem = (i: number, width: number, height: number): string | null => {
    const image = dataset.images[i] as LabelledImage;
    if (image.width !== undefined && (image.width !== width || image.height !== height)) {
      return `labelled at ${image.width}×${image.height} in ${dataset.source}, but the image is ${width}×${height}`;
    }
    return outsideImage(dataset, instancesOf.get(i) ?? [], width, height);
  };

  const fresh: number[] = [];
  dataset.images.forEach((image, i) => {
    const outside = outsideRoot(dataset.root, image.file);
    if (outside !== null) return skipped.push({ path: image.file, reason: outside });
    const id = known.get(images.storedPath(image.file));
    if (id === undefined) return fresh.push(i);
    const record = images.get(id);
    const mismatch = record && labelProblem(i, record.width, record.height);
    if (mismatch) skipped.push({ path: image.file, reason: mismatch });
    else imageIds[i] = id;
  });

  const total = fresh.length;
  const outcomes = await readImageFiles(
    fresh.map((i) => (dataset.images[i] as LabelledImage).file),
    (done) => {
      if (done % 50 === 0 || done === total) progress({ done, total, imported: done, skipped: skipped.length });
    },
  );
  const toInsert: Array<{ datasetIndex: number; image: NewImage }> = [];
  outcomes.forEach((outcome, j) => {
    const i = fresh[j] as number;
    if ('skipped' in outcome) return skipped.push(outcome.skipped);
    const mismatch = labelProblem(i, outcome.image.width, outcome.image.height);
    if (mismatch) skipped.push({ path: outcome.image.file, reason: mismatch });
    else toInsert.push({ datasetIndex: i, image: outcome.image });
  });

  // A dataset none of whose images could be used leaves the project as it was (its part names too).
  const usable = toInsert.length > 0 || imageIds.some((id) => id >= 0);
  if (!usable && dataset.images.length > 0) {
    return {
      source: dataset.source,
      imagesAdded: 0,
      imagesMatched: 0,
      skipped,
      instances: 0,
      instancesDropped: dataset.instances.length,
      imagesReplaced: 0,
      parts: dataset.parts,
      splitsSet: 0,
      seconds: (performance.now() - started) / 1000,
    };
  }
  return db.write(() => {
    if (setSchema) {
      gt.setSchema({ parts: dataset.parts.map((name, position) => ({ position, name })), skeleton: dataset.skeleton });
    } else {
      gt.addSkeletonEdges(dataset.skeleton);
    }
    const newIds = images.insert(toInsert.map((t) => t.image));
    toInsert.forEach((t, j) => (imageIds[t.datasetIndex] = newIds[j] as number));

    let splitsSet = 0;
    for (const split of ['train', 'test'] as const) {
      const ids = dataset.images.flatMap((image, i) =>
        image.split === split && imageIds[i]! >= 0 ? [imageIds[i]!] : [],
      );
      splitsSet += images.setSplit(ids, split);
    }
    const covered = [...new Set(imageIds.filter((id) => id >= 0))];
    const imagesReplaced = gt.clearImages(covered);
    const kept = dataset.instances.filter((instance) => imageIds[instance.image]! >= 0);
    gt.insert(kept.map(({ image, ...rest }) => ({ ...rest, imageId: imageIds[image] as number })));
    return {
      source: dataset.source,
      imagesAdded: newIds.length,
      imagesMatched: covered.length - newIds.length,
      skipped,
      instances: kept.length,
      instancesDropped: dataset.instances.length - kept.length,
      imagesReplaced,
      parts: dataset.parts,
      splitsSet,
      seconds: (performance.now() - started) / 1000,
    };
  });
}
