// Native CUDA benchmark: GEMM throughput in float32 and TF32, and forward+backward time of
// SDXL-sized blocks (a transformer block with cross-attention to 500 tokens, a ResNet block
// at the 64×64 latent of a 512² image), each in float32 and TF32, with and without launch
// graph capture, and the forward of the VAE encoder's first ResNet block over 10 warped 512²
// images (float32 in both: the fast precision keeps the VAE exact). Absolute numbers with the GPU they came from; run where the addon loads:
//   node --import tsx tests/bench/cuda.ts [--profile-json file]   (every launch's GPU time, TF32 runs)
//     [--sdxl-only] [--precisions float32,tf32] [--low-memory] [--warps-per-pass N]
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
import * as o from '../../native/graph/ops.js';
import type { CudaPrecision } from '../../native/cuda/index.js';
import { CudaBackend, cudaUnavailableReason, loadCudaBackend } from '../../native/cuda/index.js';
import { planGraph } from '../../native/cuda/plan.js';
import { CaseKit, compare } from '../native/cuda/cases.js';
import { seededRandom } from '../support/random.js';
import { benchSdxl, breakdown, median, type Profiles } from './sdxlGpu.js';

interface Bench {
  name: string;
  flops: number;
  build: (k: CaseKit) => Tensor[];
  /** Built as the VAE's layers, which stay float32 in the fast precision; the UNet's otherwise. */
  vae?: boolean;
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

/** The VAE encoder's first ResNet block over a pass of warped images: group norms over long rows. */
function vaeResnetBlock(k: CaseKit, b: number, c: number, s: number): Tensor[] {
  const w = scaled(k);
  // Made on the GPU from the images, as the encoder's first convolution does (no feed of x's size).
  const x = o.conv2dBias(k.x([b, 3, s, s]), w([c, 3, 3, 3]), w([c]), { pad: 1 });
  const gn = (t: Tensor) => o.silu(o.groupNorm(t, 32, w([c]), w([c]), 1e-6));
  const h = o.conv2dBias(gn(x), w([c, c, 3, 3]), w([c]), { pad: 1 });
  const y = o.add(x, o.conv2dBias(gn(h), w([c, c, 3, 3]), w([c]), { pad: 1 }));
  return [o.mean(y, [0, 1, 2, 3], true)];
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
    // SDXL's 16² attention projections, the step's most frequent GEMM: its time without launch gaps.
    name: 'linear chain: 64 × (512×1280 · 1280×1280)',
    flops: 64 * 2 * 512 * 1280 * 1280,
    build: (k) => {
      const w = scaled(k);
      let h = k.x([2, 256, 1280]);
      for (let i = 0; i < 64; i++) h = o.linear(h, w([1280, 1280]));
      return [o.sum(h, [0, 1, 2])];
    },
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
  {
    name: 'VAE ResNet block fwd (10×128×512×512, a pass of 10 warps)',
    flops: 2 * 10 * (2 * 128 * 128 * 9 * 512 * 512) + 10 * 2 * 128 * 3 * 9 * 512 * 512,
    build: (k) => vaeResnetBlock(k, 10, 128, 512),
    vae: true,
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

async function main() {
  const backend = await loadCudaBackend();
  if (!backend) throw new Error(`native CUDA unavailable: ${cudaUnavailableReason()}`);
  console.log(`${backend.info.label}\n  ${backend.info.reasons.join('\n  ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'skp-bench-cuda-'));
  const profiles: Profiles = {};
  try {
    for (const b of process.argv.includes('--sdxl-only') ? [] : benches) {
      const kit = new CaseKit(seededRandom(11), dir);
      // The UNet's layers are the ones the fast precision runs in TF32.
      const outputs = b.vae ? b.build(kit) : kit.g.scope('unet', () => b.build(kit));
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
      const direct = backend.withOptions({ graphCapture: false });
      const r = await time(direct, outputs, kit.feeds, 'tf32', 20);
      console.log(`  tf32 without launch-graph capture: ${r.ms.toFixed(3)} ms/run`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const i = process.argv.indexOf('--profile-json');
  const j = process.argv.indexOf('--sdxl');
  const k = process.argv.indexOf('--precisions');
  const precisions = (k >= 0 ? process.argv[k + 1]!.split(',') : ['float32', 'tf32']) as CudaPrecision[];
  if (j >= 0)
    await benchSdxl(
      backend,
      process.argv[j + 1]!.split(',').map(Number),
      precisions,
      i >= 0 ? profiles : null,
      process.argv.includes('--low-memory'),
      process.argv.includes('--warps-per-pass')
        ? Number(process.argv[process.argv.indexOf('--warps-per-pass') + 1])
        : undefined,
    );
  if (i >= 0) writeFileSync(process.argv[i + 1]!, JSON.stringify(profiles, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
