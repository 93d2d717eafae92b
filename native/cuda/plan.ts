// Compiles an IR graph into an execution plan for the CUDA addon: which tensors get device
// memory and where (one arena, liveness-based reuse), and the launch sequence (fused
// elementwise kernels, cuBLAS GEMMs, reductions, copies). The graph-wide decisions are made
// here; each node's instructions come from its op's lowering (lower/). Pure TypeScript: it
// runs and is tested without a GPU; only `encode` output reaches the device.
import type { Tensor } from '../graph/ir.js';
import { GraphError, numel, sameShape, topoOrder } from '../graph/ir.js';
import { foldAttentionGrads } from './attentionFold.js';
import { attentionGroups, inputsBeforeSiblings } from './attentionGroups.js';
import { rewriteGraph, type Rewrite } from './rewrite.js';
import { isElementwise, isImmediate, isZeroFill, planFusion } from './fuse.js';
import { headLayouts, sharesInput } from './headLayouts.js';
import { elemBytes } from './layout.js';
import { attentionGroup } from './lower/attention.js';
import { PlanContext, describe, storedType, type Place, type PlanInput, type Resolver } from './lower/context.js';
import { byWinograd } from './lower/conv.js';
import { aliases, loweringOf } from './lower/index.js';
import { alignUp, assignOffsets, peakLiveBytes } from './memory.js';
import { neverMade } from './neverMade.js';
import { tf32Policy, type CudaPrecision } from './precision.js';
import { ElemType, MAX_RANK, ProgramWriter } from './program.js';

export type { Home, Place, PlanInput, Resolver } from './lower/context.js';

export interface PlanOutput {
  tensor: Tensor;
  place: Place;
  bytes: number;
}

export interface PlanStats {
  nodes: number;
  kernels: number;
  foldedNodes: number;
  instructions: number;
  /** Arena bytes if nothing were shared, and the live-bytes floor, for judging the layout. */
  unsharedBytes: number;
  peakLiveBytes: number;
}

export interface ExecutionPlan {
  inputs: PlanInput[];
  outputs: PlanOutput[];
  arenaBytes: number;
  constantBytes: number;
  constants: { offset: number; data: Float32Array | BigInt64Array | Uint8Array }[];
  /** Weight nodes read by the plan (the backend's cache uploads each once per model). */
  weights: Tensor[];
  /** Whether the plan reads every weight as float32 (PlanOptions.weightsInFloat32). */
  weightsInFloat32: boolean;
  /** The node each instruction belongs to, for naming the op in error messages. */
  steps: Tensor[];
  /** What each instruction launches (elementwise, gemm, im2col, …), for profiles. */
  kinds: string[];
  stats: PlanStats;
  encode(resolve: Resolver, precision: CudaPrecision): Float64Array;
}

export interface PlanOptions {
  /** Largest scratch buffer for convolution columns; convolutions are split to fit it. */
  scratchLimitBytes?: number;
  /**
   * Weights held on the GPU as float32 (the backend widens float16 and bfloat16 ones once, as it
   * loads them) instead of at their stored width and widened at each use: no widening launches,
   * at twice the weights' memory.
   */
  weightsInFloat32?: boolean;
}

const DEFAULT_SCRATCH_LIMIT = 256 * 2 ** 20;

const isLastTwoSwap = (perm: readonly number[]): boolean => {
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
};

/**
 * Folds a transpose of a transpose where that saves a copy: when the two cancel (autodiff's
 * matmul rule transposes every linear layer's Wᵀ back, and the forward Wᵀ is only a view)
 * and when together they swap the last two axes, which a GEMM reads in place.
 */
const foldTransposes: Rewrite = (t, [x]) => {
  if (t.spec.op !== 'transpose' || x?.spec.op !== 'transpose') return null;
  const inner = x.spec.perm;
  const perm = t.spec.perm.map((p) => inner[p]!);
  if (perm.every((p, i) => p === i)) return x.inputs[0]!;
  return isLastTwoSwap(perm) ? { ...t, spec: { op: 'transpose', perm }, inputs: [x.inputs[0]!] } : null;
};

