// The instruction stream the addon executes (decoded by src/device.cu, Device::createProgram).
// A program is one Float64Array: a header [version, count] and then one record per
// instruction. Device locations are [allocation id, byte offset]. Doubles carry every
// integer up to 2^53 exactly, so byte offsets past 4 GiB need no special case.

import type { Tensor } from '../graph/ir.js';

export const FORMAT_VERSION = 8;

/** Maximum tensor rank a kernel parameter block holds (src/kernels.h, MAX_RANK). */
export const MAX_RANK = 8;
/** Limits of one fused elementwise program (src/kernels.h). */
export const EW_MAX_IN = 8;
export const EW_MAX_CODE = 64;
export const EW_MAX_REG = 16;
export const EW_MAX_IMM = 16;

export enum Opcode {
  Elementwise = 1,
  Reduce = 2,
  Softmax = 3,
  ArgMax = 4,
  TopK = 5,
  Gather = 6,
  ScatterAdd = 7,
  Copy = 8,
  Gemm = 9,
  Im2col = 10,
  Col2im = 11,
  /** Softmax's gradient along rows of [outer, size], in place: dS = P ⊙ (dP − Σ P ⊙ dP). */
  SoftmaxGrad = 12,
  /** Winograd F(m×m, 3×3) convolution: the filter, input and output transforms (see `winograd`). */
  WinogradFilter = 13,
  WinogradInput = 14,
  WinogradOutput = 15,
  /** A weight stored at half width (float16 or bfloat16) to float32, contiguous. */
  Widen = 16,
  /** An attention chunk's softmax in place and the probabilities' mean over heads (see `softmaxHeadMean`). */
  SoftmaxHeadMean = 17,
  /** Layer norm along rows of [rows, size], and its x gradient (see `layerNorm`). */
  LayerNorm = 18,
  LayerNormGrad = 19,
  /** A norm's mean and variance in one read of its input (see `moments`). */
  Moments = 20,
  /** GEGLU over rows of [rows, 2·inner], and its gradient (see `geglu`). */
  Geglu = 21,
  GegluGrad = 22,
}

/** The longest rows SoftmaxHeadMean takes (the addon's SOFTMAX_HEAD_MEAN_MAX); longer ones take Softmax and Reduce. */
export const SOFTMAX_HEAD_MEAN_MAX = 1024;
/** The longest rows SoftmaxGrad makes its probabilities for from the scores (the addon's SOFTMAX_GRAD_FROM_SCORES_MAX). */
export const SOFTMAX_GRAD_FROM_SCORES_MAX = 1024;

/** Where a softmax gradient's dP comes from, and whether it first makes P from the scores. */
export interface SoftmaxGradInputs {
  /** The maps' gradient: dP gains share / heads, each row (b, h, r) of the [nb, heads, rowsPerHead] bands reading its row r of batch element b (at b · batchStride). */
  share?: { loc: DeviceLoc; heads: number; rowsPerHead: number; batchStride: number; alone?: boolean };
  /** `probs` holds the scores: P = softmax along rows, written in their place first (rows of at most SOFTMAX_GRAD_FROM_SCORES_MAX). */
  fromScores?: boolean;
}

/**
 * Register-machine operations of a fused elementwise program. The addon's C++ enum
 * (src/ew_ops.h) is generated from this list by ewOpsHeader.ts; the numbers are the wire format,
 * so a new operation is appended at the end. The op table (graph/opset.ts) names which
 * operation computes each elementwise op.
 */
export enum EwOp {
  /** f[dst] = in[a] (float32) */
  LD_F,
  /** i[dst] = in[a] (int64) */
  LD_I,
  /** i[dst] = in[a] (bool byte) */
  LD_B,
  /** f[dst] = imm[a] */
  IMM_F,
  /** f[dst] = op(f[a]) */
  NEG,
  EXP,
  LOG,
  SQRT,
  ERF,
  SIGMOID,
  TANH,
  FLOOR,
  ABS,
  /** f[dst] = f[a] op f[b] */
  ADD,
  SUB,
  MUL,
  DIV,
  POW,
  MIN,
  MAX,
  /** i[dst] = f[a] op f[b] */
  EQ_F,
  LT_F,
  GT_F,
  /** i[dst] = i[a] == i[b] */
  EQ_I,
  /** f[dst] = i[a] ? f[b] : f[c] */
  WHERE_F,
  /** i[dst] = i[a] ? i[b] : i[c] */
  WHERE_I,
  /** i[dst] = trunc(f[a]) */
  F2I,
  /** f[dst] = i[a] */
  I2F,
  /** i[dst] = f[a] != 0 */
  F2B,
  /** i[dst] = i[a] != 0 */
  I2B,
  /** out = f[a] / i[a] / (i[a] != 0) */
  ST_F,
  ST_I,
  ST_B,
  /** f[dst] = f[a] / i[dst] = i[a] */
  MOV_F,
  MOV_I,
  /** f[dst] = softplus(f[a]) */
  SOFTPLUS,
}

