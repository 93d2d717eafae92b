// What every lowering works with: where each tensor lives (arena slots, constants, weights), the
// instructions emitted so far, and the fusion and view decisions made before lowering began.
import type { OpSpec, Tensor } from '../../graph/ir.js';
import { GraphError, numel } from '../../graph/ir.js';
import type { FusedKernel } from '../fuse.js';
import { sharesInput, type HeadLayouts } from '../headLayouts.js';
import { elemBytes } from '../layout.js';
import { alignUp, type ArenaSlot } from '../memory.js';
import type { DeviceLoc, GemmRec, ProgramWriter } from '../program.js';
import { ElemType, EwOp } from '../program.js';

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

export type Emit = (w: ProgramWriter, at: Resolver) => void;

/** Emits the instructions of node `t` (spec S) at step `s`, and gives its result a place. */
export type Lowering<S extends OpSpec = OpSpec> = (t: Tensor, spec: S, s: number, p: PlanContext) => void;

/** An operand of a GEMM in row-major terms: a matrix stored with leading dimension `ld`. */
export interface MatrixRef {
  place: Place;
  /** Stored transposed: the logical [r, c] matrix sits in memory as [c, r]. */
  trans: boolean;
  ld: number;
  stride: number;
}

/** C[M,N] = A[M,K]·B[K,N] in row-major terms, `batch` times. */
export interface RowMajorGemm {
  a: MatrixRef;
  b: MatrixRef;
  c: MatrixRef;
  m: number;
  n: number;
  k: number;
  batch: number;
  offsets?: number[];
  /** C = alpha·A·B + beta·C (default 1 and 0). */
  alpha?: number;
  beta?: number;
}

export const shift = (p: Place, bytes: number): Place => ({ home: p.home, offset: p.offset + bytes });

/** How a weight sits in GPU memory: as stored in the user's file (float16 and bfloat16 stay 2 bytes). */
export const storedType = (w: Tensor): ElemType.F32 | ElemType.F16 | ElemType.BF16 => {
  if (w.spec.op !== 'weight') return ElemType.F32;
  const s = w.spec.ref.storedAs;
  return s === 'float16' ? ElemType.F16 : s === 'bfloat16' ? ElemType.BF16 : ElemType.F32;
};

/** What a reduction reads instead of its input: x, and (x − center)², x² or −x of it. */
export interface ReductionInput {
  x: Tensor;
  center?: Tensor;
  squared?: boolean;
  negated?: boolean;
}

export const describe = (t: Tensor) => `${t.spec.op} #${t.id}${t.label ? ` at ${t.label}` : ''}`;

/** A row-major GEMM as cuBLAS's column-major Cᵀ = Bᵀ·Aᵀ. */
function rowMajorGemm(at: Resolver, g: RowMajorGemm, tf32: boolean): GemmRec {
  return {
    tf32,
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
    alpha: g.alpha ?? 1,
    beta: g.beta ?? 0,
    offsets: g.offsets,
  };
}

export class PlanContext {
  readonly slots: ArenaSlot[] = [];
  readonly places = new Map<number, Place>();
  readonly emits: Emit[] = [];
  readonly steps: Tensor[] = [];
  /** What each instruction launches (elementwise, gemm, im2col, …), for profiles. */
  readonly kinds: string[] = [];
  readonly inputs: PlanInput[] = [];
  readonly constants: { offset: number; data: Float32Array | BigInt64Array | Uint8Array }[] = [];
  readonly weights: Tensor[] = [];
  constantBytes = 0;

  constructor(
    /** Transposes read in place by the GEMMs that consume them. */
    readonly views: ReadonlySet<number>,
    /** Transposes splitting or merging heads that the attention lowerings do by strides. */
    readonly heads: HeadLayouts,
    /** Fused elementwise kernels by root node. */
    readonly kernels: ReadonlyMap<number, FusedKernel>,
    /** Whether a node's value must exist in device memory (immediates and views need not). */
    readonly needsMaterial: (t: Tensor) => boolean,
    /** Largest scratch buffer for convolution columns. */
    readonly scratchLimit: number,
    /** How each weight sits in GPU memory (storedType, or float32 where the backend widened them once). */
    readonly weightType: (w: Tensor) => ElemType.F32 | ElemType.F16 | ElemType.BF16,
    /** Concats that pad a convolution's input with zeros after its end, never made (conv.ts reads past the edge as zeros). */
    readonly zeroPads: ReadonlySet<number> = new Set(),
    /** Reductions that read past their elementwise input, by reduction id (reduce.ts). */
    readonly reductions: ReadonlyMap<number, ReductionInput> = new Map(),
    /** A norm's variance by its mean, when one read of x may make both (reduce.ts). */
    readonly moments: ReadonlyMap<number, Tensor> = new Map(),
  ) {}

