// Native CUDA benchmark: GEMM throughput in float32 and TF32, and forward+backward time of
// SDXL-sized blocks (a transformer block with cross-attention to 500 tokens, a ResNet block
// at the 64×64 latent of a 512² image), each in float32 and TF32, with and without launch
// graph capture. Absolute numbers with the GPU they came from; run where the addon loads:
//   node --import tsx tests/bench/cuda.ts [--profile-json file]   (every launch's GPU time, TF32 runs)
// With `--sdxl SIZE[,SIZE…]`, also the method itself on SDXL's full architecture (random
// float16 weights, written to the temp folder first): ms per training iteration and per
// augmented inference at SIZE² with 500 tokens and R = 128, the settings of the PyTorch
// reference's timings in docs/FACTS.md, and a profile of both graphs at the first size.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { grad } from '../../native/graph/autodiff.js';
import type { Tensor } from '../../native/graph/ir.js';
import { Graph } from '../../native/graph/ir.js';
import { buildAugmentedDraws } from '../../native/keypoints/graphs.js';
import {
  initialTokens,
  KeypointFinder,
  mapSettingsFor,
  trainTokens,
  type ImageSource,
} from '../../native/keypoints/method.js';
import { parseRunSettings, type RunSettings } from '../../native/keypoints/settings.js';
import { buildTrainStep } from '../../native/keypoints/trainStep.js';
import type { LoadedModel } from '../../native/sdxl/load.js';
import * as o from '../../native/graph/ops.js';
import { loadAddon } from '../../native/cuda/addon.js';
import type { CudaPrecision, CudaStepTime } from '../../native/cuda/index.js';
import { CudaBackend, cudaUnavailableReason, loadCudaBackend } from '../../native/cuda/index.js';
import { planGraph } from '../../native/cuda/plan.js';
import { CaseKit, compare } from '../cuda/cases.js';
import { seededRandom } from '../engine/helpers/random.js';
import { writeFullSizeModel } from './fullSizeModel.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Bench {
  name: string;
  flops: number;
  build: (k: CaseKit) => Tensor[];
}

/** Transformer block of SDXL's UNet (self-attention, cross-attention, GEGLU feed-forward). */
/** Weights at the scale of trained nets (±1/√fan-in), so activations keep unit size through the block. */
const scaled = (k: CaseKit) => (shape: number[]) =>
  k.weight(shape, 'float32', shape.length > 1 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 1);

function transformerBlock(
  k: CaseKit,
  b: number,
  tokens: number,
  c: number,
  heads: number,
  ctxLen: number,
  ctxDim: number,
): Tensor[] {
  const w = scaled(k);
  const ctx = k.x([b, ctxLen, ctxDim]);
  let h = k.x([b, tokens, c]);
  const attn = (x: Tensor, kv: Tensor, kvDim: number) => {
    const split = (t: Tensor, len: number) => o.transpose(o.reshape(t, [b, len, heads, c / heads]), [0, 2, 1, 3]);
    const q = split(o.linear(x, w([c, c])), tokens);
    const kk = split(o.linear(kv, w([c, kvDim])), kv.shape[1]!);
    const v = split(o.linear(kv, w([c, kvDim])), kv.shape[1]!);
    const y = o.reshape(o.transpose(o.attention(q, kk, v, 1 / Math.sqrt(c / heads)), [0, 2, 1, 3]), [b, tokens, c]);
    return o.linear(y, w([c, c]), w([c]));
  };
  const ln = (x: Tensor) => o.layerNorm(x, w([c]), w([c]), 1e-5);
  h = o.add(h, attn(ln(h), ln(h), c));
  h = o.add(h, attn(ln(h), ctx, ctxDim));
  const proj = o.linear(ln(h), w([8 * c, c]), w([8 * c]));
  const ff = o.mul(o.slice(proj, 2, 0, 4 * c), o.gelu(o.slice(proj, 2, 4 * c, 8 * c)));
  h = o.add(h, o.linear(ff, w([c, 4 * c]), w([c])));
  const loss = o.mean(o.mul(h, h), [0, 1, 2], true);
  const [gctx] = grad(o.reshape(loss, [1]), [ctx]);
  return [loss, gctx!];
}

function resnetBlock(k: CaseKit, b: number, c: number, s: number): Tensor[] {
  const w = scaled(k);
  const x = k.x([b, c, s, s]);
  const gn = (t: Tensor) => o.silu(o.groupNorm(t, 32, w([c]), w([c]), 1e-5));
  const h = o.conv2dBias(gn(x), w([c, c, 3, 3]), w([c]), { pad: 1 });
  const y = o.add(x, o.conv2dBias(gn(h), w([c, c, 3, 3]), w([c]), { pad: 1 }));
  const loss = o.mean(o.mul(y, y), [0, 1, 2, 3], true);
  const [gx] = grad(o.reshape(loss, [1]), [x]);
  return [loss, gx!];
}