export enum ElemType {
  F32 = 0,
  I64 = 1,
  Bool = 2,
  /** Model weights kept on the GPU as stored (float16, bfloat16): LD_F converts them exactly as it loads. */
  F16 = 3,
  BF16 = 4,
}

export enum Access {
  Strided = 0,
  Contiguous = 1,
  Scalar = 2,
}

export enum ReduceKind {
  Sum = 0,
  Max = 1,
  /** Σ (x − c)², c one value per output (`center`): a norm's variance without its deviations made. */
  CentredSquares = 2,
}

/** Where a value lives on the device: an allocation of the addon and a byte offset in it. */
export interface DeviceLoc {
  alloc: number;
  offset: number;
}

export interface EwInputRec {
  loc: DeviceLoc;
  type: ElemType;
  access: Access;
  strides: number[];
}

export interface EwInstrRec {
  op: EwOp;
  dst: number;
  a: number;
  b: number;
  c: number;
}

export interface GemmRec {
  /** TF32 tensor cores instead of IEEE float32 products. */
  tf32: boolean;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  lda: number;
  ldb: number;
  ldc: number;
  a: DeviceLoc;
  b: DeviceLoc;
  c: DeviceLoc;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  beta: number;
  /** Per-batch element offsets [A…, B…, C…] when the batch is not a fixed stride. */
  offsets?: number[];
}

/** A Winograd transform's shape (ProgramWriter.winograd). */
export interface WinogradShape {
  /** Images, input channels, output channels. */
  n: number;
  c: number;
  k: number;
  /** The input's rows and columns. */
  h: number;
  w: number;
  /** Padding of the equivalent convolution: input row m·ty − pad + i feeds tile row ty (negative: cropping). */
  pad: number;
  /** The output's rows and columns. */
  oh: number;
  ow: number;
  /** The band of tile rows this instruction covers: the first, and how many. */
  ty0: number;
  tr: number;
  /** m: output pixels to a tile's side. */
  tile: 2 | 4 | 6;
  /** The filters are a transposed convolution's, read turned by 180°. */
  flip: boolean;
}

/** Builds one program; each method appends one instruction. */
export class ProgramWriter {
  private nums: number[] = [];
  private count = 0;

  /** `tf32For(node)`: whether the GEMMs of that node may use TF32 tensor cores (the precision's choice). */
  constructor(readonly tf32For: (node: Tensor) => boolean) {}

  private loc(l: DeviceLoc): void {
    this.nums.push(l.alloc, l.offset);
  }
  private padded(values: readonly number[], rank: number): void {
    for (let d = 0; d < rank; d++) this.nums.push(values[d]!);
  }

  elementwise(
    out: DeviceLoc,
    dims: readonly number[],
    inputs: readonly EwInputRec[],
    code: readonly EwInstrRec[],
    imm: readonly number[],
  ): void {
    this.count++;
    this.nums.push(Opcode.Elementwise);
    this.loc(out);
    this.nums.push(
      dims.reduce((a, b) => a * b, 1),
      dims.length,
    );
    this.padded(dims, dims.length);
    this.nums.push(inputs.length);
    for (const x of inputs) {
      this.loc(x.loc);
      this.nums.push(x.type, x.access);
      this.padded(x.strides, dims.length);
    }
    this.nums.push(code.length);
    for (const c of code) this.nums.push(c.op, c.dst, c.a, c.b, c.c);
    this.nums.push(imm.length);
    for (const v of imm) this.nums.push(v);
  }

  reduce(r: {
    input: DeviceLoc;
    out: DeviceLoc;
    kind: ReduceKind;
    /** ReduceKind.CentredSquares: one value per output, in output order. */
    center?: DeviceLoc;
    rowMode: boolean;
    splits: number;
    chunk: number;
    scale: number;
    keepDims: number[];
    keepStrides: number[];
    redDims: number[];
    redStrides: number[];
  }): void {
    this.count++;
    this.nums.push(Opcode.Reduce);
    this.loc(r.input);
    this.loc(r.out);
    this.nums.push(r.kind);
    if (r.kind === ReduceKind.CentredSquares) this.loc(r.center!);
    this.nums.push(r.rowMode ? 1 : 0, r.splits, r.chunk, r.scale);
    this.nums.push(r.keepDims.length, ...r.keepDims, ...r.keepStrides);
    this.nums.push(r.redDims.length, ...r.redDims, ...r.redStrides);
  }

