// Method benchmark on ONNX Runtime (CPU): milliseconds per training iteration (plain + warped
// evaluation, losses, token gradient), per augmented inference of one image, peak memory, and
// how much UNet work an iteration does, counted on the graph itself. Two sizes: the golden
// case_a model (128², 40 tokens, R = 32) and, opt-in with SKP_BENCH_FULL=1, SDXL's full
// architecture with random float16 weights at 256², 500 tokens, R = 128.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Graph, numel, topoOrder, type Tensor } from '../../native/graph/ir.js';
import {
  initialTokens,
  KeypointFinder,
  mapSettingsFor,
  trainTokens,
  type ImageSource,
  type MethodModel,
} from '../../native/keypoints/method.js';
import { parseRunSettings, type RunSettings } from '../../native/keypoints/settings.js';
import { buildTrainStep } from '../../native/keypoints/trainStep.js';
import { decodeImage } from '../../native/images/decode.js';
import { openGoldenCase } from '../../native/parity/goldenCase.js';
import { OrtBackend } from '../../native/runtime/ort.js';
import { unetTensorShapes } from '../../native/sdxl/config.js';
import { loadSdxlModel, type LoadedModel } from '../../native/sdxl/load.js';
import { writeDemoDataset } from '../../resources/demo/writeDataset.js';
import { goldenCaseDir } from '../golden/paths.js';
import { writeFullSizeModel } from './fullSizeModel.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Samples the resident set size while `work` runs (the sampler runs while ONNX Runtime computes). */
async function peakRss<T>(work: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const value = await work();
    return { value, peak: Math.max(peak, process.memoryUsage().rss) };
  } finally {
    clearInterval(timer);
  }
}

function flops(t: Tensor): number {
  if (t.spec.op === 'matmul') {
    const a = t.inputs[0]!.shape;
    return 2 * numel(t.shape) * a[a.length - 1]!;
  }
  if (t.spec.op === 'conv2d') {
    const w = t.inputs[1]!.shape;
    return 2 * numel(t.shape) * w[1]! * w[2]! * w[3]!;
  }
  if (t.spec.op === 'convTranspose2d') {
    const w = t.inputs[1]!.shape;
    return 2 * numel(t.inputs[0]!.shape) * w[1]! * w[2]! * w[3]!;
  }
  return 0;
}

/** The model with each weight ref named `unet:…` / `vae:…`, so the graph tells UNet weights apart. */
function labelled(model: MethodModel): MethodModel {
  const wrap = (component: string, w: MethodModel['unet']['weights']) => ({
    has: (n: string) => w.has(n),
    shape: (n: string) => w.shape(n),
    ref: (n: string) => ({ ...w.ref(n), name: `${component}:${n}` }),
  });
  return {
    ...model,
    unet: { config: model.unet.config, weights: wrap('unet', model.unet.weights) },
    vae: { config: model.vae.config, weights: wrap('vae', model.vae.weights) },
  };
}

const refName = (t: Tensor | undefined) => (t?.spec.op === 'weight' ? t.spec.ref.name : '');

/**
 * UNet work in one training iteration, read off the graph: how often the UNet's first
 * convolution runs forward (= evaluations), how many of the UNet's convolutions (one per 4-D
 * weight in a full forward) each evaluation reaches, and how many get a backward pass.
 */
function unetWork(model: MethodModel, s: RunSettings, latentDownscale: number, convolutions: number): string {
  const g = new Graph();
  const shape = { imageSize: s.imageSize, latentSize: s.imageSize / latentDownscale, tokens: s.tokens };
  const step = buildTrainStep(g, labelled(model), shape, mapSettingsFor(model.scheduler, s), s);
  const order = topoOrder([step.loss, step.sharpening, step.equivariance, step.gradient]);
  const lastForward = Math.max(step.loss.id, step.sharpening.id, step.equivariance.id);
  const unetConv = (op: string) => order.filter((t) => t.spec.op === op && refName(t.inputs[1]).startsWith('unet:'));
  const forward = unetConv('conv2d');
  const backward = unetConv('convTranspose2d');
  // An evaluation per image of each pass through the UNet (the step batches its two images).
  const entries = forward.filter((t) => refName(t.inputs[1]) === 'unet:conv_in.weight');
  const passes = entries.length;
  const evaluations = entries.reduce((sum, t) => sum + t.inputs[0]!.shape[0]!, 0);
  let forwardFlops = 0;
  let backwardFlops = 0;
  for (const t of order) {
    if (t.id <= lastForward) forwardFlops += flops(t);
    else backwardFlops += flops(t);
  }
  return (
    `${evaluations} forward in ${passes} batch${passes > 1 ? 'es' : ''} (each through ${forward.length / passes} of the UNet's ${convolutions} convolutions: it stops at the last controlled layer)` +
    ` + 1 backward through both (${backward.length / passes} convolutions a batch). Graph: ${order.length} nodes, ` +
    `${(forwardFlops / 1e9).toFixed(1)} GFLOP forward + ${(backwardFlops / 1e9).toFixed(1)} GFLOP backward (matmul and conv, the warped image's encoding included; the plain image's is done once per image). ` +
    `The reference runs 2 full forward passes (all ${convolutions} convolutions each) + 1 backward, and encodes both images.`
  );
}