const transformerFlops = (b: number, l: number, c: number, n: number, cd: number) => {
  const fwd = 2 * b * (l * c * c * 4 + 2 * l * l * c + l * c * c * 2 + 2 * n * cd * c + 2 * l * n * c + 12 * l * c * c);
  return 2 * fwd; // the backward to the context is about the forward again (no weight gradients)
};

const benches: Bench[] = [
  {
    // Operands as weights and a scalar out: the time is the GEMM's, not PCIe transfers'.
    name: 'GEMM 8192³ (+ sum of the product)',
    flops: 2 * 8192 ** 3,
    build: (k) => [o.sum(o.matmul(k.weight([8192, 8192], 'float32'), k.weight([8192, 8192], 'float32')), [0, 1])],
  },
  {
    name: 'transformer block fwd+bwd (2×1024 tok, 640 ch, 500 ctx)',
    flops: transformerFlops(2, 1024, 640, 500, 2048),
    build: (k) => transformerBlock(k, 2, 1024, 640, 10, 500, 2048),
  },
  {
    name: 'ResNet block fwd+bwd (2×320×64×64)',
    flops: 3 * 2 * 2 * (2 * 320 * 320 * 9 * 64 * 64),
    build: (k) => resnetBlock(k, 2, 320, 64),
  },
];

async function time(
  backend: CudaBackend,
  outputs: Tensor[],
  feeds: CaseKit['feeds'],
  precision: CudaPrecision,
  reps: number,
) {
  const t0 = performance.now();
  const graph = await backend.compile(outputs, { name: 'bench', precision });
  const compileMs = performance.now() - t0;
  const first = await graph.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await graph.run(feeds);
    times.push(performance.now() - t);
  }
  const { steps } = await graph.profile(feeds);
  await graph.release();
  return { compileMs, ms: median(times), result: first, steps };
}