  axis(
    op: Opcode.Softmax | Opcode.ArgMax | Opcode.TopK,
    input: DeviceLoc,
    out: DeviceLoc,
    outer: number,
    size: number,
    inner: number,
    topK?: { k: number; largest: boolean },
  ): void {
    this.count++;
    this.nums.push(op);
    this.loc(input);
    this.loc(out);
    this.nums.push(outer, size, inner);
    if (op === Opcode.TopK) this.nums.push(topK!.k, topK!.largest ? 1 : 0);
  }

  /**
   * dS = P ⊙ (dP − rowsum(P ⊙ dP)) over `rows` rows of `size`, into `grad`: dP is `grad`'s rows,
   * plus the share where given, or the share alone (`alone`).
   */
  softmaxGrad(probs: DeviceLoc, grad: DeviceLoc, rows: number, size: number, inputs: SoftmaxGradInputs = {}): void {
    const { share, fromScores } = inputs;
    // Flags as src/device.cu reads them: 1 a share, 2 the share alone, 4 from the scores.
    const flags = (share ? 1 : 0) | (share?.alone ? 2 : 0) | (fromScores ? 4 : 0);
    this.count++;
    this.nums.push(Opcode.SoftmaxGrad);
    this.loc(probs);
    this.loc(grad);
    this.nums.push(rows, size, flags);
    if (!share) return;
    this.loc(share.loc);
    this.nums.push(share.heads, share.rowsPerHead, share.batchStride);
  }

  /** Gather: data is the source. ScatterAdd: data is the updates, out the (pre-filled) result. */
  indexed(
    op: Opcode.Gather | Opcode.ScatterAdd,
    data: DeviceLoc,
    idx: DeviceLoc,
    out: DeviceLoc,
    elemSize: number,
    axis: number,
    axisSize: number,
    idxDims: number[],
    strides: number[],
  ): void {
    this.count++;
    this.nums.push(op);
    this.loc(data);
    this.loc(idx);
    this.loc(out);
    this.nums.push(elemSize, axis, axisSize, idxDims.length, ...idxDims, ...strides);
  }

  copy(dst: DeviceLoc, src: DeviceLoc, dpitch: number, spitch: number, width: number, height: number): void {
    this.count++;
    this.nums.push(Opcode.Copy);
    this.loc(dst);
    this.loc(src);
    this.nums.push(dpitch, spitch, width, height);
  }

  gemm(g: GemmRec): void {
    this.count++;
    this.nums.push(Opcode.Gemm, g.tf32 ? 1 : 0, g.transA ? 1 : 0, g.transB ? 1 : 0, g.m, g.n, g.k, g.lda, g.ldb, g.ldc);
    this.loc(g.a);
    this.loc(g.b);
    this.loc(g.c);
    this.nums.push(g.batch, g.strideA, g.strideB, g.strideC, g.alpha, g.beta);
    this.nums.push(g.offsets ? 1 : 0);
    for (const o of g.offsets ?? []) this.nums.push(o);
  }

  /** im2col: image [n,c,h,w] → columns for output rows y0… (oh rows of width ow). col2im: columns → image. */
  conv(
    op: Opcode.Im2col | Opcode.Col2im,
    src: DeviceLoc,
    dst: DeviceLoc,
    p: {
      n: number;
      c: number;
      h: number;
      w: number;
      kh: number;
      kw: number;
      stride: number;
      pad: number;
      oh: number;
      ow: number;
      y0: number;
    },
  ): void {
    this.count++;
    this.nums.push(op);
    this.loc(src);
    this.loc(dst);
    this.nums.push(p.n, p.c, p.h, p.w, p.kh, p.kw, p.stride, p.pad, p.oh, p.ow, p.y0);
  }

  /**
   * One transform of a Winograd F(m×m, 3×3) convolution (stride 1, m = `tile`, 2, 4 or 6) of images
   * [n, c, h, w] by filters [k, c, 3, 3] into [n, k, oh, ow], over tile rows ty0… (tr of them;
   * a tile is m×m output pixels, tw = ⌈ow/m⌉ to a row, T = n·tr·tw in all; P = (m+2)² points):
   * - filter: weights → U[P][k][c]; `flip` reads a transposed convolution's [c, k, 3, 3] kernel
   *   turned by 180°, which makes it the ordinary convolution it equals at stride 1;
   * - input: images → V[P][c][T];
   * - output: M[P][k][T] (the P GEMMs U·V) → output rows m·ty0… of the images, plus `adds`:
   *   `bias`, [k] floats added to each output channel's values, then `residual`, a tensor of the
   *   output's shape added to them.
   */
  winograd(
    op: Opcode.WinogradFilter | Opcode.WinogradInput | Opcode.WinogradOutput,
    src: DeviceLoc,
    dst: DeviceLoc,
    p: WinogradShape,
    adds: { bias?: DeviceLoc; residual?: DeviceLoc } = {},
  ): void {
    this.count++;
    this.nums.push(op);
    this.loc(src);
    this.loc(dst);
    // Flags as src/device.cu reads them: 1 a bias, 2 a residual.
    const flags = (adds.bias ? 1 : 0) | (adds.residual ? 2 : 0);
    this.nums.push(p.n, p.c, p.k, p.h, p.w, p.pad, p.oh, p.ow, p.ty0, p.tr, p.tile, p.flip ? 1 : 0, flags);
    if (adds.bias) this.loc(adds.bias);
    if (adds.residual) this.loc(adds.residual);
  }