/**
 * Folds the sum of two concats cut alike, where at each part one side is zeros, into one concat:
 * autodiff's gradient of a tensor sliced in two (GEGLU's halves) is the sum of each half's
 * gradient padded with zeros, which costs a fill, twice the copies and an add.
 */
const foldPaddedSum: Rewrite = (t, [a, b]) => {
  if (t.spec.op !== 'add' || a?.spec.op !== 'concat' || b?.spec.op !== 'concat') return null;
  const axis = a.spec.axis;
  const same = (x: Tensor, y: Tensor) => sameShape(x.shape, y.shape);
  if (b.spec.axis !== axis || a.inputs.length !== b.inputs.length || !same(a, t) || !same(b, t)) return null;
  const parts: Tensor[] = [];
  for (let i = 0; i < a.inputs.length; i++) {
    const [x, y] = [a.inputs[i]!, b.inputs[i]!];
    if (!same(x, y)) return null;
    if (isZeroFill(y)) parts.push(x);
    else if (isZeroFill(x)) parts.push(y);
    else return null;
  }
  return { ...t, spec: { op: 'concat', axis }, inputs: parts };
};

/**
 * Folds into a convolution that Winograd lowers, and that nothing else reads, the bias added to
 * it, and then the residual added to that (a resnet's shortcut): its output transform adds them
 * as it writes, so the pass of an add kernel over the whole output (a VAE resnet's at 512²:
 * 134 MB read and written) is never made. The sums are the same rounded adds, in the same order.
 * The convolution's inputs become [x, w, bias] and [x, w, bias, residual].
 */
const foldConvAdds = (requested: readonly Tensor[]): Rewrite => {
  const readers = new Map<number, number>();
  for (const t of topoOrder(requested)) for (const x of t.inputs) readers.set(x.id, (readers.get(x.id) ?? 0) + 1);
  const asked = new Set(requested.map((t) => t.id));
  const foldable = (x: Tensor, inputs: number) =>
    x.spec.op === 'conv2d' && x.inputs.length === inputs && readers.get(x.id) === 1 && !asked.has(x.id);
  return (t, inputs) => {
    if (t.spec.op !== 'add' || inputs.length !== 2) return null;
    for (const [conv, other] of [inputs, [...inputs].reverse()] as [Tensor, Tensor][]) {
      if (other.dtype !== 'float32' || !sameShape(t.shape, conv.shape)) continue;
      const bias = foldable(conv, 2) && byWinograd(conv) && sameShape(other.shape, [1, conv.shape[1]!, 1, 1]);
      const residual = foldable(conv, 3) && sameShape(other.shape, t.shape);
      if (bias || residual) return { ...t, spec: conv.spec, inputs: [...conv.inputs, other] };
    }
    return null;
  };
};

