// The method loop on the golden case's model and images: reproducible from the seed, resumable
// from a checkpoint to the same result, cancellable, and producing in-range keypoints.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../native/runtime/backend.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { loadSdxlModel } from '../../../native/sdxl/load.js';
import { openGoldenCase } from '../../../native/parity/goldenCase.js';
import { parseRunSettings } from '../../../native/keypoints/settings.js';
import { planIteration } from '../../../native/keypoints/schedule.js';
import {
  chooseKeypointIndices,
  findEach,
  initialTokens,
  IterationRunner,
  KeypointFinder,
  RunCancelled,
  TrainingCancelled,
  trainTokens,
  type ImageSource,
  type TrainingState,
} from '../../../native/keypoints/method.js';
import { goldenCaseDir } from '../../golden/paths.js';

const golden = openGoldenCase(goldenCaseDir());
const model = loadSdxlModel(golden.modelDir);
const backend = new OrtBackend({ provider: 'cpu', cacheDir: fs.mkdtempSync(path.join(os.tmpdir(), 'skp-method-')) });
const all = golden.tensor('images');
const pixels = all.data.length / all.shape[0]!;
const images: ImageSource = {
  count: all.shape[0]!,
  load: async (i) => all.data.slice(i * pixels, (i + 1) * pixels),
};
const settings = parseRunSettings({
  tokens: 40,
  steps: 3,
  batchSize: 2,
  keypoints: 4,
  candidates: 8,
  upsampleRes: 32,
  imageSize: 128,
  indexImages: 4,
  augmentationIterations: 2,
  seed: 7,
});

/**
 * The golden images and the real backend, watched: every load in call order, and for each run of
 * a graph `what` names, which load its image came from (`<what> on load <call>`).
 */
function watchImages(whatOf: (graphName: string) => string | undefined) {
  const events: string[] = [];
  const loaded: Float32Array[] = [];
  let calls = 0;
  const watched: ImageSource = {
    count: images.count,
    load: async (i) => {
      const call = calls++;
      events.push(`load ${call}`);
      return (loaded[call] = await images.load(i));
    },
  };
  const watching: Backend = {
    info: backend.info,
    async compile(outputs, opts) {
      const compiled = await backend.compile(outputs, opts);
      const what = whatOf(opts?.name ?? '');
      if (!what) return compiled;
      return {
        ...compiled,
        inputNames: compiled.inputNames,
        run: (feeds) => {
          events.push(`${what} on load ${loaded.indexOf(feeds.image!.data as Float32Array)}`);
          return compiled.run(feeds);
        },
        release: () => compiled.release(),
      };
    },
  };
  return { events, watched, watching };
}