  /**
   * Each output's mean and variance over a run of `runLength` adjacent values of `x` (the run of
   * output o starts at its kept coordinates · keepStrides): one read of x. Runs split into
   * `splits` parts of `chunk` values sum their parts into `partial` ([outputs, splits, 2] doubles).
   */
  moments(r: {
    x: DeviceLoc;
    mean: DeviceLoc;
    variance: DeviceLoc;
    partial?: DeviceLoc;
    runLength: number;
    splits: number;
    chunk: number;
    keepDims: number[];
    keepStrides: number[];
  }): void {
    this.count++;
    this.nums.push(Opcode.Moments);
    this.loc(r.x);
    this.loc(r.mean);
    this.loc(r.variance);
    this.nums.push(r.runLength, r.splits, r.chunk);
    this.nums.push(r.keepDims.length, ...r.keepDims, ...r.keepStrides);
    if (r.splits > 1) this.loc(r.partial!);
  }

  /**
   * Rows of h [rows, 2·inner] plus `bias`, as halves [a, z]: out = a · GELU(z) ([rows, inner]), or
   * with `grad` (the output's gradient), the gradient with respect to h ([rows, 2·inner]). The bias
   * may be a weight kept at its stored width.
   */
  geglu(r: {
    h: DeviceLoc;
    bias: { loc: DeviceLoc; type: ElemType };
    grad?: DeviceLoc;
    out: DeviceLoc;
    rows: number;
    inner: number;
  }): void {
    this.count++;
    this.nums.push(r.grad ? Opcode.GegluGrad : Opcode.Geglu);
    this.loc(r.h);
    this.loc(r.bias.loc);
    this.nums.push(r.bias.type);
    if (r.grad) this.loc(r.grad);
    this.loc(r.out);
    this.nums.push(r.rows, r.inner);
  }

  /**
   * Rows of [rows, size]: out = ((x − μ) / √(σ² + ε)) · weight + bias with each row's statistics,
   * or with `grad` (the output's gradient) instead of a bias, the gradient with respect to x.
   * The weight and the bias may be weights kept at their stored width.
   */
  layerNorm(r: {
    x: DeviceLoc;
    weight: { loc: DeviceLoc; type: ElemType };
    bias?: { loc: DeviceLoc; type: ElemType };
    grad?: DeviceLoc;
    out: DeviceLoc;
    rows: number;
    size: number;
    eps: number;
  }): void {
    this.count++;
    this.nums.push(r.grad ? Opcode.LayerNormGrad : Opcode.LayerNorm);
    this.loc(r.x);
    this.loc(r.weight.loc);
    this.nums.push(r.weight.type);
    if (r.grad) this.loc(r.grad);
    else {
      this.loc(r.bias!.loc);
      this.nums.push(r.bias!.type);
    }
    this.loc(r.out);
    this.nums.push(r.rows, r.size, r.eps);
  }

  /** `count` half-width floats (`type` F16 or BF16) at `src` to float32 at `dst`. */
  widen(src: DeviceLoc, dst: DeviceLoc, count: number, type: ElemType.F16 | ElemType.BF16): void {
    this.count++;
    this.nums.push(Opcode.Widen);
    this.loc(src);
    this.loc(dst);
    this.nums.push(count, type);
  }

  /**
   * Softmax of every row of `probs` ([nb, heads, rows, size]), and the rows' mean over the heads
   * into `maps` ([nb, rows, size]), summed in double in head order. With `keepProbs` the
   * probabilities replace the scores; without, `probs` is left holding nothing of use.
   */
  softmaxHeadMean(
    probs: DeviceLoc,
    maps: DeviceLoc,
    dims: { nb: number; heads: number; rows: number; size: number },
    keepProbs: boolean,
  ): void {
    this.count++;
    this.nums.push(Opcode.SoftmaxHeadMean);
    this.loc(probs);
    this.loc(maps);
    this.nums.push(dims.nb, dims.heads, dims.rows, dims.size, 1 / dims.heads, keepProbs ? 1 : 0);
  }

  get instructionCount(): number {
    return this.count;
  }

  finish(): Float64Array {
    const out = new Float64Array(2 + this.nums.length);
    out[0] = FORMAT_VERSION;
    out[1] = this.count;
    out.set(this.nums, 2);
    return out;
  }
}
