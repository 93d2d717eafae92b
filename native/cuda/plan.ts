// Compiles an IR graph into an execution plan for the CUDA addon: which tensors get device
// memory and where (one arena, liveness-based reuse), and the launch sequence (fused
// elementwise kernels, cuBLAS GEMMs, reductions, copies). Pure TypeScript: it runs and is
// tested without a GPU; only `encode` output reaches the device.
import type { Tensor } from '../graph/ir.js';
import { GraphError, numel, topoOrder } from '../graph/ir.js';
import { isElementwise, isImmediate, planFusion } from './fuse.js';
import { around, elemBytes, stridesOf } from './layout.js';
import type { ArenaSlot } from './memory.js';
import { alignUp, assignOffsets, peakLiveBytes } from './memory.js';
import type { DeviceLoc, GemmRec } from './program.js';
import { EwOp, MAX_RANK, Opcode, ProgramWriter, ReduceKind } from './program.js';

export type Home =
  { kind: 'arena'; slot: ArenaSlot } | { kind: 'constant'; offset: number } | { kind: 'weight'; tensor: Tensor };

/** A tensor's bytes on the device: a home and a byte offset inside it. */
export interface Place {
  home: Home;
  offset: number;
}

export type Resolver = (p: Place) => DeviceLoc;

export interface PlanInput {
  name: string;
  tensor: Tensor;
  place: Place;
  bytes: number;
}

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
  /** The node each instruction belongs to, for naming the op in error messages. */
  steps: Tensor[];
  /** What each instruction launches (elementwise, gemm, im2col, …), for profiles. */
  kinds: string[];
  stats: PlanStats;
  encode(resolve: Resolver, tf32: boolean): Float64Array;
}

export interface PlanOptions {
  /** Largest scratch buffer for convolution columns; convolutions are split to fit it. */
  scratchLimitBytes?: number;
}

const DEFAULT_SCRATCH_LIMIT = 256 * 2 ** 20;
const CONST_ALIGN = 16;

type Emit = (w: ProgramWriter, at: Resolver) => void;

/** An operand of a GEMM in row-major terms: a matrix stored with leading dimension `ld`. */
interface MatrixRef {
  place: Place;
  /** Stored transposed: the logical [r, c] matrix sits in memory as [c, r]. */
  trans: boolean;
  ld: number;
  stride: number;
}

const shift = (p: Place, bytes: number): Place => ({ home: p.home, offset: p.offset + bytes });

/** C[M,N] = A[M,K]·B[K,N] in row-major terms, `batch` times. */
interface RowMajorGemm {
  a: MatrixRef;
  b: MatrixRef;
  c: MatrixRef;
  m: number;
  n: number;
  k: number;
  batch: number;
  offsets?: number[];
}

/** A row-major GEMM as cuBLAS's column-major Cᵀ = Bᵀ·Aᵀ. */
function rowMajorGemm(at: Resolver, g: RowMajorGemm): GemmRec {
  return {
    transA: g.b.trans,
    transB: g.a.trans,
    m: g.n,
    n: g.m,
    k: g.k,
    lda: g.b.ld,
    ldb: g.a.ld,
    ldc: g.c.ld,
    a: at(g.b.place),
    b: at(g.a.place),
    c: at(g.c.place),
    batch: g.batch,
    strideA: g.b.stride,
    strideB: g.a.stride,
    strideC: g.c.stride,
    alpha: 1,
    beta: 0,
    offsets: g.offsets,
  };
}

const isLastTwoSwap = (perm: readonly number[]): boolean => {
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
};

/**
 * Folds a transpose of a transpose where that saves a copy: when the two cancel (autodiff's
 * matmul rule transposes every linear layer's Wᵀ back, and the forward Wᵀ is only a view)
 * and when together they swap the last two axes, which a GEMM reads in place. Returns the
 * outputs of an equivalent graph (node ids kept).
 */