describe('keypoint method loop', () => {
  it('trains reproducibly, and a resumed run ends where an uninterrupted one does', async () => {
    const checkpoints: TrainingState[] = [];
    const progress: number[] = [];
    const full = await trainTokens(model, backend, images, settings, {
      checkpointEvery: 1,
      onCheckpoint: (s) => void checkpoints.push(s),
      onProgress: (p) => progress.push(p.step),
    });
    expect(progress).toEqual([1, 2, 3]);
    expect(full.step).toBe(3);
    expect(checkpoints.map((c) => c.step)).toEqual([1, 2, 3]);
    const again = await trainTokens(model, backend, images, settings);
    expect(Array.from(again.tokens)).toEqual(Array.from(full.tokens));
    const resumed = await trainTokens(model, backend, images, settings, { resume: checkpoints[0]! });
    expect(Array.from(resumed.tokens)).toEqual(Array.from(full.tokens));
    const other = await trainTokens(model, backend, images, { ...settings, seed: 8 });
    expect(Array.from(other.tokens)).not.toEqual(Array.from(full.tokens));
  });

  it("decodes and encodes the next step's images while this step runs, each image once", async () => {
    const { events, watched, watching } = watchImages((name) =>
      name.startsWith('train-step') ? 'run' : name === 'image-latents' ? 'encode' : undefined,
    );
    const plain = await trainTokens(model, backend, images, settings);
    const watchedRun = await trainTokens(model, watching, watched, settings, {
      onProgress: (p) => events.push(`step ${p.step}`),
    });
    expect(Array.from(watchedRun.tokens)).toEqual(Array.from(plain.tokens));
    // Two images a step, each loaded once: the first step's and the second's before the first
    // runs, the third's before the second runs; every run on an image loaded a step before it.
    expect(events.filter((e) => !e.startsWith('encode'))).toEqual([
      ...['load 0', 'load 1', 'load 2', 'load 3', 'run on load 0', 'run on load 1', 'step 1'],
      ...['load 4', 'load 5', 'run on load 2', 'run on load 3', 'step 2'],
      ...['run on load 4', 'run on load 5', 'step 3'],
    ]);
    // Each distinct image is encoded once, as soon as it is loaded: before the step ahead of the
    // one that reads it has finished, where the device runs it after that step's run.
    const encodes = events.filter((e) => e.startsWith('encode'));
    const shape = { imageCount: images.count, batchSize: settings.batchSize, steps: settings.steps };
    const read = Array.from({ length: 6 }, (_, i) => planIteration(settings.seed, shape, i).imageIndex);
    expect(encodes).toHaveLength(new Set(read).size);
    for (const e of encodes) {
      const load = Number(e.split(' ').pop());
      const step = Math.floor(load / 2) + 1;
      const before = step === 1 ? `run on load ${load}` : `step ${step - 1}`;
      expect(events.indexOf(e)).toBeGreaterThan(events.indexOf(`load ${load}`));
      expect(events.indexOf(e)).toBeLessThan(events.indexOf(before));
    }
  });

  it("decodes the next vote's image while this vote runs", async () => {
    const { events, watched, watching } = watchImages((name) => (name === 'index-choice' ? 'vote' : undefined));
    const tokens = initialTokens(settings, model.unet.config.crossAttentionDim);
    const plain = await chooseKeypointIndices(model, backend, images, tokens, settings);
    const watchedChoice = await chooseKeypointIndices(model, watching, watched, tokens, settings);
    expect(watchedChoice).toEqual(plain);
    // Each image loaded once, and asked for before the vote ahead of its own.
    expect(events).toEqual([
      ...['load 0', 'load 1', 'vote on load 0', 'load 2', 'vote on load 1'],
      ...['load 3', 'vote on load 2', 'vote on load 3'],
    ]);
  });

  it('gives an iteration the same result in any order of iterations (draws are made ahead)', async () => {
    const tokens = initialTokens(settings, model.unet.config.crossAttentionDim);
    const image = await images.load(1);
    const inOrder = await IterationRunner.create(model, backend, settings);
    const fresh = await IterationRunner.create(model, backend, settings);
    try {
      const seen = [];
      for (const i of [0, 1, 2]) seen.push(await inOrder.run(image, i, tokens));
      // 2 runs on the draws made ahead while 1 ran; 5, then 3, on draws made when asked.
      const later = [await inOrder.run(image, 5, tokens), await inOrder.run(image, 3, tokens)];
      for (const [i, got] of [
        [2, seen[2]!],
        [5, later[0]!],
        [3, later[1]!],
      ] as const) {
        const want = await fresh.run(image, i, tokens);
        expect(got.loss).toBe(want.loss);
        expect(Array.from(got.gradient)).toEqual(Array.from(want.gradient));
      }
    } finally {
      await Promise.all([inOrder.release(), fresh.release()]);
    }
  });

  it('stops cleanly when cancelled, with the state of its last finished step', async () => {
    const controller = new AbortController();
    const saved: TrainingState[] = [];
    const run = trainTokens(model, backend, images, settings, {
      signal: controller.signal,
      onCheckpoint: (s) => void saved.push(s),
      onProgress: (p) => p.step === 2 && controller.abort(),
    });
    const cancelled = await run.catch((e: unknown) => e);
    expect(cancelled).toBeInstanceOf(TrainingCancelled);
    // No checkpoint was due before step 10: the state comes with the cancel, and it is step 2's.
    expect(saved).toEqual([]);
    const { state } = cancelled as TrainingCancelled;
    const two = await trainTokens(model, backend, images, { ...settings, steps: 2 });
    expect(state.step).toBe(2);
    expect(Array.from(state.tokens)).toEqual(Array.from(two.tokens));
    expect(Buffer.from(state.optimizer).equals(Buffer.from(two.optimizer))).toBe(true);
  });

  it('chooses K distinct indices and finds K in-image keypoints per image', async () => {
    const trained = await trainTokens(model, backend, images, { ...settings, steps: 1 });
    const choice = await chooseKeypointIndices(model, backend, images, trained.tokens, settings);
    expect(choice.indices).toHaveLength(4);
    expect(new Set(choice.indices).size).toBe(4);
    expect(choice.indices.every((i) => i >= 0 && i < 40)).toBe(true);
    const finder = await KeypointFinder.create(model, backend, trained.tokens, choice.indices, settings);
    try {
      const found = await finder.find(await images.load(0), 0);
      expect(found.points).toHaveLength(4);
      for (const p of found.points) {
        expect(p.x).toBeGreaterThan(0);
        expect(p.x).toBeLessThan(1);
        expect(p.y).toBeGreaterThan(0);
        expect(p.y).toBeLessThan(1);
        expect(p.score).toBeGreaterThan(0);
      }
      expect(found.maps).toHaveLength(4 * 128 * 128);
      const repeat = await finder.find(await images.load(0), 0);
      expect(repeat.points).toEqual(found.points);
    } finally {
      await finder.release();
    }
  });

  it('keeps the keypoints of an image whose passes ended when a cancel came', async () => {
    const tokens = initialTokens(settings, model.unet.config.crossAttentionDim);
    // One pass an image: once it runs, the image is done whatever comes.
    const finder = await KeypointFinder.create(model, backend, tokens, [0, 3, 5, 7], { ...settings, warpsPerPass: 2 });
    try {
      const kept: number[] = [];
      const cancel = new AbortController();
      const cancelled = findEach(
        finder,
        [0, 1, 2],
        {
          keyOf: (i) => i,
          // Image 1 loads while image 0's pass runs: the cancel comes then.
          load: async (i) => {
            if (i === 1) cancel.abort();
            return images.load(i);
          },
          found: (i) => void kept.push(i),
        },
        cancel.signal,
      );
      await expect(cancelled).rejects.toBeInstanceOf(RunCancelled);
      expect(kept).toEqual([0]);
    } finally {
      await finder.release();
    }
  });

  it('finds each image’s keypoints as find does, in order, starting the next image before the host part of the last', async () => {
    const tokens = initialTokens(settings, model.unet.config.crossAttentionDim);
    // One warp a pass: each image takes two passes, so the pipeline also spans multi-pass images.
    const s = { ...settings, warpsPerPass: 1 };
    const events: string[] = [];
    // The real backend, with each run's start and end noted.
    const noting: Backend = {
      info: backend.info,
      async compile(outputs, opts) {
        const graph = await backend.compile(outputs, opts);
        return {
          inputNames: graph.inputNames,
          release: () => graph.release(),
          async run(feeds) {
            events.push('run');
            const out = await graph.run(feeds);
            events.push('ran');
            return out;
          },
        };
      },
    };
    const finder = await KeypointFinder.create(model, noting, tokens, [0, 3, 5, 7], s);
    try {
      const one: Array<Awaited<ReturnType<typeof finder.find>>> = [];
      for (const i of [0, 2, 3]) one.push(await finder.find(await images.load(i), 100 + i));
      events.length = 0;
      const got: Array<[number, Awaited<ReturnType<typeof finder.find>>]> = [];
      await findEach(finder, [0, 1, 2, 3], {
        keyOf: (i) => 100 + i,
        // Image 1 cannot be read.
        load: async (i) => (i === 1 ? null : images.load(i)),
        found: (i, keypoints) => {
          events.push(`found ${i}`);
          got.push([i, keypoints]);
        },
      });
      expect(got.map(([i]) => i)).toEqual([0, 2, 3]);
      got.forEach(([, k], j) => {
        expect(k.points).toEqual(one[j]!.points);
        expect(Array.from(k.maps)).toEqual(Array.from(one[j]!.maps));
      });
      // Two passes an image; image 2's first pass is under way when image 0's host part runs.
      expect(events).toEqual([
        'run',
        'ran',
        'run',
        'ran',
        'run',
        'found 0',
        'ran',
        'run',
        'ran',
        'run',
        'found 2',
        'ran',
        'run',
        'ran',
        'found 3',
      ]);
      const failing = findEach(finder, [0, 1], {
        keyOf: (i) => i,
        load: async (i) => {
          if (i === 1) throw new Error('disk gone');
          return images.load(i);
        },
        found: () => undefined,
      });
      await expect(failing).rejects.toThrow('disk gone');
    } finally {
      await finder.release();
    }
  });
});