  /** Variances their mean's lowering has made already. */
  readonly madeWithMean = new Set<number>();

  private zeroConstant: { count: number; place: Place } | null = null;

  /** At least `count` float32 zeros in the constant buffer, shared by every reader. */
  zeros(count: number): Place {
    if (!this.zeroConstant || this.zeroConstant.count < count) {
      const offset = this.constantBytes;
      this.constantBytes = alignUp(offset + count * 4, 16);
      this.constants.push({ offset, data: new Float32Array(count) });
      this.zeroConstant = { count, place: { home: { kind: 'constant', offset }, offset: 0 } };
    }
    return this.zeroConstant.place;
  }

  newSlot(bytes: number, first: number, last = first): Place {
    const slot: ArenaSlot = { bytes, first, last, offset: 0 };
    this.slots.push(slot);
    return { home: { kind: 'arena', slot }, offset: 0 };
  }

  placeOf(x: Tensor): Place {
    if (this.views.has(x.id) || sharesInput(this.heads, x)) return this.placeOf(x.inputs[0]!);
    const p = this.places.get(x.id);
    if (!p) throw new GraphError(`cuda plan: ${describe(x)} has no device memory (planner bug)`);
    return p;
  }

  /**
   * Marks `x` as read at step `s` and returns its place, as float32: a weight stored at half
   * width is converted into memory that lives for this step only (GEMMs, convolutions and
   * copies read float32), so the float32 copy of the model never exists all at once.
   */
  read(x: Tensor, s: number): Place {
    const { place, type } = this.readStored(x, s);
    return type === ElemType.F32 ? place : this.widen(x, place, type, s);
  }

  /** Marks `x` as read at step `s`; a weight comes as held on the GPU (fused kernels convert as they load). */
  readStored(x: Tensor, s: number): { place: Place; type: ElemType.F32 | ElemType.F16 | ElemType.BF16 } {
    const p = this.placeOf(x);
    if (p.home.kind === 'arena') p.home.slot.last = Math.max(p.home.slot.last, s);
    return { place: p, type: p.home.kind === 'weight' ? this.weightType(p.home.tensor) : ElemType.F32 };
  }

  private widen(x: Tensor, stored: Place, type: ElemType.F16 | ElemType.BF16, s: number): Place {
    if (stored.home.kind !== 'weight') throw new GraphError(`cuda plan: ${describe(x)} is not a weight (planner bug)`);
    const w = stored.home.tensor;
    const n = numel(w.shape);
    const out = this.newSlot(n * 4, s);
    this.push(w, 'widen', (wr, at) => wr.widen(at(stored), at(out), n, type));
    return out;
  }

  /** Whether `x`'s memory holds it [batch, tokens, heads, channels]: a split read in place, or a result written merged. */
  headsMerged(x: Tensor): boolean {
    return this.heads.splits.has(x.id) || this.heads.merged.has(x.id);
  }

  /** `x` as a GEMM operand: read in place, transposed when it is a view. */
  operand(x: Tensor, s: number): { place: Place; trans: boolean } {
    return { place: this.read(x, s), trans: this.views.has(x.id) };
  }

  /** New arena memory for `t`'s result, first written at step `s`. */
  resultSlot(t: Tensor, s: number): Place {
    const out = this.newSlot(numel(t.shape) * elemBytes(t.dtype), s);
    this.places.set(t.id, out);
    return out;
  }

  push(t: Tensor, kind: string, e: Emit): void {
    this.emits.push(e);
    this.steps.push(t);
    this.kinds.push(kind);
  }

  pushGemm(t: Tensor, g: RowMajorGemm): void {
    this.push(t, 'gemm', (w, at) => w.gemm(rowMajorGemm(at, g, w.tf32For(t))));
  }

  /** Writes `value` to every float of `out` (an elementwise kernel of one immediate). */
  pushFill(t: Tensor, out: Place, value: number): void {
    this.push(t, 'elementwise', (w, at) =>
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
  }
}
