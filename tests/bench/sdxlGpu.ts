// The method itself on SDXL's full architecture on the native CUDA backend: the rows of the GPU
// table (`npm run bench` on a GPU, tests/bench/cuda.ts --sdxl), and a profile of both graphs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { CudaBackend, CudaPrecision, CudaStepTime } from '../../native/cuda/index.js';
import type { Tensor } from '../../native/graph/ir.js';
import type { Backend } from '../../native/runtime/backend.js';
import { Graph } from '../../native/graph/ir.js';
import { decodeImage } from '../../native/images/decode.js';
import { augmentedDrawsOutputs, buildAugmentedDraws } from '../../native/keypoints/graphs.js';
import {
  DEFAULT_CHECKPOINT_EVERY,
  findEach,
  initialTokens,
  KeypointFinder,
  mapSettingsFor,
  trainTokens,
  type ImageSource,
} from '../../native/keypoints/method.js';
import { parseRunSettings, type RunSettings } from '../../native/keypoints/settings.js';
import { buildTrainStep } from '../../native/keypoints/trainStep.js';
import type { LoadedModel } from '../../native/sdxl/load.js';
import type { CaseKit } from '../native/cuda/cases.js';
import { seededRandom } from '../support/random.js';
import { writeFullSizeModel } from './fullSizeModel.js';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs timed per row, after the first: each row is their median. Fast mode's iteration sat within
 * 1–2 ms of its target, about the spread of a median of 3 between calls (85 to 87 ms on one build).
 */
const TIMED = 9;

/** GPU time per kind of launch (and the op it serves), largest first. */
export function breakdown(steps: CudaStepTime[]): string {
  const by = new Map<string, { ms: number; n: number }>();
  for (const s of steps) {
    const key = s.kind === s.node.spec.op ? s.kind : `${s.kind} (${s.node.spec.op})`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += s.ms;
    e.n++;
    by.set(key, e);
  }
  const total = steps.reduce((a, s) => a + s.ms, 0);
  const top = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8);
  return (
    `GPU ${total.toFixed(3)} ms in launches: ` + top.map(([k, e]) => `${k} ${e.ms.toFixed(3)} ms/${e.n}`).join(', ')
  );
}

export type Profiles = Record<string, { kind: string; op: string; shape: number[]; label?: string; ms: number }[]>;

/** The reference timings' settings (docs/FACTS.md); `lowMemory` for the Low GPU memory rows. */
export const sdxlSettings = (size: number, lowMemory = false, warpsPerPass?: number) =>
  parseRunSettings({
    tokens: 500,
    imageSize: size,
    upsampleRes: 128,
    augmentationIterations: 10,
    lowMemory,
    warpsPerPass,
  });

/** One measured row: a workload at one size and precision, or why it did not run. */
export interface SdxlRow {
  size: number;
  precision: CudaPrecision;
  what: 'training iteration' | 'training iteration, first visit of its image' | 'augmented inference';
  ms?: number;
  peakBytes?: number;
  failed?: string;
}

/**
 * The method on SDXL's full architecture (random float16 weights, 500 tokens, R = 128): ms per
 * training iteration and per augmented inference (10 warps), and the GPU memory in use at their
 * peaks, printed as they come and returned.
 */
