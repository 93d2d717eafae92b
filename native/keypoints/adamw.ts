// torch.optim.AdamW on the learned tokens, step for step: every element-wise operation
// is rounded to float32 in PyTorch's order, so the tokens follow the reference's
// trajectory (Adam magnifies tiny differences in the update). The element loop runs in
// WebAssembly (adamwKernel.ts), whose float32 arithmetic rounds exactly so.
import { adamwKernel, type AdamWArrays, type AdamWScalars } from './adamwKernel.js';

export interface AdamWOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

const MAGIC = 0x57_4d_44_41; // "ADMW" little-endian
const VERSION = 1;
const HEADER_BYTES = 16;

const f = Math.fround;

/**
 * A float array's memory as bytes. Checkpoints store float32 little-endian, the byte order of
 * every platform the app runs on (x64 and arm64), so the memory is the stored form.
 */
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private steps = 0;
  /** The moments, and room for the step's parameters and gradient, in the kernel's memory. */
  private readonly arrays: AdamWArrays;
  private readonly kernel: (s: AdamWScalars) => void;

  constructor(
    readonly size: number,
    opts: AdamWOptions,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`AdamW: size must be a positive integer, got ${size}`);
    this.lr = opts.lr;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    const checks: Array<[string, number, boolean]> = [
      ['lr', this.lr, this.lr >= 0],
      ['beta1', this.beta1, this.beta1 >= 0 && this.beta1 < 1],
      ['beta2', this.beta2, this.beta2 >= 0 && this.beta2 < 1],
      ['eps', this.eps, this.eps >= 0],
      ['weightDecay', this.weightDecay, this.weightDecay >= 0],
    ];
    for (const [name, value, ok] of checks) {
      if (!ok || !Number.isFinite(value)) throw new RangeError(`AdamW: invalid ${name} ${value}`);
    }
    const { arrays, step } = adamwKernel(size);
    this.arrays = arrays;
    this.kernel = step;
  }

  /** Optimiser steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * The parameters' place in the kernel's memory: parameters kept here (a training run's
   * tokens) are stepped in place, without the two copies of 4 MB an array elsewhere costs.
   */
  get params(): Float32Array {
    return this.arrays.params;
  }

  /** One update of `params` in place from `grad` (PyTorch's single-tensor AdamW). */
  step(params: Float32Array, grad: Float32Array): void {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new RangeError(
        `AdamW.step: expected ${this.size} values, got params ${params.length}, grad ${grad.length}`,
      );
    }
    this.steps += 1;
    // Python scalars enter PyTorch's float32 kernels cast to float32.
    const decay = f(1 - this.lr * this.weightDecay);
    const lerpWeight = f(1 - this.beta1);
    const beta2 = f(this.beta2);
    const sqWeight = f(1 - this.beta2);
    const stepSize = f(-(this.lr / (1 - this.beta1 ** this.steps)));
    const correction2Sqrt = f(Math.sqrt(1 - this.beta2 ** this.steps));
    const eps = f(this.eps);
    const { arrays } = this;
    const inPlace = params === arrays.params;
    if (!inPlace) arrays.params.set(params);
    arrays.grad.set(grad);
    this.kernel({ decay, lerpWeight, beta2, sqWeight, stepSize, correction2Sqrt, eps });
    if (!inPlace) params.set(arrays.params);
  }

  /** Moments and step count, for checkpoints (little-endian). */
  toBytes(): Uint8Array {
    const bytes = new Uint8Array(HEADER_BYTES + 8 * this.size);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, VERSION, true);
    view.setUint32(8, this.steps, true);
    view.setUint32(12, this.size, true);
    // The moments' own bytes: a value-by-value copy took tens of milliseconds at SDXL's
    // 1,024,000 values, at every checkpoint.
    bytes.set(bytesOf(this.arrays.m), HEADER_BYTES);
    bytes.set(bytesOf(this.arrays.v), HEADER_BYTES + 4 * this.size);
    return bytes;
  }

  /** Restores a checkpointed state; `size` is the token count × width the run expects. */
  static fromBytes(bytes: Uint8Array, size: number, opts: AdamWOptions): AdamW {
    const bad = (msg: string): never => {
      throw new RangeError(`AdamW checkpoint: ${msg}`);
    };
    if (bytes.length < HEADER_BYTES) bad(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) bad('not an AdamW state (wrong magic number)');
    const version = view.getUint32(4, true);
    if (version !== VERSION) bad(`version ${version} is not supported (expected ${VERSION})`);
    const stored = view.getUint32(12, true);
    if (stored !== size) bad(`holds ${stored} values but the tokens have ${size}`);
    if (bytes.length !== HEADER_BYTES + 8 * size) bad(`${bytes.length} bytes, expected ${HEADER_BYTES + 8 * size}`);
    const opt = new AdamW(size, opts);
    opt.steps = view.getUint32(8, true);
    // Copied as bytes: the stored moments may sit at any offset of a database blob.
    bytesOf(opt.arrays.m).set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + 4 * size));
    bytesOf(opt.arrays.v).set(bytes.subarray(HEADER_BYTES + 4 * size));
    return opt;
  }
}

/**
 * Sums the gradients of `batch` iterations, each divided by `batch`, in float32 as
 * PyTorch accumulates `(loss / batch).backward()` into `.grad`.
 */
export class GradientAccumulator {
  private sum: Float32Array;
  /** The array take() handed out last time, reused as the next sum (no allocation per step). */
  private spare: Float32Array;
  private added = 0;

  constructor(
    readonly size: number,
    readonly batch: number,
  ) {
    if (!Number.isInteger(batch) || batch < 1)
      throw new RangeError(`GradientAccumulator: batch must be a positive integer, got ${batch}`);
    this.sum = new Float32Array(size);
    this.spare = new Float32Array(size);
  }

  get count(): number {
    return this.added;
  }

  get full(): boolean {
    return this.added === this.batch;
  }

  /** Adds `grad`; a batch of one keeps `grad` itself as the sum, so it must not change until then used. */
  add(grad: Float32Array): void {
    if (grad.length !== this.size)
      throw new RangeError(`GradientAccumulator.add: expected ${this.size} values, got ${grad.length}`);
    if (this.full)
      throw new RangeError(`GradientAccumulator.add: already holds ${this.batch} gradients; take() them first`);
    const { sum, size, batch } = this;
    // The first gradient is assigned, as PyTorch assigns a first backward's .grad (no 0 + g,
    // which would turn −0 into +0); a batch of one is then the gradient itself (4 MB not copied).
    if (this.added === 0 && batch === 1) this.sum = grad;
    else if (this.added === 0) for (let i = 0; i < size; i++) sum[i] = f(grad[i]! / batch);
    else for (let i = 0; i < size; i++) sum[i] = f(sum[i]! + f(grad[i]! / batch));
    this.added += 1;
  }

  /**
   * The accumulated gradient; the accumulator starts over empty. The array is the
   * accumulator's own (a batch of one's: the gradient added) and is overwritten after the
   * next take(): use it before then.
   */
  take(): Float32Array {
    const out = this.sum;
    this.sum = this.spare;
    this.spare = out;
    this.added = 0;
    return out;
  }
}