/**
 * Inference first (less memory), then training, each printed as soon as it is measured, so a
 * run stopped for lack of memory still reports what it got to.
 */
async function benchCase(label: string, model: LoadedModel, images: ImageSource, s: RunSettings, iterations: number) {
  console.log(`  ${label}`);
  const downscale = 2 ** (model.vae.config.blockOutChannels.length - 1);
  // Counted on the architecture, not the file: a benchmark model holds only the tensors its graphs read.
  const convolutions = [...unetTensorShapes(model.unet.config).values()].filter((shape) => shape.length === 4).length;
  console.log(`    UNet evaluations per iteration: ${unetWork(model, s, downscale, convolutions)}`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-bench-method-'));
  try {
    const backend = new OrtBackend({ provider: 'cpu', cacheDir: cache });
    const indices = Array.from({ length: s.keypoints }, (_, k) => k);
    const tokens = initialTokens(s, model.unet.config.crossAttentionDim);
    const inference = await peakRss(async () => {
      const t0 = performance.now();
      const finder = await KeypointFinder.create(model, backend, tokens, indices, s);
      try {
        const image = await images.load(0);
        await finder.find(image, 0);
        console.log(`    inference: compile + first image ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const t = performance.now();
        await finder.find(image, 1);
        return performance.now() - t;
      } finally {
        await finder.release();
      }
    });
    console.log(
      `    augmented inference of one image (${s.augmentationIterations} warps): ${inference.value.toFixed(0)} ms, peak RSS ${gib(inference.peak)}`,
    );
    const stamps: number[] = [];
    const t0 = performance.now();
    const train = await peakRss(() =>
      trainTokens(
        model,
        backend,
        images,
        { ...s, steps: iterations, batchSize: 1 },
        {
          onProgress: (p) => {
            stamps.push(performance.now());
            const last = stamps.length === 1 ? t0 : stamps.at(-2)!;
            console.log(
              `    training iteration ${p.step}: ${(stamps.at(-1)! - last).toFixed(0)} ms${p.step === 1 ? ' (with compile)' : ''}`,
            );
          },
        },
      ),
    );
    const intervals = stamps.slice(1).map((t, i) => t - stamps[i]!);
    console.log(
      `    training iteration: ${median(intervals).toFixed(0)} ms (median of ${intervals.length}; 1 image, plain + warped, the plain one encoded in the first iteration only), peak RSS ${gib(train.peak)}`,
    );
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

async function benchCaseA(): Promise<void> {
  const golden = openGoldenCase(goldenCaseDir());
  const model = loadSdxlModel(golden.modelDir);
  const all = golden.tensor('images');
  const pixels = all.data.length / all.shape[0]!;
  const images: ImageSource = { count: all.shape[0]!, load: async (i) => all.data.slice(i * pixels, (i + 1) * pixels) };
  const s = parseRunSettings({ tokens: 40, imageSize: 128, upsampleRes: 32, keypoints: 10, candidates: 25 });
  const channels = model.unet.config.blockOutChannels.join('/');
  await benchCase(
    `case_a: golden model (UNet channels ${channels}), 128², 40 tokens, R = 32, K = 10`,
    model,
    images,
    s,
    6,
  );
}

async function benchFullSize(): Promise<void> {
  const s = parseRunSettings({ tokens: 500, imageSize: 256, upsampleRes: 128, augmentationIterations: 10 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-bench-sdxl-'));
  try {
    const { model, bytes, seconds, tensors } = writeFullSizeModel(dir, [s]);
    console.log(
      `    wrote the ${tensors.unet} UNet and ${tensors.vae} VAE tensors the graphs read (${(model.parameterCount / 1e9).toFixed(2)} G parameters, ${gib(bytes)} float16) in ${seconds.toFixed(0)} s`,
    );
    const data = await writeDemoDataset(path.join(dir, 'images'), 2, { size: 256, seed: 0 });
    const images: ImageSource = { count: 2, load: async (i) => (await decodeImage(data.images[i]!, 256)).pixels };
    await benchCase(
      'full-size SDXL architecture (random weights), 256², 500 tokens, R = 128, K = 10',
      model,
      images,
      s,
      3,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchMethod(): Promise<void> {
  console.log(`method bench — ONNX Runtime CPU, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`);
  await benchCaseA();
  if (process.env.SKP_BENCH_FULL === '1') {
    console.log('  full-size SDXL architecture (SKP_BENCH_FULL=1):');
    await benchFullSize();
  } else {
    console.log(
      '  full-size SDXL architecture (random weights, 256², 500 tokens, R = 128): skipped; set SKP_BENCH_FULL=1 to run it ' +
        '(writes 2.6 GiB of float16 weights to the temp folder; on ONNX Runtime CPU it takes minutes and about 13 GiB of memory)',
    );
  }
}