export async function benchSdxl(
  first: CudaBackend,
  sizes: number[],
  precisions: CudaPrecision[],
  profiles: Profiles | null,
  lowMemory = false,
  warpsPerPass?: number,
): Promise<SdxlRow[]> {
  const rows: SdxlRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'skp-bench-sdxl-'));
  try {
    const { model, bytes, seconds } = writeFullSizeModel(
      dir,
      sizes.map((size) => sdxlSettings(size)),
    );
    console.log(
      `\nSDXL full architecture, random float16 weights (${(bytes / 2 ** 30).toFixed(2)} GiB written in ${seconds.toFixed(0)} s), 500 tokens, R = 128`,
    );
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    first.resetPeakUsed();
    console.log(`  in use before any weight is loaded (CUDA context, cuBLAS): ${gib(first.peakUsedBytes)}`);
    for (const size of sizes) {
      const s = sdxlSettings(size, lowMemory, warpsPerPass);
      const rand = seededRandom(5);
      const pixels = Array.from({ length: TIMED + 1 }, () =>
        Float32Array.from({ length: 3 * size * size }, () => rand()),
      );
      const files = await writeImageFiles(dir, size, pixels.length);
      // As a job reads a project's images (imageSource.ts): each load decodes its file.
      const decoded =
        (index: (i: number) => number): ImageSource['load'] =>
        async (i) =>
          (await decodeImage(files[index(i)]!, size)).pixels;
      for (const precision of precisions) {
        const backend = first.withOptions({ precision });
        const tokens = initialTokens(s, model.unet.config.crossAttentionDim);
        const row = `  ${size}² ${precision.padEnd(7)}${lowMemory ? ' low GPU memory' : ''}`;
        // A run that does not fit (under SKP_CUDA_MEMORY_LIMIT, say) is a row of the table, not the end of it.
        const attempt = async (what: SdxlRow['what'], work: () => Promise<[number, string]>) => {
          backend.resetPeakUsed();
          try {
            const [ms, detail] = await work();
            rows.push({ size, precision, what, ms, peakBytes: backend.peakUsedBytes });
            console.log(`${row} ${what} ${ms.toFixed(0)} ms ${detail}, peak ${gib(backend.peakUsedBytes)} in use`);
          } catch (e) {
            rows.push({ size, precision, what, failed: (e as Error).message });
            console.log(`${row} ${what} FAILED: ${(e as Error).message}`);
          }
        };
        await attempt('augmented inference', async () => {
          const t0 = performance.now();
          const keypoints = Array.from({ length: s.keypoints }, (_, k) => k);
          const finder = await KeypointFinder.create(model, backend, tokens, keypoints, s);
          try {
            await finder.find(pixels[0]!, 0);
            const firstMs = performance.now() - t0;
            const times: number[] = [];
            for (let r = 0; r < TIMED; r++) {
              const t1 = performance.now();
              await finder.find(pixels[0]!, r + 1);
              times.push(performance.now() - t1);
            }
            // A keypoints job's loop: the next image's passes overlap this one's host work.
            const many = 8;
            const t2 = performance.now();
            await findEach(
              finder,
              Array.from({ length: many }, (_, i) => i),
              {
                keyOf: (i) => 10 + i,
                load: decoded((i) => i % files.length),
                found: () => undefined,
              },
            );
            const eachMs = (performance.now() - t2) / many;
            return [
              median(times),
              `per image, 10 warps, ${finder.batch} a pass${s.warpsPerPass === 0 ? ' (chosen)' : ''} (first, with compile and weight upload, ${(firstMs / 1000).toFixed(1)} s); ` +
                `${many} images one after another (findEach) ${eachMs.toFixed(0)} ms an image, ${(1000 / eachMs).toFixed(2)} images/s`,
            ];
          } finally {
            await finder.release();
          }
        });
        // Training encodes each image once (its latents are kept), so an iteration costs more on
        // an image's first visit: a run of 800 iterations over N images pays it N times.
        const train = async (images: ImageSource): Promise<[number, string]> => {
          const stamps: number[] = [];
          const inRun: number[] = [];
          await trainTokens(
            model,
            timingRuns(backend, (name) => name.startsWith('train-step'), inRun),
            images,
            { ...s, steps: TIMED + 1, batchSize: 1 },
            // As a training job does: a state handed over at its checkpoints (trainJob.ts).
            {
              onProgress: () => stamps.push(performance.now()),
              checkpointEvery: DEFAULT_CHECKPOINT_EVERY,
              onCheckpoint: () => undefined,
            },
          );
          const intervals = stamps.slice(1).map((x, k) => x - stamps[k]!);
          // The rest of an iteration is host work between runs: AdamW, copies, what the image
          // decoding and the draws made ahead did not hide.
          return [
            median(intervals),
            `(median of ${intervals.length}; ${median(inRun.slice(1)).toFixed(0)} ms of it in the step graph's run)`,
          ];
        };
        await attempt('training iteration', () => train({ count: 1, load: decoded(() => 0) }));
        await attempt('training iteration, first visit of its image', () =>
          train({ count: files.length, load: decoded((i) => i) }),
        );
        if (profiles && size === sizes[0]) await profileSdxl(backend, model, s, precision, profiles);
        await backend.releaseWeights();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * `count` photo-sized files (500×375 JPEGs with noise, as in a bird dataset): the rows that
 * stand for jobs decode them at `size`, as a job does each image it reads.
 */
async function writeImageFiles(dir: string, size: number, count: number): Promise<string[]> {
  const files = Array.from({ length: count }, (_, i) => join(dir, `image-${size}-${i}.jpg`));
  for (const [i, file] of files.entries()) {
    await sharp({
      create: {
        width: 500,
        height: 375,
        channels: 3,
        background: '#6a7f5a',
        noise: { type: 'gaussian', mean: 100 + 10 * i, sigma: 40 },
      },
    })
      .jpeg({ quality: 90 })
      .toFile(file);
  }
  return files;
}

/** `backend`, with the wall time of each run of the graphs whose name `timed` accepts pushed to `ms`. */
function timingRuns(backend: Backend, timed: (name: string) => boolean, ms: number[]): Backend {
  return {
    info: backend.info,
    fits: backend.fits?.bind(backend),
    async compile(outputs, opts) {
      const graph = await backend.compile(outputs, opts);
      if (!timed(opts?.name ?? '')) return graph;
      return {
        inputNames: graph.inputNames,
        release: () => graph.release(),
        async run(feeds) {
          const t0 = performance.now();
          const out = await graph.run(feeds);
          ms.push(performance.now() - t0);
          return out;
        },
      };
    },
  };
}

/** Profiles one training step and one augmented draw: where the GPU time goes. */
async function profileSdxl(
  backend: CudaBackend,
  model: LoadedModel,
  s: RunSettings,
  precision: CudaPrecision,
  profiles: Profiles,
) {
  const size = s.imageSize;
  const shape = { imageSize: size, latentSize: size / 8, tokens: s.tokens };
  const rand = seededRandom(9);
  const graphs: [string, Tensor[]][] = [];
  const tg = new Graph();
  const step = buildTrainStep(tg, model, shape, mapSettingsFor(model.scheduler, s), s);
  graphs.push(['training step', [step.loss, step.sharpening, step.equivariance, step.gradient]]);
  const dg = new Graph();
  const draws = buildAugmentedDraws(
    dg,
    model,
    shape,
    mapSettingsFor(model.scheduler, s),
    s.keypoints,
    size,
    s.augmentationIterations,
  );
  graphs.push(['augmented draws', augmentedDrawsOutputs(draws)]);
  for (const [name, outputs] of graphs) {
    const graph = await backend.compile(outputs, { name });
    const feeds: CaseKit['feeds'] = {};
    for (const inp of graph.plan.inputs) {
      const t = inp.tensor;
      const n = t.shape.reduce((a, b) => a * b, 1);
      feeds[inp.name] =
        inp.name === 'indices'
          ? { dtype: 'int64', shape: [...t.shape], data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k)) }
          : inp.name === 'thetas'
            ? {
                dtype: 'float32',
                shape: [...t.shape],
                data: Float32Array.from({ length: n }, (_, k) => [0.9, 0.2, 0.05, -0.2, 0.9, -0.03][k % 6]!),
              }
            : { dtype: 'float32', shape: [...t.shape], data: Float32Array.from({ length: n }, () => rand()) };
    }
    await graph.run(feeds);
    const replays: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      await graph.run(feeds);
      replays.push(performance.now() - t0);
    }
    const { steps } = await graph.profile(feeds);
    const st = graph.plan.stats;
    // The launches timed one by one carry each launch's host issue time (cuBLAS's most): the
    // replayed run is what the GPU spends.
    console.log(
      `  profile, ${name} at ${size}² (${precision}): ${st.nodes} nodes → ${st.instructions} launches, arena ${(graph.plan.arenaBytes / 2 ** 30).toFixed(2)} GiB, ` +
        `${median(replays).toFixed(1)} ms a run replayed (feeds in, launches, outputs out)\n    ${breakdown(steps)}`,
    );
    profiles[`SDXL ${size} ${name}${precision === 'float32' ? '' : ` ${precision}`}`] = steps.map((x) => ({
      kind: x.kind,
      op: x.node.spec.op,
      shape: [...x.node.shape],
      label: x.node.label,
      ms: x.ms,
    }));
    await graph.release();
  }
}
