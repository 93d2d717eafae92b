// The CUDA planner, checked on the CPU: every case's program runs on a model of the addon's
// instruction set (emulator.ts) and must reproduce the float64 interpreter. Kernels
// themselves are checked on a GPU by gpuCheck.ts.
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { grad } from '../../../native/graph/autodiff.js';
import { evaluate } from '../../../native/graph/interpret.js';
import type { Tensor } from '../../../native/graph/ir.js';
import { Graph, topoOrder } from '../../../native/graph/ir.js';
import { opNames } from '../../../native/graph/opset.js';
import * as o from '../../../native/graph/ops.js';
import { assignOffsets, type ArenaSlot } from '../../../native/cuda/memory.js';
import type { ExecutionPlan, Place } from '../../../native/cuda/plan.js';
import { planGraph } from '../../../native/cuda/plan.js';
import { anyNarrower, readStoredBytes, WeightCache } from '../../../native/cuda/weights.js';
import { inUnet, tf32Policy } from '../../../native/cuda/precision.js';
import { SOFTMAX_GRAD_FROM_SCORES_MAX, type DeviceLoc } from '../../../native/cuda/program.js';
import type { HostTensor } from '../../../native/runtime/backend.js';
import { buildCases, compare, referenceFeeds } from './cases.js';
import { emulatedDevice } from './emulatedDevice.js';
import { DeviceMemory, emulate } from './emulator.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-cuda-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A weight as the backend holds it: its file's bytes (float16 and bfloat16 left at 2 bytes). */
function storedBytes(w: Tensor): Buffer {
  if (w.spec.op !== 'weight') throw new Error('not a weight');
  const fd = openSync(w.spec.ref.file, 'r');
  try {
    return readStoredBytes(fd, w);
  } finally {
    closeSync(fd);
  }
}

/** Plans, lays out memory as the backend does, runs the program on the emulator. */
function runEmulated(outputs: Tensor[], feeds: Record<string, HostTensor>, scratchLimitBytes?: number): HostTensor[] {
  const plan = planGraph(outputs, { scratchLimitBytes });
  const mem = new DeviceMemory();
  const weightIds = new Map<Tensor, number>();
  for (const w of plan.weights) {
    const bytes = storedBytes(w);
    const id = mem.alloc(bytes.length);
    mem.write(id, 0, bytes);
    weightIds.set(w, id);
  }
  return runPlan(plan, mem, weightIds, feeds);
}

/** `plan` on the emulator, its weights at `weightIds`: arena, constants and inputs laid out as the backend does. */
function runPlan(
  plan: ExecutionPlan,
  mem: DeviceMemory,
  weightIds: ReadonlyMap<Tensor, number>,
  feeds: Record<string, HostTensor>,
): HostTensor[] {
  const arena = mem.alloc(plan.arenaBytes);
  // Poison: a value the program forgot to write shows up as NaN.
  new Uint8Array(mem.view(arena).buffer).fill(0xff);
  const consts = mem.alloc(plan.constantBytes);
  for (const c of plan.constants) mem.write(consts, c.offset, c.data);
  const resolve = (p: Place): DeviceLoc => {
    const h = p.home;
    if (h.kind === 'arena') return { alloc: arena, offset: h.slot.offset + p.offset };
    if (h.kind === 'constant') return { alloc: consts, offset: h.offset + p.offset };
    return { alloc: weightIds.get(h.tensor)!, offset: p.offset };
  };
  for (const inp of plan.inputs) {
    const loc = resolve(inp.place);
    mem.write(loc.alloc, loc.offset, feeds[inp.name]!.data);
  }
  emulate(mem, plan.encode(resolve, 'float32'));
  return plan.outputs.map((out) => {
    const loc = resolve(out.place);
    const buf = mem.read(loc.alloc, loc.offset, out.bytes);
    const t = out.tensor;
    const data =
      t.dtype === 'float32'
        ? new Float32Array(buf)
        : t.dtype === 'int64'
          ? new BigInt64Array(buf)
          : new Uint8Array(buf);
    return { dtype: t.dtype, shape: [...t.shape], data };
  });
}

