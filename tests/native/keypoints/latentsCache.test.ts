// The training step's plain-image latents are encoded once per image: the cache's keys and
// limit, and the runner's results, which must not depend on whether the latents were cached.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LatentsCache } from '../../../native/keypoints/latentsCache.js';
import { initialTokens, IterationRunner } from '../../../native/keypoints/method.js';
import { parseRunSettings } from '../../../native/keypoints/settings.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { loadSdxlModel } from '../../../native/sdxl/load.js';
import { goldenCaseDir } from '../../golden/paths.js';

describe('latents cache', () => {
  it('encodes each distinct image once, keyed by its pixels, and drops the oldest past its limit', async () => {
    const encoded: number[] = [];
    const cache = new LatentsCache(async (image) => {
      encoded.push(image[0]!);
      return Float32Array.of(image[0]! * 2, image[1]!);
    }, 16);
    const image = (v: number) => Float32Array.of(v, v + 1, v + 2);
    expect(await cache.of(image(1))).toEqual(Float32Array.of(2, 2));
    // Another array with the same pixels is the same image.
    expect(await cache.of(image(1))).toEqual(Float32Array.of(2, 2));
    expect(encoded).toEqual([1]);
    await cache.of(image(5));
    expect(encoded).toEqual([1, 5]);
    expect(cache.size).toBe(2);
    // A third 8-byte entry passes the 16-byte limit: image 1, encoded first, goes.
    await cache.of(image(7));
    expect(cache.size).toBe(2);
    await cache.of(image(5));
    await cache.of(image(1));
    expect(encoded).toEqual([1, 5, 7, 1]);
  });

  it('shares an encoding while it runs, and tries again after one that failed', async () => {
    let calls = 0;
    let fail = true;
    let finish: (latents: Float32Array) => void = () => undefined;
    const cache = new LatentsCache((image) => {
      calls += 1;
      if (fail) return Promise.reject(new Error(`encoding ${image[0]} failed`));
      return new Promise<Float32Array>((resolve) => (finish = resolve));
    }, 1024);
    const image = Float32Array.of(3, 4);
    await expect(cache.of(image)).rejects.toThrow('encoding 3 failed');
    expect(cache.size).toBe(0);
    fail = false;
    // Asked for ahead, then by the iteration: one encoding, and both get its latents.
    const ahead = cache.of(image);
    const iteration = cache.of(Float32Array.of(3, 4));
    expect(calls).toBe(2);
    finish(Float32Array.of(6));
    expect(await ahead).toEqual(Float32Array.of(6));
    expect(await iteration).toBe(await ahead);
    expect(cache.size).toBe(1);
  });
});

describe('training iterations with cached latents', () => {
  const golden = openGoldenCase(goldenCaseDir());
  const model = loadSdxlModel(golden.modelDir);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-latents-'));
  afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const backend = new OrtBackend({ provider: 'cpu', cacheDir });
  const s = parseRunSettings({ tokens: 40, keypoints: 4, candidates: 8, upsampleRes: 32, imageSize: 128, seed: 3 });
  const all = golden.tensor('images');
  const pixels = all.data.length / all.shape[0]!;
  const imageOf = (i: number) => all.data.slice(i * pixels, (i + 1) * pixels);

  it('give the same bits whether the image was encoded in this iteration or an earlier one', async () => {
    const tokens = initialTokens(s, model.unet.config.crossAttentionDim);
    const warm = await IterationRunner.create(model, backend, s);
    const cold = await IterationRunner.create(model, backend, s);
    try {
      await warm.run(imageOf(1), 0, tokens);
      await warm.run(imageOf(2), 1, tokens);
      const cached = await warm.run(imageOf(1), 7, tokens);
      expect(warm.latents.size).toBe(2);
      const fresh = await cold.run(imageOf(1), 7, tokens);
      expect(cached).toEqual(fresh);
      expect(cached.gradient.some((v) => v !== 0)).toBe(true);
    } finally {
      await Promise.all([warm.release(), cold.release()]);
    }
  }, 600_000);
});
