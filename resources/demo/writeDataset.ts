// Writes the demo birds as PNG files plus a COCO keypoints file of their ground truth,
// the same layout a user's labelled dataset would have.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { CocoDocument } from '../../electron/common/coco.js';
import { BIRD_KEYPOINTS, BIRD_SKELETON, demoBird, type DemoOptions } from './birds.js';

export interface CocoKeypointsFile extends Omit<CocoDocument, 'info'> {
  info: { description: string; version: string };
}

export interface DemoDataset {
  /** Absolute paths of the written images, in order. */
  images: string[];
  /** Absolute path of the COCO keypoints file. */
  annotations: string;
  coco: CocoKeypointsFile;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Renders `count` birds into `dir` (created if needed) as bird_0000.png … and annotations.json. */
export async function writeDemoDataset(dir: string, count: number, opts: DemoOptions): Promise<DemoDataset> {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`demo dataset: count must be a positive integer, got ${count}`);
  fs.mkdirSync(dir, { recursive: true });
  const coco: CocoKeypointsFile = {
    info: {
      description: `Keypoint Workstation demo birds (seed ${opts.seed}); area is the bird's bounding-box area`,
      version: '1',
    },
    images: [],
    annotations: [],
    categories: [
      {
        id: 1,
        name: 'bird',
        supercategory: 'animal',
        keypoints: [...BIRD_KEYPOINTS],
        skeleton: BIRD_SKELETON.map(([a, b]) => [a, b]),
      },
    ],
  };
  const images: string[] = [];
  for (let i = 0; i < count; i++) {
    const bird = demoBird(i, opts);
    const fileName = `bird_${String(i).padStart(4, '0')}.png`;
    const file = path.resolve(dir, fileName);
    await sharp(Buffer.from(bird.svg)).flatten().png().toFile(file);
    images.push(file);
    coco.images.push({ id: i + 1, file_name: fileName, width: bird.size, height: bird.size });
    const bbox = bird.bbox.map(round2) as [number, number, number, number];
    coco.annotations.push({
      id: i + 1,
      image_id: i + 1,
      category_id: 1,
      // v = 2: every part is drawn and visible.
      keypoints: BIRD_KEYPOINTS.flatMap((name) => [round2(bird.keypoints[name].x), round2(bird.keypoints[name].y), 2]),
      num_keypoints: BIRD_KEYPOINTS.length,
      bbox,
      area: round2(bbox[2] * bbox[3]),
      iscrowd: 0,
    });
  }
  const annotations = path.resolve(dir, 'annotations.json');
  fs.writeFileSync(annotations, JSON.stringify(coco, null, 1));
  return { images, annotations, coco };
}
