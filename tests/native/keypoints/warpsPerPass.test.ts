// Augmented inference split into passes of fewer warps (the "warps per pass" setting) finds the same
// maps and keypoints, bit for bit, as all warps in one batch: each warp keeps its own draw (theta
// and noise), and the sums are carried from pass to pass in draw order.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { loadSdxlModel } from '../../../native/sdxl/load.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { parseRunSettings } from '../../../native/keypoints/settings.js';
import { initialTokens, KeypointFinder, warpsPerPass, type ImageKeypoints } from '../../../native/keypoints/method.js';
import { goldenCaseDir } from '../../golden/paths.js';

const golden = openGoldenCase(goldenCaseDir());
const model = loadSdxlModel(golden.modelDir);
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-passes-'));
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
const backend = new OrtBackend({ provider: 'cpu', cacheDir });
const all = golden.tensor('images');
const pixels = all.data.length / all.shape[0]!;
const image = all.data.slice(pixels, 2 * pixels);
const base = { tokens: 40, keypoints: 4, candidates: 8, upsampleRes: 32, imageSize: 128, augmentationIterations: 4 };
const tokens = initialTokens(parseRunSettings(base), model.unet.config.crossAttentionDim);
const indices = [3, 11, 20, 37];

async function keypoints(warps: number, imageKey = 5): Promise<ImageKeypoints> {
  const s = parseRunSettings({ ...base, warpsPerPass: warps });
  const finder = await KeypointFinder.create(model, backend, tokens, indices, s);
  try {
    return await finder.find(image, imageKey);
  } finally {
    await finder.release();
  }
}

describe('warps per pass', () => {
  it('is lowered to a divisor of the augmentations', () => {
    const passes = (warps: number, augmentationIterations: number) =>
      warpsPerPass(parseRunSettings({ ...base, warpsPerPass: warps, augmentationIterations }));
    expect([passes(5, 10), passes(4, 10), passes(3, 4), passes(12, 10), passes(1, 7), passes(5, 7)]).toEqual([
      5, 2, 2, 10, 1, 1,
    ]);
    // 0 chooses; 2 where the backend cannot say what fits (lowered like any other count).
    expect([passes(0, 10), passes(0, 7)]).toEqual([2, 1]);
  });

  it('when told to choose, takes 2 on a backend that does not know its memory', async () => {
    expect('fits' in backend).toBe(false);
    const finder = await KeypointFinder.create(model, backend, tokens, indices, parseRunSettings(base));
    try {
      expect(finder.batch).toBe(2);
    } finally {
      await finder.release();
    }
  }, 600_000);

  it('gives the same maps and keypoints however the warps are split (bit for bit from two a pass)', async () => {
    const together = await keypoints(4);
    expect(together.maps.some((v) => v > 0)).toBe(true);
    const pairs = await keypoints(2);
    expect(pairs.maps).toEqual(together.maps);
    expect(pairs.points).toEqual(together.points);
    // One warp a pass: ONNX Runtime's CPU kernels round a batch of one differently in the last bit
    // (measured 2e-7 of the largest value), so the same peaks and the maps to round-off.
    const single = await keypoints(1);
    expect(single.points.map(({ y, x }) => [y, x])).toEqual(together.points.map(({ y, x }) => [y, x]));
    const largest = together.maps.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(single.maps.every((v, i) => Math.abs(v - together.maps[i]!) <= 1e-6 * largest)).toBe(true);
    // Another image key draws other warps: the comparison above is not between constant maps.
    expect((await keypoints(4, 6)).maps).not.toEqual(together.maps);
  }, 600_000);
});
