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
  const sizeMismatch = (image: LabelledImage, width: number, height: number): string | null =>
    image.width !== undefined && (image.width !== width || image.height !== height)
      ? `labelled at ${image.width}×${image.height} in ${dataset.source}, but the image is ${width}×${height}`
      : null;

  const fresh: number[] = [];
  dataset.images.forEach((image, i) => {
    const id = known.get(images.storedPath(image.file));
    if (id === undefined) return fresh.push(i);
    const record = images.get(id);
    const mismatch = record && sizeMismatch(image, record.width, record.height);
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
    const mismatch = sizeMismatch(dataset.images[i] as LabelledImage, outcome.image.width, outcome.image.height);
    if (mismatch) skipped.push({ path: outcome.image.file, reason: mismatch });
    else toInsert.push({ datasetIndex: i, image: outcome.image });
  });

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