export function planGraph(requested: readonly Tensor[], opts: PlanOptions = {}): ExecutionPlan {
  const scratchLimit = opts.scratchLimitBytes ?? DEFAULT_SCRATCH_LIMIT;
  const outputs = rewriteGraph(requested, [
    foldTransposes,
    foldPaddedSum,
    foldAttentionGrads(requested),
    foldConvAdds(requested),
  ]);
  // In topological order, with what lets an attention's output and maps share a lowering moved up.
  const order = inputsBeforeSiblings(topoOrder(outputs));
  const step = new Map<number, number>();
  order.forEach((t, i) => step.set(t.id, i));
  const readersOf = new Map<number, Tensor[]>();
  for (const t of order) {
    for (const x of t.inputs) {
      const list = readersOf.get(x.id) ?? [];
      list.push(t);
      readersOf.set(x.id, list);
    }
  }
  const isOutput = new Set(outputs.map((t) => t.id));

  // Transposes that only feed matmuls cost nothing: cuBLAS reads the source transposed.
  const views = new Set<number>();
  for (const t of order) {
    if (t.spec.op !== 'transpose' || isOutput.has(t.id) || !isLastTwoSwap(t.spec.perm)) continue;
    if ((readersOf.get(t.id) ?? []).every((r) => r.spec.op === 'matmul')) views.add(t.id);
  }

  const heads = headLayouts(order, readersOf, isOutput);
  const byStrides = (t: Tensor) => views.has(t.id) || sharesInput(heads, t);
  const { slicesRead, zeroPads, reductions, foldedIntoReductions, moments } = neverMade({
    order,
    step,
    readersOf,
    isOutput,
    byStrides,
  });
  const inPlace = (t: Tensor) =>
    byStrides(t) || slicesRead.has(t.id) || zeroPads.has(t.id) || foldedIntoReductions.has(t.id);

  // Does a non-elementwise reader (or the caller) need this tensor in memory?
  const readByOp = (t: Tensor): boolean =>
    isOutput.has(t.id) ||
    (readersOf.get(t.id) ?? []).some((r) => {
      if (r.spec.op === 'scatterAddElements' && t.spec.op === 'fill' && r.inputs[0] === t && r.inputs.indexOf(t, 1) < 0)
        return false; // a filled scatter base is written straight into the result
      if (zeroPads.has(r.id) && r.inputs[0] !== t) return false; // zeros past a convolution input's edge
      return !isElementwise(r) || inPlace(r);
    });
  const needsMaterial = (t: Tensor): boolean => {
    if (inPlace(t)) return false;
    if (isImmediate(t)) return readByOp(t);
    return true;
  };
  const kernels = planFusion(order, readersOf, isOutput, needsMaterial, slicesRead);
  const folded = new Set<number>();
  for (const k of kernels.values()) for (const m of k.members) if (m !== k.root) folded.add(m.id);

  // An attention's siblings lowered together at their lead's step; the other members are done then.
  const groups = attentionGroups(order);
  const loweredWithLead = new Set([...groups.values()].flatMap((members) => members.slice(1).map((m) => m.id)));

  const weightsInFloat32 = opts.weightsInFloat32 ?? false;
  const weightType = weightsInFloat32 ? (): ElemType.F32 => ElemType.F32 : storedType;
  const p = new PlanContext(
    views,
    heads,
    kernels,
    needsMaterial,
    scratchLimit,
    weightType,
    zeroPads,
    reductions,
    moments,
  );
  for (const t of order) {
    if (folded.has(t.id) || inPlace(t) || loweredWithLead.has(t.id)) continue;
    const group = groups.get(t.id);
    if (group) {
      attentionGroup(group, step.get(t.id)!, p);
      continue;
    }
    if (t.shape.length > MAX_RANK && !aliases(t.spec.op)) {
      throw new GraphError(
        `cuda: ${describe(t)} has rank ${t.shape.length}; the CUDA backend supports up to ${MAX_RANK}`,
      );
    }
    loweringOf(t.spec.op)(t, t.spec, step.get(t.id)!, p);
  }

  const outs: PlanOutput[] = outputs.map((t, i) => {
    // A weight asked for as an output is read after the last step (widened to float32 if stored narrower).
    const place = p.placeOf(t).home.kind === 'weight' ? p.read(t, order.length) : p.placeOf(t);
    if (place.home.kind === 'arena') place.home.slot.last = Infinity;
    return { tensor: requested[i]!, place, bytes: numel(t.shape) * elemBytes(t.dtype) };
  });
  // Inputs are written before the first step; outputs are read after the last.
  const declared = [...(requested[0]?.graph.inputs.keys() ?? [])];
  const inputs = [...p.inputs].sort((a, b) => declared.indexOf(a.name) - declared.indexOf(b.name));
  const slots = p.slots;
  const unsharedBytes = slots.reduce((acc, sl) => acc + alignUp(Math.max(sl.bytes, 1), 256), 0);
  const peak = peakLiveBytes(slots);
  const arenaBytes = assignOffsets(slots);
  return {
    inputs,
    outputs: outs,
    arenaBytes,
    constantBytes: p.constantBytes,
    constants: p.constants,
    weights: p.weights,
    weightsInFloat32,
    steps: p.steps,
    kinds: p.kinds,
    stats: {
      nodes: order.length,
      kernels: kernels.size,
      foldedNodes: folded.size,
      instructions: p.emits.length,
      unsharedBytes,
      peakLiveBytes: peak,
    },
    encode(resolve: Resolver, precision: CudaPrecision): Float64Array {
      const w = new ProgramWriter(tf32Policy(precision));
      for (const e of p.emits) e(w, resolve);
      return w.finish();
    },
  };
}