describe('CUDA plan on the instruction-set model', () => {
  for (const c of buildCases(7, dir)) {
    it(c.name, () => {
      const got = runEmulated(c.outputs, c.feeds, c.scratchLimitBytes);
      const want = evaluate(c.outputs, referenceFeeds(c.feeds));
      got.forEach((g, i) => {
        const r = compare(i, g, want[i]!);
        expect(r.mismatches, `output ${i} (${r.dtype}) exact mismatches`).toBe(0);
        // float32 rounding of O(1) values over sums of up to ~20k terms; a layout or index
        // mistake gives O(1) errors.
        if (r.dtype === 'float32') expect(r.relL2, `output ${i} relative L2 error`).toBeLessThan(2e-5);
      });
    });
  }
});

/** runEmulated with the weights as the backend's cache holds them for a float32-weights plan. */
async function runWithFloat32Weights(
  outputs: Tensor[],
  feeds: Record<string, HostTensor>,
  scratchLimitBytes?: number,
): Promise<HostTensor[]> {
  const plan = planGraph(outputs, { scratchLimitBytes, weightsInFloat32: true });
  const mem = new DeviceMemory();
  return runPlan(plan, mem, await new WeightCache(emulatedDevice(undefined, mem)).ensure(plan.weights, true), feeds);
}

describe('CUDA plan with float32 copies of the weights', () => {
  // Widening is exact: every case must give the same bytes as with weights widened at each use.
  for (const c of buildCases(7, dir).filter((c) => anyNarrower(planGraph(c.outputs).weights))) {
    it(c.name, async () => {
      const stored = planGraph(c.outputs, { scratchLimitBytes: c.scratchLimitBytes });
      const float32 = planGraph(c.outputs, { scratchLimitBytes: c.scratchLimitBytes, weightsInFloat32: true });
      // Stored at half width, a weight is widened for the kernels that read float32 (layer norm's and GEGLU's read it as stored).
      const readsStored = (k: string) => k === 'widen' || k.startsWith('layerNorm') || k.startsWith('geglu');
      expect(stored.kinds.filter(readsStored).length).toBeGreaterThan(0);
      expect(float32.kinds).not.toContain('widen');
      expect(float32.arenaBytes).toBeLessThanOrEqual(stored.arenaBytes);
      const want = runEmulated(c.outputs, c.feeds, c.scratchLimitBytes);
      const got = await runWithFloat32Weights(c.outputs, c.feeds, c.scratchLimitBytes);
      got.forEach((g, i) => {
        const w = want[i]!.data;
        expect(
          Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength).equals(
            Buffer.from(w.buffer, w.byteOffset, w.byteLength),
          ),
          `output ${i}`,
        ).toBe(true);
      });
    });
  }
});

describe('CUDA plan coverage', () => {
  it('the cases exercise every op of the op table', () => {
    const seen = new Set(buildCases(7, dir).flatMap((c) => topoOrder(c.outputs).map((t) => t.spec.op)));
    expect(opNames.filter((op) => !seen.has(op))).toEqual([]);
  });
});

/** A layer's output and head-mean maps from q and keys/values of the given shapes, a loss on both, and its gradients. */
function attentionAndMaps(qShape: number[], kShape: number[], scale: number) {
  const g = new Graph();
  const q = g.input('q', qShape);
  const k = g.input('k', kShape);
  const v = g.input('v', kShape);
  const out = o.attention(q, k, v, scale);
  const maps = o.attentionHeadMean(q, k, scale);
  const loss = o.add(o.sum(o.mul(out, out), [0, 1, 2, 3]), o.sum(o.mul(maps, maps), [0, 1, 2]));
  return { loss, grads: grad(o.reshape(loss, [1]), [q, k, v]) };
}

