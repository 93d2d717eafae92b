// Image files → float32 CHW at S×S: the whole picture stretched (no crop), channels in order,
// values in [0, 1], and the original size kept for mapping points back to pixels.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, ImageDecodeError, toImagePixels, toNormalised } from '../../../native/images/decode.js';
import { removeTempDirs, tempDir } from '../../support/jobFixtures.js';

afterAll(removeTempDirs);

describe('decodeImage', () => {
  it('stretches a 40×20 picture to S×S in CHW order and keeps its size', async () => {
    const file = path.join(tempDir(), 'halves.png');
    // Left half pure red, right half pure blue, with an alpha channel that is fully opaque.
    const raw = Buffer.alloc(40 * 20 * 4);
    for (let y = 0; y < 20; y++)
      for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0, 255] : [0, 0, 255, 255], (y * 40 + x) * 4);
    await sharp(raw, { raw: { width: 40, height: 20, channels: 4 } })
      .png()
      .toFile(file);
    const image = await decodeImage(file, 16);
    expect([image.width, image.height, image.size]).toEqual([40, 20, 16]);
    expect(image.pixels).toHaveLength(3 * 16 * 16);
    const at = (c: number, y: number, x: number) => image.pixels[c * 256 + y * 16 + x]!;
    for (const y of [0, 7, 15]) {
      expect([at(0, y, 2), at(1, y, 2), at(2, y, 2)]).toEqual([1, 0, 0]);
      expect([at(0, y, 13), at(1, y, 13), at(2, y, 13)]).toEqual([0, 0, 1]);
    }
    expect(Math.min(...image.pixels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...image.pixels)).toBeLessThanOrEqual(1);
  });

  it('maps normalised grid points to the file pixels and back', () => {
    expect(toImagePixels({ y: 0.5, x: 0.25 }, 40, 20)).toEqual({ x: 10, y: 10 });
    expect(toNormalised({ x: 10, y: 10 }, 40, 20)).toEqual({ y: 0.5, x: 0.25 });
  });

  it('names the file it cannot decode', async () => {
    const file = path.join(tempDir(), 'broken.png');
    fs.writeFileSync(file, 'not a picture');
    await expect(decodeImage(file, 8)).rejects.toThrow(ImageDecodeError);
    await expect(decodeImage(file, 8)).rejects.toThrow(file);
    await expect(decodeImage(path.join(path.dirname(file), 'gone.png'), 8)).rejects.toThrow(/gone\.png/);
  });
});
