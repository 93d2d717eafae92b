import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { BIRD_KEYPOINTS, demoBird } from '../../../resources/demo/birds.js';
import { writeDemoDataset, type CocoKeypointsFile } from '../../../resources/demo/writeDataset.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'skp-demo-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('demo birds', () => {
  it('writes PNG images and a COCO keypoints file with every point inside its image', async () => {
    const dir = tempDir();
    const ds = await writeDemoDataset(dir, 6, { size: 128, seed: 3 });
    expect(ds.images).toHaveLength(6);
    for (const file of ds.images) {
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe('png');
      expect([meta.width, meta.height]).toEqual([128, 128]);
    }
    const coco = JSON.parse(readFileSync(ds.annotations, 'utf8')) as CocoKeypointsFile;
    expect(coco.categories[0]!.keypoints).toEqual([...BIRD_KEYPOINTS]);
    const k = BIRD_KEYPOINTS.length;
    for (const [a, b] of coco.categories[0]!.skeleton) {
      expect(a).toBeGreaterThanOrEqual(1);
      expect(b).toBeLessThanOrEqual(k);
    }
    expect(coco.images.map((i) => i.file_name)).toEqual(ds.images.map((f) => f.split('/').pop()));
    for (const ann of coco.annotations) {
      expect(ann.keypoints).toHaveLength(3 * k);
      expect(ann.num_keypoints).toBe(k);
      for (let i = 0; i < k; i++) {
        const [x, y, v] = ann.keypoints.slice(3 * i, 3 * i + 3) as [number, number, number];
        expect(v).toBe(2);
        expect(x).toBeGreaterThan(0);
        expect(x).toBeLessThan(128);
        expect(y).toBeGreaterThan(0);
        expect(y).toBeLessThan(128);
      }
      const [bx, by, bw, bh] = ann.bbox;
      expect(bx).toBeGreaterThanOrEqual(0);
      expect(by + bh).toBeLessThanOrEqual(128);
      expect(bx + bw).toBeLessThanOrEqual(128);
      expect(ann.area).toBeCloseTo(bw * bh, 1);
    }
  });

  it('draws the eye where its keypoint says (dark pupil under the point)', async () => {
    for (let i = 0; i < 5; i++) {
      const bird = demoBird(i, { size: 256, seed: 11 });
      const { data, info } = await sharp(Buffer.from(bird.svg)).flatten().raw().toBuffer({ resolveWithObject: true });
      const { x, y } = bird.keypoints.eye;
      const at = (Math.floor(y) * info.width + Math.floor(x)) * info.channels;
      const brightness = (data[at]! + data[at + 1]! + data[at + 2]!) / 3;
      expect(brightness).toBeLessThan(60);
    }
  });

  it('is deterministic from the seed and varies between images and seeds', () => {
    const a = demoBird(4, { size: 128, seed: 1 });
    expect(demoBird(4, { size: 128, seed: 1 })).toEqual(a);
    expect(demoBird(5, { size: 128, seed: 1 }).keypoints).not.toEqual(a.keypoints);
    expect(demoBird(4, { size: 128, seed: 2 }).svg).not.toEqual(a.svg);
    expect(() => demoBird(0, { size: 8, seed: 1 })).toThrow(/image size/);
  });
});