describe('CUDA plan structure', () => {
  it('runs a layer norm as one kernel, fuses the GELU after it, and reads the weight transposed in place', () => {
    const g = new Graph();
    const x = g.input('x', [4, 16]);
    const y = o.gelu(o.layerNorm(o.linear(x, g.input('w', [16, 16])), g.input('s', [16]), g.input('b', [16]), 1e-5));
    // The GELU reads its input twice: computed once, in one kernel.
    expect(planGraph([y]).kinds).toEqual(['gemm', 'layerNorm', 'elementwise']);
    // Its x gradient is one kernel too (besides the loss's own elementwise kernels): no reductions.
    const normed = o.layerNorm(x, g.input('s2', [16]), g.input('b2', [16]), 1e-5);
    const [gx] = grad(o.reshape(o.sum(o.mul(normed, g.input('c', [4, 16])), [0, 1]), [1]), [x]);
    expect(planGraph([gx!]).kinds.filter((k) => k !== 'elementwise')).toEqual(['layerNormGrad']);
  });

  it("runs SDXL's GEGLU as one kernel, with its bias, and its gradient as one more", () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const y = o.geglu(o.matmul(x, g.input('w', [8, 16])), g.input('b', [16]));
    expect(planGraph([y]).kinds).toEqual(['gemm', 'geglu']);
    const [gx] = grad(o.reshape(o.sum(o.mul(y, g.input('c', [4, 8])), [0, 1]), [1]), [x]);
    expect(planGraph([gx!]).kinds.filter((k) => k !== 'elementwise')).toEqual(['gemm', 'gegluGrad', 'gemm']);
  });

  it("reads a GEGLU's halves in place: no copy for a slice that only elementwise ops read", () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const h = o.linear(x, g.input('w', [16, 8]));
    const halves = (t: Tensor) => o.mul(o.slice(t, 1, 0, 8), o.gelu(o.slice(t, 1, 8, 16)));
    expect(planGraph([halves(h)]).kinds).toEqual(['gemm', 'elementwise']);
    // Read by a GEMM too, a slice is copied for it.
    const both = planGraph([halves(h), o.matmul(o.slice(h, 1, 0, 8), g.input('v', [8, 2]))]);
    expect(both.kinds.filter((k) => k === 'copy')).toHaveLength(1);
    // Read again long after (as a backward pass reads a GEGLU half), a slice is copied: in place,
    // it would keep the whole source alive until then.
    const hidden = o.slice(h, 1, 0, 8);
    let later = o.mul(hidden, o.gelu(o.slice(h, 1, 8, 16)));
    for (let i = 0; i < 20; i++) later = o.matmul(later, g.input(`m${i}`, [8, 8]));
    const kinds = planGraph([o.add(later, hidden)]).kinds;
    expect(kinds.filter((k) => k === 'copy')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'gemm')).toHaveLength(21);
  });

  it("puts a GEGLU's input gradient together from its halves' gradients: no zeros, no sum", () => {
    const g = new Graph();
    const h = g.input('h', [4, 16]);
    const y = o.mul(o.slice(h, 1, 0, 8), o.gelu(o.slice(h, 1, 8, 16)));
    const [gh] = grad(o.reshape(o.sum(y, [0, 1]), [1]), [h]);
    const { steps, kinds } = planGraph([gh!]);
    expect(steps.filter((t) => t.spec.op === 'fill' && t.spec.value === 0)).toEqual([]);
    // One copy per half into the gradient (the sum of padded halves took four), and nothing else.
    expect(steps.filter((t) => t.spec.op === 'concat')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'copy')).toHaveLength(2);
  });

  it("never makes the zeros padded after a strided convolution's input (the VAE's downsampling)", () => {
    const g = new Graph();
    const x = g.input('x', [1, 4, 8, 8]);
    const padded = o.concat([o.concat([x, g.fill(0, [1, 4, 8, 1])], 3), g.fill(0, [1, 4, 1, 9])], 2);
    expect(planGraph([o.conv2d(padded, g.input('w', [4, 4, 3, 3]), { stride: 2 })]).kinds).toEqual(['im2col', 'gemm']);
    // Read by another op too, the padded input is made for it.
    const kinds = planGraph([o.conv2d(padded, g.input('v', [4, 4, 3, 3]), { stride: 2 }), o.sum(padded, [2])]).kinds;
    expect(kinds.filter((k) => k === 'copy')).toHaveLength(4);
  });

  it("takes a group norm's variance from x and its mean: the squared deviations are never made", () => {
    const g = new Graph();
    const x = g.input('x', [2, 8, 5, 6]);
    const plan = planGraph([o.silu(o.groupNorm(x, 4, g.input('w', [8]), g.input('b', [8]), 1e-6))]);
    // μ and Σ(x − μ)² from one read of x, μ per channel, √(σ² + ε) per channel, then normalise,
    // affine and SiLU.
    expect(plan.kinds).toEqual(['moments', 'elementwise', 'elementwise', 'elementwise']);
    expect(plan.steps.map((t) => t.spec.op).filter((op) => op === 'mul')).toEqual(['mul']);
  });

  it('sums negated values with the scale negated: the negation is never made', () => {
    const g = new Graph();
    const x = g.input('x', [4, 6]);
    expect(planGraph([o.sum(o.neg(x), [1], true)]).kinds).toEqual(['reduce']);
    // Read by another op too, the negation is made for it.
    const negated = o.neg(x);
    const both = planGraph([o.sum(negated, [1], true), o.exp(negated)]).kinds;
    expect(both.filter((k) => k === 'elementwise')).toHaveLength(2);
  });

  it('copies no weight for the backward pass of a linear layer (Wᵀᵀ reads W)', () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const loss = o.sum(o.linear(x, g.input('w', [16, 8])), [0, 1], true);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    const plan = planGraph([loss, gx!]);
    expect(plan.steps.filter((t) => t.spec.op === 'transpose')).toEqual([]);
    expect(plan.kinds.filter((k) => k === 'gemm')).toHaveLength(2);
  });

  it('runs only the UNet GEMMs and their gradients in TF32 under the fast precision', () => {
    const g = new Graph();
    const x = g.input('x', [4, 8]);
    const w = g.input('w', [8, 8]);
    const vae = g.scope('vae', () => o.matmul(x, w));
    const unet = g.scope('unet', () => o.matmul(vae, w));
    const loss = o.sum(o.matmul(unet, w), [0, 1], true);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    const plan = planGraph([loss, gx!]);
    const flags = (precision: 'float32' | 'tf32') => {
      const chosen: [string | undefined, boolean][] = [];
      const policy = tf32Policy(precision);
      for (const t of plan.steps.filter((_, i) => plan.kinds[i] === 'gemm')) chosen.push([t.label, policy(t)]);
      return chosen;
    };
    expect(flags('float32').every(([, tf32]) => !tf32)).toBe(true);
    const fast = flags('tf32');
    expect(
      fast
        .filter(([, tf32]) => tf32)
        .map(([label]) => label)
        .sort(),
    ).toEqual(['grad.unet', 'unet']);
    expect(fast.filter(([label]) => !/unet/.test(label ?? '')).every(([, tf32]) => !tf32)).toBe(true);
    expect(inUnet({ ...unet, label: 'unetx' })).toBe(false);
  });

  it('keeps float16 and bfloat16 weights at 2 bytes: a GEMM reads a float32 copy that lives for its step only', () => {
    const g = new Graph();
    const x = g.input('x', [4, 64]);
    const ref = (storedAs: 'float16' | 'bfloat16', name: string) => ({
      file: '/unused',
      byteOffset: 0,
      storedAs,
      name,
    });
    let h = x;
    for (let i = 0; i < 6; i++) h = o.linear(h, g.weight(ref(i % 2 ? 'float16' : 'bfloat16', `w${i}`), [64, 64]));
    const loss = o.sum(o.add(h, g.weight(ref('float16', 'bias'), [64])), [0, 1], true);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    const plan = planGraph([loss, gx!]);
    // One widening per GEMM that reads a weight (forward and backward); the fused bias add reads it as stored.
    expect(plan.kinds.filter((k) => k === 'widen')).toHaveLength(12);
    const weightFloats = 64 * 64 * 4;
    // At most one float32 copy of a weight (plus activations) is alive at a time.
    expect(plan.stats.peakLiveBytes).toBeLessThan(2 * weightFloats);
  });

  it('splits heads from tokens and merges them back without a copy, forward and backward', () => {
    const [c] = buildCases(7, dir, (name) => name.startsWith('gradient: attention with heads split'));
    const plan = planGraph(c!.outputs);
    // Each transpose (0, 2, 1, 3) is read or written in place by the attention lowerings; the
    // linear layers' weight transposes are GEMM views. Nothing is left to copy.
    expect(topoOrder(c!.outputs).filter((t) => t.spec.op === 'transpose').length).toBeGreaterThan(10);
    expect(plan.steps.filter((t) => t.spec.op === 'transpose')).toEqual([]);
  });

  it("computes an attention's probabilities once per chunk for the gradients of q, k and v together", () => {
    const g = new Graph();
    const q = g.input('q', [2, 3, 16, 4]);
    const [k, v] = ['k', 'v'].map((n) => g.input(n, [1, 3, 5, 4]));
    const out = o.attention(q, k!, v!, 0.5);
    const grads = grad(o.reshape(o.sum(o.mul(out, out), [0, 1, 2, 3]), [1]), [q, k!, v!]);
    const plan = planGraph(grads);
    // One node's instructions (the group's lead) compute all three.
    const backward = [...new Set(plan.steps)].filter((t) => t.spec.op.startsWith('attention') && t !== out);
    expect(backward).toHaveLength(1);
    const kinds = plan.kinds.filter((_, i) => plan.steps[i] === backward[0]);
    // Keys shared by a batch of 2: one chunk per batch element, each with one softmax gradient
    // (which makes the probabilities from the scores too) and the GEMMs qkᵀ, g·vᵀ, Pᵀ·g, dS·k and dSᵀ·q.
    expect(kinds.filter((k) => k === 'softmax')).toHaveLength(0);
    expect(kinds.filter((k) => k === 'softmaxGrad')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'gemm')).toHaveLength(2 * 5);
  });

  it("computes a layer's probabilities once for its output and its maps, and once for the maps' dq and dk", () => {
    // One group forward and one backward. The forward's probabilities once; the backward's (q, k
    // and v, or q and k) once per batch element, as the keys' gradient sums over the batch,
    // unless every query-side tensor has its heads merged: then the batch's rows are one chunk.
    for (const [name, backward] of [
      // The output is read as [batch, heads, tokens, channels], so its gradient comes so too.
      ['gradient: attention maps and output (autodiff)', 2],
      // q and dq with heads merged (split from and merged into a linear layer's tokens).
      ['gradient: attention maps alone (autodiff)', 1],
    ] as const) {
      const [c] = buildCases(7, dir, (n) => n === name);
      const plan = planGraph(c!.outputs);
      const attention = new Set(plan.steps.filter((t) => t.spec.op.startsWith('attention')));
      expect(attention.size, name).toBe(2);
      // The backward's softmax gradients make the probabilities from the scores.
      expect(
        plan.kinds.filter((k) => k === 'softmax' || k === 'softmax head mean'),
        name,
      ).toHaveLength(1);
      expect(
        plan.kinds.filter((k) => k === 'softmaxGrad'),
        name,
      ).toHaveLength(backward);
    }
  });

  it('takes the whole batch in one chunk where keys are shared and the queries’ heads are merged', () => {
    const [c] = buildCases(7, dir, (name) => name.startsWith('gradient: attention with heads split'));
    const plan = planGraph(c!.outputs);
    const leads = [...new Set(plan.steps)].filter((t) => t.spec.op.startsWith('attention'));
    const cross = leads.filter((t) => t.inputs[1]!.shape[0] === 1 && t.inputs[0]!.shape[0]! > 1);
    const backward = cross.filter((t) => t.spec.op !== 'attention' && t.spec.op !== 'attentionHeadMean');
    expect(backward).toHaveLength(1);
    const kinds = plan.kinds.filter((_, i) => plan.steps[i] === backward[0]);
    // A batch of 3: one softmax gradient (the probabilities with it), and the GEMMs qkᵀ, g·vᵀ,
    // Pᵀ·g, dS·k and dSᵀ·q once, where split heads take them once per batch element.
    expect(kinds.filter((k) => k === 'softmaxGrad')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'gemm')).toHaveLength(5);
  });

  it("folds a layer's maps gradient into the gradients of q and k, lowered together", () => {
    const { loss, grads } = attentionAndMaps([2, 3, 16, 4], [1, 3, 5, 4], 0.5);
    const plan = planGraph([loss, ...grads]);
    const gradients = new Set(['attentionGrad', 'attentionValuesGrad', 'attentionHeadMeanGrad']);
    const backward = [...new Set(plan.steps.filter((t) => gradients.has(t.spec.op)))];
    // One group, with one softmax gradient per batch element, which makes the probabilities:
    // unfolded, the maps' gradients would recompute them in a group of their own.
    expect(backward).toHaveLength(1);
    expect(plan.kinds.filter((k, i) => k === 'softmaxGrad' && plan.steps[i] === backward[0])).toHaveLength(2);
    // The maps' share of dP is added by the softmax gradient as it reads dP: no kernel writes it first.
    expect(plan.kinds.filter((k, i) => k === 'elementwise' && plan.steps[i] === backward[0])).toHaveLength(0);
  });

  it('makes the probabilities in the softmax gradient for rows it takes whole, else in a softmax of their own', () => {
    for (const [keys, softmaxes] of [
      [SOFTMAX_GRAD_FROM_SCORES_MAX, 0],
      [SOFTMAX_GRAD_FROM_SCORES_MAX + 1, 1],
    ] as const) {
      const g = new Graph();
      const q = g.input('q', [1, 2, 3, 4]);
      const [k, v] = ['k', 'v'].map((n) => g.input(n, [1, 2, keys, 4]));
      const out = o.attention(q, k!, v!, 0.5);
      const plan = planGraph(grad(o.reshape(o.sum(o.mul(out, out), [0, 1, 2, 3]), [1]), [q, k!, v!]));
      const backward = plan.kinds.filter((_, i) => plan.steps[i]!.spec.op !== 'attention');
      expect(backward.filter((kind) => kind === 'softmax')).toHaveLength(softmaxes);
      expect(backward.filter((kind) => kind === 'softmaxGrad')).toHaveLength(1);
    }
  });

  it('sums the squares of kept deviations for a group norm whose gradient reads them', () => {
    const g = new Graph();
    const x = g.input('x', [2, 8, 6, 6]);
    const normed = o.groupNorm(x, 4, g.input('w', [8]), g.input('b', [8]), 1e-5);
    const [gx] = grad(o.reshape(o.sum(o.mul(normed, normed), [0, 1, 2, 3]), [1]), [x]);
    const kinds = planGraph([gx!]).kinds;
    expect(kinds).not.toContain('moments');
    expect(kinds.filter((k) => k === 'reduce').length).toBeGreaterThanOrEqual(2);
  });

  it("adds a Winograd convolution's bias and shortcut in its output transform, unless the convolution is read elsewhere", () => {
    const g = new Graph();
    const x = g.input('x', [1, 4, 64, 64]);
    const w = g.input('w', [3, 4, 3, 3]);
    const b = g.input('b', [3]);
    const biased = o.conv2dBias(x, w, b, { pad: 1 });
    expect(planGraph([biased]).kinds.filter((k) => k === 'elementwise')).toEqual([]);
    // A resnet's shortcut added after the bias, too.
    const shortcut = o.add(g.input('r', [1, 3, 64, 64]), biased);
    const folded = planGraph([shortcut]);
    expect(folded.kinds.filter((k) => k === 'elementwise')).toEqual([]);
    expect(folded.steps.filter((t) => t.spec.op === 'conv2d').map((t) => t.inputs.length)).toContain(4);
    const bare = o.conv2d(x, w, { pad: 1 });
    const kept = planGraph([o.add(bare, o.reshape(b, [1, 3, 1, 1])), bare]);
    expect(kept.kinds.filter((k) => k === 'elementwise')).toHaveLength(1);
    // im2col's path (stride 2) keeps its add.
    const strided = planGraph([o.conv2dBias(x, w, b, { stride: 2, pad: 1 })]);
    expect(strided.kinds.filter((k) => k === 'elementwise')).toHaveLength(1);
  });

  it('leaves out of a group a sibling whose inputs are not ready at the first one’s step', () => {
    const g = new Graph();
    const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => g.input(n, [1, 2, 6, 4]));
    const out = g.input('g', [1, 2, 6, 4]);
    const dv = o.attentionValuesGrad(q!, k!, out, 0.5);
    // The maps' gradient is computed from dv, after it: dq and dk, which read it, cannot join dv.
    const mapsGrad = o.reshape(o.sum(dv, [1, 3]), [1, 6, 1]);
    const wide = o.mul(mapsGrad, g.fill(1, [1, 6, 6]));
    const [dq, dk] = (['q', 'k'] as const).map((wrt) => o.attentionGrad(q!, k!, v!, out, 0.5, wrt, wide));
    const plan = planGraph([dv, dq!, dk!]);
    const leads = [...new Set(plan.steps)].filter((t) => t.spec.op.startsWith('attention')).map((t) => t.spec.op);
    expect(leads).toEqual(['attentionValuesGrad', 'attentionGrad']);
    const wave = [Math.sin, Math.cos, (i: number) => Math.sin(2 * i), (i: number) => Math.cos(3 * i)];
    const feeds = Object.fromEntries(
      ['q', 'k', 'v', 'g'].map((n, j) => [
        n,
        {
          dtype: 'float32' as const,
          shape: [1, 2, 6, 4],
          data: Float32Array.from({ length: 48 }, (_, i) => wave[j]!(i)),
        },
      ]),
    );
    const want = evaluate([dv, dq!, dk!], referenceFeeds(feeds));
    runEmulated([dv, dq!, dk!], feeds).forEach((got, i) => {
      const r = compare(i, got, want[i]!);
      expect(r.relL2).toBeLessThan(1e-6);
    });
  });

  it('never holds attention probabilities beyond the scratch limit, forward or backward', () => {
    const { loss, grads } = attentionAndMaps([2, 16, 2048, 8], [1, 16, 300, 8], 0.25);
    const limit = 2 ** 20;
    const plan = planGraph([loss, ...grads], { scratchLimitBytes: limit });
    const probsBytes = 2 * 16 * 2048 * 300 * 4;
    const mapsBytes = 2 * 2048 * 300 * 4;
    // The maps, their square and gradient, queries, outputs and their gradients, and the scratch.
    expect(plan.arenaBytes).toBeLessThan(5 * mapsBytes + 2 * limit);
    expect(plan.arenaBytes).toBeLessThan(probsBytes / 3);
  });

  it('shares arena bytes between tensors whose lifetimes do not overlap, and never between ones that do', () => {
    const g = new Graph();
    let h = g.input('x', [8, 64]);
    const w = g.input('w', [64, 64]);
    for (let i = 0; i < 20; i++) h = o.softmax(o.matmul(h, w), 1);
    const plan = planGraph([h]);
    expect(plan.arenaBytes).toBeLessThan(plan.stats.unsharedBytes / 3);
    expect(plan.arenaBytes).toBeGreaterThanOrEqual(plan.stats.peakLiveBytes);
  });

  it('lays out random lifetimes without overlap', () => {
    let seed = 1;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const slots: ArenaSlot[] = Array.from({ length: 300 }, () => {
      const first = Math.floor(rand() * 100);
      return { bytes: 1 + Math.floor(rand() * 5000), first, last: first + Math.floor(rand() * 20), offset: -1 };
    });
    const total = assignOffsets(slots);
    for (const a of slots) {
      expect(a.offset % 256).toBe(0);
      expect(a.offset + a.bytes).toBeLessThanOrEqual(total);
      for (const b of slots) {
        if (a === b || a.last < b.first || b.last < a.first) continue;
        const apart = a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset;
        expect(apart).toBe(true);
      }
    }
  });
});