function foldTransposes(outputs: readonly Tensor[]): Tensor[] {
  const same = new Map<number, Tensor>();
  for (const t of topoOrder(outputs)) {
    const inputs = t.inputs.map((x) => same.get(x.id)!);
    const x = inputs[0];
    if (t.spec.op === 'transpose' && x?.spec.op === 'transpose') {
      const inner = x.spec.perm;
      const perm = t.spec.perm.map((p) => inner[p]!);
      if (perm.every((p, i) => p === i)) {
        same.set(t.id, x.inputs[0]!);
        continue;
      }
      if (isLastTwoSwap(perm)) {
        same.set(t.id, { ...t, spec: { op: 'transpose', perm }, inputs: [x.inputs[0]!] });
        continue;
      }
    }
    same.set(t.id, inputs.every((y, i) => y === t.inputs[i]) ? t : { ...t, inputs });
  }
  return outputs.map((t) => same.get(t.id)!);
}

export function planGraph(requested: readonly Tensor[], opts: PlanOptions = {}): ExecutionPlan {
  const scratchLimit = opts.scratchLimitBytes ?? DEFAULT_SCRATCH_LIMIT;
  const outputs = foldTransposes(requested);
  const order = topoOrder(outputs);
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

  // Does a non-elementwise reader (or the caller) need this tensor in memory?
  const readByOp = (t: Tensor): boolean =>
    isOutput.has(t.id) ||
    (readersOf.get(t.id) ?? []).some((r) => {
      if (r.spec.op === 'scatterAddElements' && t.spec.op === 'fill' && r.inputs[0] === t && r.inputs.indexOf(t, 1) < 0)
        return false; // a filled scatter base is written straight into the result
      return !isElementwise(r) || views.has(r.id);
    });
  const needsMaterial = (t: Tensor): boolean => {
    if (views.has(t.id)) return false;
    if (isImmediate(t)) return readByOp(t);
    return true;
  };
  const kernels = planFusion(order, readersOf, isOutput, needsMaterial);
  const folded = new Set<number>();
  for (const k of kernels.values()) for (const m of k.members) if (m !== k.root) folded.add(m.id);

  const slots: ArenaSlot[] = [];
  const places = new Map<number, Place>();
  const emits: Emit[] = [];
  const steps: Tensor[] = [];
  const inputs: PlanInput[] = [];
  const constants: ExecutionPlan['constants'] = [];
  const weights: Tensor[] = [];
  let constantBytes = 0;

  const newSlot = (bytes: number, first: number, last = first): Place => {
    const slot: ArenaSlot = { bytes, first, last, offset: 0 };
    slots.push(slot);
    return { home: { kind: 'arena', slot }, offset: 0 };
  };
  const describe = (t: Tensor) => `${t.spec.op} #${t.id}${t.label ? ` at ${t.label}` : ''}`;
  const placeOf = (x: Tensor): Place => {
    if (views.has(x.id)) return placeOf(x.inputs[0]!);
    const p = places.get(x.id);
    if (!p) throw new GraphError(`cuda plan: ${describe(x)} has no device memory (planner bug)`);
    return p;
  };
  /** Marks `x` as read at step `s` and returns its place. */
  const read = (x: Tensor, s: number): Place => {
    const p = placeOf(x);
    if (p.home.kind === 'arena') p.home.slot.last = Math.max(p.home.slot.last, s);
    return p;
  };
  const kinds: string[] = [];
  const push = (t: Tensor, kind: string, e: Emit) => {
    emits.push(e);
    steps.push(t);
    kinds.push(kind);
  };
  const pushGemm = (t: Tensor, g: RowMajorGemm) => push(t, 'gemm', (w, at) => w.gemm(rowMajorGemm(at, g)));
  /** Writes `value` to every float of `out` (an elementwise kernel of one immediate). */
  const pushFill = (t: Tensor, out: Place, value: number) =>
    push(t, 'elementwise', (w, at) =>
      w.elementwise(
        at(out),
        [numel(t.shape)],
        [],
        [
          { op: EwOp.IMM_F, dst: 0, a: 0, b: 0, c: 0 },
          { op: EwOp.ST_F, dst: 0, a: 0, b: 0, c: 0 },
        ],
        [value],
      ),
    );
  /** New arena memory for `t`'s result, first written at step `s`. */
  const resultSlot = (t: Tensor, s: number): Place => {
    const out = newSlot(numel(t.shape) * elemBytes(t.dtype), s);
    places.set(t.id, out);
    return out;
  };

  for (const t of order) {
    const s = step.get(t.id)!;
    if (folded.has(t.id) || views.has(t.id)) continue;
    const bytes = numel(t.shape) * elemBytes(t.dtype);
    const spec = t.spec;
    if (t.shape.length > MAX_RANK && spec.op !== 'reshape' && spec.op !== 'stopGradient') {
      throw new GraphError(
        `cuda: ${describe(t)} has rank ${t.shape.length}; the CUDA backend supports up to ${MAX_RANK}`,
      );
    }
    const kernel = kernels.get(t.id);
    if (kernel) {
      const out = resultSlot(t, s);
      const ins = kernel.inputs.map((x) => ({ ...x, place: read(x.tensor, s) }));
      push(t, 'elementwise', (w, at) =>
        w.elementwise(
          at(out),
          kernel.dims,
          ins.map((x) => ({ loc: at(x.place), type: x.type, access: x.access, strides: x.strides })),
          kernel.code,
          kernel.imm,
        ),
      );
      continue;
    }
    switch (spec.op) {
      case 'input': {
        const place = newSlot(bytes, -1, -1);
        places.set(t.id, place);
        inputs.push({ name: spec.name, tensor: t, place, bytes });
        break;
      }
      case 'constant': {
        if (!needsMaterial(t)) break;
        const offset = constantBytes;
        constantBytes = alignUp(constantBytes + bytes, CONST_ALIGN);
        constants.push({ offset, data: spec.data });
        places.set(t.id, { home: { kind: 'constant', offset }, offset: 0 });
        break;
      }
      case 'weight':
        weights.push(t);
        places.set(t.id, { home: { kind: 'weight', tensor: t }, offset: 0 });
        break;
      case 'fill':
        break; // read only as an immediate (materialised fills are kernels, above)
      case 'reshape':
      case 'stopGradient':
        places.set(t.id, read(t.inputs[0]!, s));
        break;
      case 'slice': {
        const x = t.inputs[0]!;
        const [outer, size, inner] = around(x.shape, spec.axis);
        const eb = elemBytes(t.dtype);
        const src = read(x, s);
        if (outer === 1) {
          // A slice of the outermost axis is a contiguous range: no copy.
          places.set(t.id, shift(src, spec.start * inner * eb));
          break;
        }
        const out = resultSlot(t, s);
        const len = spec.end - spec.start;
        push(t, 'copy', (w, at) =>
          w.copy(
            at(out),
            at(shift(src, spec.start * inner * eb)),
            len * inner * eb,
            size * inner * eb,
            len * inner * eb,
            outer,
          ),
        );
        break;
      }
      case 'concat': {
        const out = resultSlot(t, s);
        const [outer, total, inner] = around(t.shape, spec.axis);
        const eb = elemBytes(t.dtype);
        let at0 = 0;
        for (const x of t.inputs) {
          const size = x.shape[spec.axis]!;
          const src = read(x, s);
          const dst = shift(out, at0 * inner * eb);
          push(t, 'copy', (w, at) =>
            w.copy(at(dst), at(src), total * inner * eb, size * inner * eb, size * inner * eb, outer),
          );
          at0 += size;
        }
        break;
      }
      case 'matmul':
        lowerMatmul(t, s);
        break;
      case 'conv2d':
        lowerConv(t, s);
        break;
      case 'convTranspose2d':
        lowerConvTranspose(t, s);
        break;
      case 'reduceSum':
      case 'reduceMean':
      case 'reduceMax':
        lowerReduce(t, s);
        break;
      case 'softmax':
      case 'argMax':
      case 'topKIndices': {
        const src = read(t.inputs[0]!, s);
        const out = resultSlot(t, s);
        const [outer, size, inner] = around(t.inputs[0]!.shape, spec.axis);
        if (spec.op === 'softmax')
          push(t, 'softmax', (w, at) => w.axis(Opcode.Softmax, at(src), at(out), outer, size, inner));
        else if (spec.op === 'argMax')
          push(t, 'argMax', (w, at) => w.axis(Opcode.ArgMax, at(src), at(out), outer, size, inner));
        else {
          const { k, largest } = spec;
          push(t, 'topK', (w, at) => w.axis(Opcode.TopK, at(src), at(out), outer, size, inner, { k, largest }));
        }
        break;
      }
      case 'gatherElements': {
        const [x, idx] = t.inputs as [Tensor, Tensor];
        const src = read(x, s);
        const ip = read(idx, s);
        const out = resultSlot(t, s);
        const axis = spec.axis;
        push(t, 'gather', (w, at) =>
          w.indexed(
            Opcode.Gather,
            at(src),
            at(ip),
            at(out),
            elemBytes(x.dtype),
            axis,
            x.shape[axis]!,
            [...idx.shape],
            stridesOf(x.shape),
          ),
        );
        break;
      }
      case 'scatterAddElements': {
        const [base, idx, upd] = t.inputs as [Tensor, Tensor, Tensor];
        const out = resultSlot(t, s);
        if (base.spec.op === 'fill') {
          const v = Math.fround(base.spec.value);
          pushFill(t, out, v);
        } else {
          const src = read(base, s);
          push(t, 'copy', (w, at) => w.copy(at(out), at(src), bytes, bytes, bytes, 1));
        }
        const up = read(upd, s);
        const ip = read(idx, s);
        const axis = spec.axis;
        push(t, 'scatterAdd', (w, at) =>
          w.indexed(
            Opcode.ScatterAdd,
            at(up),
            at(ip),
            at(out),
            4,
            axis,
            base.shape[axis]!,
            [...idx.shape],
            stridesOf(base.shape),
          ),
        );
        break;
      }
      default:
        throw new GraphError(`cuda: no kernel for ${describe(t)}`);
    }
  }

  const outs: PlanOutput[] = outputs.map((t, i) => {
    const place = placeOf(t);
    if (place.home.kind === 'arena') place.home.slot.last = Infinity;
    return { tensor: requested[i]!, place, bytes: numel(t.shape) * elemBytes(t.dtype) };
  });
  // Inputs are written before the first step; outputs are read after the last.
  const declared = [...(requested[0]?.graph.inputs.keys() ?? [])];
  inputs.sort((a, b) => declared.indexOf(a.name) - declared.indexOf(b.name));
  const unsharedBytes = slots.reduce((acc, sl) => acc + alignUp(Math.max(sl.bytes, 1), 256), 0);
  const peak = peakLiveBytes(slots);
  const arenaBytes = assignOffsets(slots);
  return {
    inputs,
    outputs: outs,
    arenaBytes,
    constantBytes,
    constants,
    weights,
    steps,
    kinds,
    stats: {
      nodes: order.length,
      kernels: kernels.size,
      foldedNodes: folded.size,
      instructions: emits.length,
      unsharedBytes,
      peakLiveBytes: peak,
    },
    encode(resolve: Resolver, tf32: boolean): Float64Array {
      const w = new ProgramWriter(tf32);
      for (const e of emits) e(w, resolve);
      return w.finish();
    },
  };

  // Lowerings -----------------------------------------------------------------------------

  function operand(x: Tensor, s: number): { place: Place; trans: boolean } {
    return { place: read(x, s), trans: views.has(x.id) };
  }

  function lowerMatmul(t: Tensor, s: number): void {
    const [a, b] = t.inputs as [Tensor, Tensor];
    const A = operand(a, s);
    const B = operand(b, s);
    const m = a.shape[a.shape.length - 2]!;
    const k = a.shape[a.shape.length - 1]!;
    const n = b.shape[b.shape.length - 1]!;
    const out = resultSlot(t, s);
    if (numel(t.shape) === 0) return;
    if (k === 0) {
      pushFill(t, out, 0);
      return;
    }
    const batch = t.shape.slice(0, -2);
    const nb = numel(batch);
    const offsetsFor = (x: Tensor): number[] => {
      const xb = x.shape.slice(0, -2);
      const matrix = x.shape[x.shape.length - 2]! * x.shape[x.shape.length - 1]!;
      const own = stridesOf(xb).map((v) => v * matrix);
      const lead = batch.length - xb.length;
      const st = batch.map((_, d) => (d < lead || xb[d - lead] === 1 ? 0 : own[d - lead]!));
      const offs = new Array<number>(nb);
      const bs = stridesOf(batch);
      for (let i = 0; i < nb; i++) {
        let off = 0;
        for (let d = 0; d < batch.length; d++) off += (Math.floor(i / bs[d]!) % batch[d]!) * st[d]!;
        offs[i] = off;
      }
      return offs;
    };
    const offA = offsetsFor(a);
    const offB = offsetsFor(b);
    const ldA = A.trans ? m : k;
    const ldB = B.trans ? k : n;
    const affine = (o: number[]) => o.every((v, i) => v === i * (o[1] ?? 0));
    if (nb > 1 && offB.every((v) => v === 0) && !A.trans && offA.every((v, i) => v === i * m * k)) {
      // B shared by every batch and A contiguous: one GEMM with the batches stacked as rows.
      pushGemm(t, {
        a: { place: A.place, trans: false, ld: k, stride: 0 },
        b: { place: B.place, trans: B.trans, ld: ldB, stride: 0 },
        c: { place: out, trans: false, ld: n, stride: 0 },
        m: nb * m,
        n,
        k,
        batch: 1,
      });
      return;
    }
    if (nb <= 1 || (affine(offA) && affine(offB))) {
      const sA = offA[1] ?? 0;
      const sB = offB[1] ?? 0;
      pushGemm(t, {
        a: { place: A.place, trans: A.trans, ld: ldA, stride: sA },
        b: { place: B.place, trans: B.trans, ld: ldB, stride: sB },
        c: { place: out, trans: false, ld: n, stride: m * n },
        m,
        n,
        k,
        batch: Math.max(nb, 1),
      });
      return;
    }
    // Irregular broadcasting: one pointer per batch. The addon's record lists the
    // column-major operands first-B-then-A, so the offsets follow that order.
    const offC = Array.from({ length: nb }, (_, i) => i * m * n);
    pushGemm(t, {
      a: { place: A.place, trans: A.trans, ld: ldA, stride: 0 },
      b: { place: B.place, trans: B.trans, ld: ldB, stride: 0 },
      c: { place: out, trans: false, ld: n, stride: 0 },
      m,
      n,
      k,
      batch: nb,
      offsets: [...offB, ...offA, ...offC],
    });
  }

  /** A 1×1 convolution, or its transpose, is one GEMM per image: W[cout, cin] · X[cin, pixels]. */
  function pushPointwise(
    t: Tensor,
    wRef: MatrixRef,
    X: Place,
    out: Place,
    d: { images: number; cin: number; cout: number; pixels: number },
  ): void {
    pushGemm(t, {
      a: wRef,
      b: { place: X, trans: false, ld: d.pixels, stride: d.cin * d.pixels },
      c: { place: out, trans: false, ld: d.pixels, stride: d.cout * d.pixels },
      m: d.cout,
      n: d.pixels,
      k: d.cin,
      batch: d.images,
    });
  }

  function lowerConv(t: Tensor, s: number): void {
    const [x, wt] = t.inputs as [Tensor, Tensor];
    const { stride, pad } = t.spec as { stride: number; pad: number };
    const [n, c, h, wd] = x.shape as [number, number, number, number];
    const [co, , kh, kw] = wt.shape as [number, number, number, number];
    const [, , oh, ow] = t.shape as [number, number, number, number];
    const X = read(x, s);
    const W = read(wt, s);
    const out = resultSlot(t, s);
    if (numel(t.shape) === 0) return;
    const K = c * kh * kw;
    const P = oh * ow;
    const wRef = { place: W, trans: false, ld: K, stride: 0 };
    if (kh === 1 && kw === 1 && stride === 1 && pad === 0) {
      pushPointwise(t, wRef, X, out, { images: n, cin: c, cout: co, pixels: P });
      return;
    }
    const perSample = K * P * 4;
    if (perSample <= scratchLimit) {
      const chunk = Math.max(1, Math.min(n, Math.floor(scratchLimit / perSample)));
      const col = newSlot(chunk * perSample, s);
      for (let n0 = 0; n0 < n; n0 += chunk) {
        const nc = Math.min(chunk, n - n0);
        const src = shift(X, n0 * c * h * wd * 4);
        const dst = shift(out, n0 * co * P * 4);
        push(t, 'im2col', (w, at) =>
          w.conv(Opcode.Im2col, at(src), at(col), { n: nc, c, h, w: wd, kh, kw, stride, pad, oh, ow, y0: 0 }),
        );
        pushGemm(t, {
          a: wRef,
          b: { place: col, trans: false, ld: P, stride: K * P },
          c: { place: dst, trans: false, ld: P, stride: co * P },
          m: co,
          n: P,
          k: K,
          batch: nc,
        });
      }
      return;
    }
    // One image's columns exceed the scratch limit: lower a band of output rows at a time.
    const rows = Math.max(1, Math.floor(scratchLimit / (K * ow * 4)));
    const col = newSlot(K * Math.min(rows, oh) * ow * 4, s);
    for (let b = 0; b < n; b++) {
      for (let y0 = 0; y0 < oh; y0 += rows) {
        const r = Math.min(rows, oh - y0);
        const src = shift(X, b * c * h * wd * 4);
        const dst = shift(out, (b * co * P + y0 * ow) * 4);
        push(t, 'im2col', (w, at) =>
          w.conv(Opcode.Im2col, at(src), at(col), { n: 1, c, h, w: wd, kh, kw, stride, pad, oh: r, ow, y0 }),
        );
        pushGemm(t, {
          a: wRef,
          b: { place: col, trans: false, ld: r * ow, stride: 0 },
          c: { place: dst, trans: false, ld: P, stride: 0 },
          m: co,
          n: r * ow,
          k: K,
          batch: 1,
        });
      }
    }
  }

  function lowerConvTranspose(t: Tensor, s: number): void {
    const [x, wt] = t.inputs as [Tensor, Tensor];
    const { stride, pad } = t.spec as { stride: number; pad: number };
    const [n, cin, h, wd] = x.shape as [number, number, number, number];
    const [, cout, kh, kw] = wt.shape as [number, number, number, number];
    const [, , oh, ow] = t.shape as [number, number, number, number];
    const X = read(x, s);
    const W = read(wt, s);
    const out = resultSlot(t, s);
    if (numel(t.shape) === 0) return;
    const R = cout * kh * kw;
    const Q = h * wd;
    // Wᵀ: the weight is stored [Cin, Cout·kh·kw]; read transposed, no copy.
    const wRef = { place: W, trans: true, ld: R, stride: 0 };
    if (kh === 1 && kw === 1 && stride === 1 && pad === 0 && oh === h && ow === wd) {
      pushPointwise(t, wRef, X, out, { images: n, cin, cout, pixels: Q });
      return;
    }
    const perSample = R * Q * 4;
    const chunk = Math.max(1, Math.min(n, Math.floor(scratchLimit / perSample)));
    const col = newSlot(chunk * perSample, s);
    for (let n0 = 0; n0 < n; n0 += chunk) {
      const nc = Math.min(chunk, n - n0);
      const src = shift(X, n0 * cin * Q * 4);
      const dst = shift(out, n0 * cout * oh * ow * 4);
      pushGemm(t, {
        a: wRef,
        b: { place: src, trans: false, ld: Q, stride: cin * Q },
        c: { place: col, trans: false, ld: Q, stride: R * Q },
        m: R,
        n: Q,
        k: cin,
        batch: nc,
      });
      push(t, 'col2im', (w, at) =>
        w.conv(Opcode.Col2im, at(col), at(dst), {
          n: nc,
          c: cout,
          h: oh,
          w: ow,
          kh,
          kw,
          stride,
          pad,
          oh: h,
          ow: wd,
          y0: 0,
        }),
      );
    }
  }

  function lowerReduce(t: Tensor, s: number): void {
    const x = t.inputs[0]!;
    const spec = t.spec as { op: 'reduceSum' | 'reduceMean' | 'reduceMax'; axes: number[] };
    const src = read(x, s);
    const out = resultSlot(t, s);
    const nOut = numel(t.shape);
    if (nOut === 0) return;
    const strides = stridesOf(x.shape);
    const reduced = x.shape.map((_, i) => spec.axes.includes(i));
    const group = (want: boolean) => {
      const dims: number[] = [];
      const st: number[] = [];
      x.shape.forEach((d, i) => {
        if (reduced[i] !== want || d === 1) return;
        // Neighbours in memory (only size-1 dims between them) walk as one dim.
        if (dims.length > 0 && st[st.length - 1] === strides[i]! * d) {
          dims[dims.length - 1]! *= d;
          st[st.length - 1] = strides[i]!;
        } else {
          dims.push(d);
          st.push(strides[i]!);
        }
      });
      return { dims, st };
    };
    const keep = group(false);
    const red = group(true);
    const nRed = red.dims.reduce((a, b) => a * b, 1);
    const kind = spec.op === 'reduceMax' ? ReduceKind.Max : ReduceKind.Sum;
    const scale = spec.op === 'reduceMean' ? 1 / nRed : 1;
    // Row mode when the reduced elements are adjacent in memory, else one thread per output.
    const rowMode = red.st.length > 0 && red.st[red.st.length - 1] === 1;
    const splits = rowMode
      ? Math.max(1, Math.min(Math.ceil(1024 / nOut), Math.floor(nRed / 4096), 65535))
      : Math.max(1, Math.min(Math.ceil(262144 / nOut), Math.floor(nRed / 64), 65535));
    const base = { kind, keepDims: keep.dims, keepStrides: keep.st, redDims: red.dims, redStrides: red.st, rowMode };
    if (splits === 1) {
      push(t, 'reduce', (w, at) =>
        w.reduce({ ...base, input: at(src), out: at(out), splits: 1, chunk: Math.max(nRed, 1), scale }),
      );
      return;
    }
    // Few outputs over many elements: partial results per split, then a second pass.
    const chunk = Math.ceil(nRed / splits);
    const partial = newSlot(nOut * splits * 4, s);
    push(t, 'reduce', (w, at) => w.reduce({ ...base, input: at(src), out: at(partial), splits, chunk, scale: 1 }));
    push(t, 'reduce', (w, at) =>
      w.reduce({
        kind,
        rowMode: true,
        input: at(partial),
        out: at(out),
        splits: 1,
        chunk: splits,
        scale,
        keepDims: [nOut],
        keepStrides: [splits],
        redDims: [splits],
        redStrides: [1],
      }),
    );
  }
}