/** GPU time per kind of launch (and the op it serves), largest first. */
function breakdown(steps: CudaStepTime[]): string {
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

async function main() {
  const backend = await loadCudaBackend();
  if (!backend) throw new Error(`native CUDA unavailable: ${cudaUnavailableReason()}`);
  console.log(`${backend.info.label}\n  ${backend.info.reasons.join('\n  ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'skp-bench-cuda-'));
  const profiles: Record<string, { kind: string; op: string; shape: number[]; label?: string; ms: number }[]> = {};
  try {
    for (const b of benches) {
      const kit = new CaseKit(seededRandom(11), dir);
      const outputs = b.build(kit);
      const plan = planGraph(outputs);
      console.log(
        `\n${b.name}: ${plan.stats.nodes} nodes → ${plan.stats.instructions} launches (${plan.stats.foldedNodes} nodes fused), ` +
          `arena ${(plan.arenaBytes / 2 ** 20).toFixed(0)} MiB (live peak ${(plan.stats.peakLiveBytes / 2 ** 20).toFixed(0)}, unshared ${(plan.stats.unsharedBytes / 2 ** 20).toFixed(0)})`,
      );
      const byPrecision: Record<string, Awaited<ReturnType<typeof time>>> = {};
      for (const precision of ['float32', 'tf32'] as const) {
        const r = await time(backend, outputs, kit.feeds, precision, 20);
        byPrecision[precision] = r;
        console.log(
          `  ${precision.padEnd(7)} ${r.ms.toFixed(3).padStart(9)} ms/run  ${(b.flops / r.ms / 1e9).toFixed(1).padStart(6)} TFLOP/s  (compile ${r.compileMs.toFixed(0)} ms)`,
        );
        console.log(`    ${breakdown(r.steps)}`);
      }
      profiles[b.name] = byPrecision.tf32!.steps.map((st) => ({
        kind: st.kind,
        op: st.node.spec.op,
        shape: [...st.node.shape],
        label: st.node.label,
        ms: st.ms,
      }));
      const f32 = byPrecision.float32!.result;
      const tf = byPrecision.tf32!.result;
      const errs = tf.map(
        (t, i) => compare(i, t, { dtype: 'float32', data: Float64Array.from(f32[i]!.data as Float32Array) }).relL2,
      );
      console.log(`  TF32 vs float32 relative L2 per output: ${errs.map((e) => e.toExponential(2)).join(', ')}`);
      // The same launches issued one by one instead of replayed from a captured graph.
      const direct = new CudaBackend(loadAddon(), backend.device, { graphCapture: false });
      const r = await time(direct, outputs, kit.feeds, 'tf32', 20);
      console.log(`  tf32 without launch-graph capture: ${r.ms.toFixed(3)} ms/run`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const i = process.argv.indexOf('--profile-json');
  const j = process.argv.indexOf('--sdxl');
  if (j >= 0) await benchSdxl(backend, process.argv[j + 1]!.split(',').map(Number), profiles);
  if (i >= 0) writeFileSync(process.argv[i + 1]!, JSON.stringify(profiles, null, 1));
}

type Profiles = Record<string, { kind: string; op: string; shape: number[]; label?: string; ms: number }[]>;

const sdxlSettings = (size: number) =>
  parseRunSettings({ tokens: 500, imageSize: size, upsampleRes: 128, augmentationIterations: 10 });

async function benchSdxl(first: CudaBackend, sizes: number[], profiles: Profiles): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'skp-bench-sdxl-'));
  try {
    const { model, bytes, seconds } = writeFullSizeModel(dir, sizes.map(sdxlSettings));
    console.log(
      `\nSDXL full architecture, random float16 weights (${(bytes / 2 ** 30).toFixed(2)} GiB written in ${seconds.toFixed(0)} s), 500 tokens, R = 128`,
    );
    const addon = loadAddon();
    const used = () => {
      const m = addon.memInfo();
      return ((m.total - m.free) / 2 ** 30).toFixed(1);
    };
    for (const size of sizes) {
      const s = sdxlSettings(size);
      const rand = seededRandom(5);
      const pixels = Array.from({ length: 2 }, () => Float32Array.from({ length: 3 * size * size }, () => rand()));
      const images: ImageSource = { count: 2, load: async (i) => pixels[i]! };
      for (const precision of ['float32', 'tf32'] as const) {
        const backend = new CudaBackend(addon, first.device, { precision });
        const tokens = initialTokens(s, model.unet.config.crossAttentionDim);
        const t0 = performance.now();
        const keypoints = Array.from({ length: s.keypoints }, (_, k) => k);
        const finder = await KeypointFinder.create(model, backend, tokens, keypoints, s);
        await finder.find(pixels[0]!, 0);
        const firstMs = performance.now() - t0;
        const times: number[] = [];
        for (let r = 0; r < 3; r++) {
          const t1 = performance.now();
          await finder.find(pixels[0]!, r + 1);
          times.push(performance.now() - t1);
        }
        const inUse = used();
        await finder.release();
        const stamps: number[] = [];
        await trainTokens(
          model,
          backend,
          images,
          { ...s, steps: 4, batchSize: 1 },
          { onProgress: () => stamps.push(performance.now()) },
        );
        const intervals = stamps.slice(1).map((x, k) => x - stamps[k]!);
        console.log(
          `  ${size}² ${precision.padEnd(7)} training iteration ${median(intervals).toFixed(0)} ms (median of ${intervals.length}); ` +
            `augmented inference (10 warps) ${median(times).toFixed(0)} ms (first, with compile and weight upload, ${(firstMs / 1000).toFixed(1)} s; ${inUse} GiB in use)`,
        );
        if (size === sizes[0] && precision === 'float32') await profileSdxl(backend, model, s, profiles);
        await backend.releaseWeights();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Profiles one training step and one augmented draw: where the GPU time goes. */
async function profileSdxl(backend: CudaBackend, model: LoadedModel, s: RunSettings, profiles: Profiles) {
  const size = s.imageSize;
  const shape = { imageSize: size, latentSize: size / 8, tokens: s.tokens };
  const rand = seededRandom(9);
  const graphs: [string, Tensor[]][] = [];
  const tg = new Graph();
  const step = buildTrainStep(tg, model, shape, mapSettingsFor(model.scheduler, s), s);
  graphs.push(['training step', [step.loss, step.gradient, step.maps]]);
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
  graphs.push(['augmented draws', [draws.unwarpedSum, draws.coverageSum]]);
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
    const { steps } = await graph.profile(feeds);
    const st = graph.plan.stats;
    console.log(
      `  profile, ${name} at ${size}² (float32): ${st.nodes} nodes → ${st.instructions} launches, arena ${(graph.plan.arenaBytes / 2 ** 30).toFixed(2)} GiB\n    ${breakdown(steps)}`,
    );
    profiles[`SDXL ${size} ${name}`] = steps.map((x) => ({
      kind: x.kind,
      op: x.node.spec.op,
      shape: [...x.node.shape],
      label: x.node.label,
      ms: x.ms,
    }));
    await graph.release();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
