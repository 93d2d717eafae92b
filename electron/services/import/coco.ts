// Reading a COCO keypoints JSON into a LabelledDataset. The file is checked once, here:
// field types by the schema, then ids and lengths against each other. Every error names
// the file and the field (`annotations[3].keypoints`), or the line for broken JSON.

import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../../common/errors.js';
import type { GroundTruthPoint } from '../../common/groundTruth.js';
import type { Visibility } from '../../common/keypoints.js';
import { parseInput, parseJsonFile } from '../validation.js';
import { readTextFile } from './inputFiles.js';
import type { LabelledDataset } from './labelledDataset.js';

/** The largest COCO file read: just under the longest string JavaScript can hold (COCO 2017's keypoints are 240 MB). */
const MAX_JSON_BYTES = 500_000_000;

const int = z.number().int();
const finite = z.number().refine(Number.isFinite, 'must be a finite number');

// Unknown fields (license, coco_url, segmentation...) are allowed and ignored.
const cocoSchema = z.object({
  images: z.array(
    z.object({
      id: int,
      file_name: z.string().min(1),
      width: int.positive(),
      height: int.positive(),
    }),
  ),
  annotations: z.array(
    z.object({
      id: int,
      image_id: int,
      category_id: int,
      keypoints: z.array(finite),
      num_keypoints: int.min(0).optional(),
      bbox: z.tuple([finite, finite, finite.pipe(z.number().min(0)), finite.pipe(z.number().min(0))]).optional(),
      area: finite.pipe(z.number().min(0)).optional(),
      iscrowd: z.union([z.literal(0), z.literal(1)]).optional(),
    }),
  ),
  categories: z
    .array(
      z.object({
        id: int,
        name: z.string().min(1),
        keypoints: z.array(z.string().min(1)).min(1),
        skeleton: z.array(z.tuple([int, int])).optional(),
      }),
    )
    .min(1),
});

type CocoFile = z.output<typeof cocoSchema>;

/** Throws on the first id that appears twice. */
function uniqueIds(items: Array<{ id: number }>, field: string, where: string): Map<number, number> {
  const seen = new Map<number, number>();
  items.forEach((item, i) => {
    const first = seen.get(item.id);
    if (first !== undefined)
      throw badInput(`${where}: ${field}[${i}].id: ${item.id} is also the id of ${field}[${first}]`);
    seen.set(item.id, i);
  });
  return seen;
}

function checkCategories(coco: CocoFile, where: string): void {
  const [first] = coco.categories;
  coco.categories.forEach((category, c) => {
    const names = category.keypoints;
    if (c > 0 && first && names.join('\n') !== first.keypoints.join('\n')) {
      throw badInput(
        `${where}: categories[${c}].keypoints differ from categories[0].keypoints; ` +
          'a project holds one list of labelled parts',
      );
    }
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate) throw badInput(`${where}: categories[${c}].keypoints: "${duplicate}" is listed twice`);
    category.skeleton?.forEach((edge, e) => {
      edge.forEach((end) => {
        if (end < 1 || end > names.length) {
          throw badInput(
            `${where}: categories[${c}].skeleton[${e}]: ${end} is not a keypoint number ` +
              `(COCO skeletons count from 1; this category has 1..${names.length})`,
          );
        }
      });
    });
  });
}

export function readCocoFile(file: string, imagesRoot?: string): LabelledDataset {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) throw badInput(`COCO file ${absolute} does not exist`);
  if (fs.statSync(absolute).isDirectory()) throw badInput(`${absolute} is a folder; give the COCO JSON file`);
  const root = path.resolve(imagesRoot ?? path.dirname(absolute));
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw badInput(`image folder ${root} does not exist`);

  const text = readTextFile(absolute, 'COCO keypoints JSON file', MAX_JSON_BYTES);
  const coco = parseInput(cocoSchema, parseJsonFile(text, absolute), absolute);
  const imageIndex = uniqueIds(coco.images, 'images', absolute);
  const categoryIndex = uniqueIds(coco.categories, 'categories', absolute);
  uniqueIds(coco.annotations, 'annotations', absolute);
  checkCategories(coco, absolute);

  const byFile = new Map<string, number>();
  const images = coco.images.map((image, i) => {
    const resolved = path.resolve(root, image.file_name);
    const first = byFile.get(resolved);
    if (first !== undefined) throw badInput(`${absolute}: images[${i}].file_name: same file as images[${first}]`);
    byFile.set(resolved, i);
    return { file: resolved, width: image.width, height: image.height };
  });

  const parts = (coco.categories[0] as CocoFile['categories'][number]).keypoints;
  const instances = coco.annotations.map((annotation, a) => {
    const field = `${absolute}: annotations[${a}]`;
    const image = imageIndex.get(annotation.image_id);
    if (image === undefined) throw badInput(`${field}.image_id: no image has id ${annotation.image_id}`);
    const c = categoryIndex.get(annotation.category_id);
    if (c === undefined) throw badInput(`${field}.category_id: no category has id ${annotation.category_id}`);
    const category = coco.categories[c] as CocoFile['categories'][number];
    const k = annotation.keypoints;
    if (k.length !== 3 * parts.length) {
      throw badInput(
        `${field}.keypoints: expected ${3 * parts.length} numbers ([x, y, v] for each of the ` +
          `${parts.length} keypoints of "${category.name}"), got ${k.length}`,
      );
    }
    const points: GroundTruthPoint[] = parts.map((_, p) => {
      const v = k[3 * p + 2] as number;
      if (v !== 0 && v !== 1 && v !== 2) {
        throw badInput(`${field}.keypoints[${3 * p + 2}]: visibility of "${parts[p]}" must be 0, 1 or 2, got ${v}`);
      }
      return { part: p, x: k[3 * p] as number, y: k[3 * p + 1] as number, visibility: v as Visibility };
    });
    const b = annotation.bbox;
    return {
      image,
      category: category.name,
      bbox: b ? { x: b[0], y: b[1], width: b[2], height: b[3] } : null,
      area: annotation.area ?? null,
      iscrowd: annotation.iscrowd === 1,
      origin: `coco:${path.basename(absolute)}#${annotation.id}`,
      points,
    };
  });

  const skeleton = (coco.categories[0]?.skeleton ?? []).map(([a, b]) => [a - 1, b - 1] as [number, number]);
  return { source: absolute, root, parts, skeleton, images, instances };
}
