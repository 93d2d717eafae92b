// Small random graphs that exercise every IR op and the planner's special paths (fusion,
// transposed GEMM operands, broadcast batches, split reductions, convolution bands). Shared
// by the CPU check of the planner (plan.test.ts) and the GPU check (gpuCheck.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grad } from '../../../native/graph/autodiff.js';
import type { DType, Shape, Tensor } from '../../../native/graph/ir.js';
import { Graph, numel } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { averagedMaps } from '../../../native/keypoints/graphs.js';
import type { HostTensor } from '../../../native/runtime/backend.js';
import { seededRandom } from '../../support/random.js';

export interface OpCase {
  name: string;
  outputs: Tensor[];
  feeds: Record<string, HostTensor>;
  /** Options for the planner (small scratch limits force the split code paths). */
  scratchLimitBytes?: number;
}

type Builder = (c: CaseKit) => { outputs: Tensor[]; scratchLimitBytes?: number };

let kits = 0;

/** Creates inputs with random values and remembers what to feed. */
export class CaseKit {
  readonly g = new Graph();
  readonly feeds: Record<string, HostTensor> = {};
  private n = 0;
  private readonly id = kits++;
  constructor(
    readonly rand: () => number,
    readonly dir: string,
  ) {}

  x(shape: Shape, lo = -1, hi = 1): Tensor {
    const name = `x${this.n++}`;
    const data = Float32Array.from({ length: numel(shape) }, () => lo + (hi - lo) * this.rand());
    this.feeds[name] = { dtype: 'float32', shape: [...shape], data };
    return this.g.input(name, shape);
  }

  ints(shape: Shape, lo: number, hi: number): Tensor {
    const name = `i${this.n++}`;
    const data = BigInt64Array.from({ length: numel(shape) }, () => BigInt(lo + Math.floor((hi - lo) * this.rand())));
    this.feeds[name] = { dtype: 'int64', shape: [...shape], data };
    return this.g.input(name, shape, 'int64');
  }

  bools(shape: Shape): Tensor {
    const name = `b${this.n++}`;
    const data = Uint8Array.from({ length: numel(shape) }, () => (this.rand() < 0.5 ? 1 : 0));
    this.feeds[name] = { dtype: 'bool', shape: [...shape], data };
    return this.g.input(name, shape, 'bool');
  }

  /** A weight stored in a file of its own, as float32, float16 or bfloat16 bytes at an odd offset; values in ±scale. */
  weight(shape: Shape, storedAs: 'float32' | 'float16' | 'bfloat16', scale = 1): Tensor {
    const n = numel(shape);
    const width = storedAs === 'float32' ? 4 : 2;
    const offset = 6;
    const buf = Buffer.alloc(offset + n * width);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < n; i++) {
      f[0] = scale * (-1 + 2 * this.rand());
      if (storedAs === 'float32') buf.writeFloatLE(f[0], offset + 4 * i);
      else if (storedAs === 'bfloat16') buf.writeUInt16LE(u[0]! >>> 16, offset + 2 * i);
      else buf.writeUInt16LE(toHalf(f[0]), offset + 2 * i);
    }
    const file = join(this.dir, `w${this.id}-${this.n++}-${storedAs}.bin`);
    writeFileSync(file, buf);
    return this.g.weight({ file, byteOffset: offset, storedAs, name: `w.${storedAs}` }, shape);
  }
}

/** float32 → IEEE half bits (round to nearest even; test values stay in half's normal range). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp <= 0) return sign;
  let h = sign | (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && h & 1)) h++;
  return h;
}

const UNARY = ['neg', 'exp', 'log', 'sqrt', 'erf', 'sigmoid', 'tanh', 'floor', 'abs', 'softplus'] as const;
const BINARY = ['add', 'sub', 'mul', 'div', 'pow', 'minimum', 'maximum'] as const;

const builders: Record<string, Builder> = {};

for (const u of UNARY) {
  builders[`unary ${u}`] = (k) => {
    const positive = u === 'log' || u === 'sqrt';
    return { outputs: [o[u](k.x([3, 5, 7], positive ? 0.1 : -3, 3))] };
  };
}
for (const b of BINARY) {
  builders[`binary ${b} (broadcast)`] = (k) => {
    const a = b === 'pow' ? k.x([2, 3, 4, 5], 0.2, 2) : k.x([2, 3, 4, 5]);
    const c = b === 'div' ? k.x([3, 1, 5], 0.5, 2) : k.x([3, 1, 5]);
    return { outputs: [o[b](a, c)] };
  };
}
Object.assign(builders, <Record<string, Builder>>{
  'scalar operands (immediates)': (k) => ({ outputs: [o.add(o.mul(k.x([4, 6]), 0.5), o.div(2, k.x([6], 0.5, 1)))] }),
  'compare less/greater → bool': (k) => {
    const a = k.x([3, 4]);
    const b = k.x([4]);
    return { outputs: [o.less(a, b), o.greater(a, b)] };
  },
  'equal int64 and bool': (k) => {
    const a = k.ints([3, 4], 0, 3);
    const b = k.ints([1, 4], 0, 3);
    return { outputs: [o.equal(a, b), o.equal(k.bools([3, 4]), k.bools([3, 1]))] };
  },
  'equal float': (k) => {
    const a = o.floor(k.x([5, 4], 0, 3));
    return { outputs: [o.equal(a, o.floor(k.x([4], 0, 3)))] };
  },
  'where float and int64': (k) => {
    const c = k.bools([3, 1, 5]);
    return {
      outputs: [
        o.where(c, k.x([2, 3, 4, 5]), k.x([5])),
        o.where(k.bools([2, 3]), k.ints([2, 3], -5, 5), k.ints([3], 0, 9)),
      ],
    };
  },
  'cast all directions': (k) => {
    const f = k.x([4, 5], -4, 4);
    const i = k.ints([4, 5], -3, 3);
    const b = k.bools([4, 5]);
    return {
      outputs: [
        o.cast(f, 'int64'),
        o.cast(f, 'bool'),
        o.cast(i, 'float32'),
        o.cast(i, 'bool'),
        o.cast(b, 'float32'),
        o.cast(b, 'int64'),
        o.add(o.cast(o.cast(f, 'int64'), 'float32'), 1),
      ],
    };
  },
  'matmul plain': (k) => ({ outputs: [o.matmul(k.x([5, 7]), k.x([7, 3]))] }),
  'matmul batched': (k) => ({ outputs: [o.matmul(k.x([4, 5, 7]), k.x([4, 7, 3]))] }),
  'matmul shared right operand (rows stacked)': (k) => ({ outputs: [o.matmul(k.x([2, 4, 5, 7]), k.x([7, 3]))] }),
  'matmul shared left operand': (k) => ({ outputs: [o.matmul(k.x([5, 7]), k.x([3, 7, 4]))] }),
  'matmul broadcast batch (pointer arrays)': (k) => ({ outputs: [o.matmul(k.x([2, 3, 5, 7]), k.x([2, 1, 7, 4]))] }),
  'matmul transposed operands (linear, aᵀb)': (k) => {
    const x = k.x([2, 6, 5]);
    const w = k.x([4, 5]);
    const a = k.x([3, 7, 5]);
    const b = k.x([3, 7, 4]);
    return {
      outputs: [
        o.linear(x, w, k.x([4])),
        o.matmul(o.transpose(a, [0, 2, 1]), b),
        o.matmul(o.transpose(b, [0, 2, 1]), o.transpose(o.transpose(a, [0, 2, 1]), [0, 2, 1])),
      ],
    };
  },
  'conv2d 3x3 pad 1': (k) => ({ outputs: [o.conv2d(k.x([2, 3, 9, 9]), k.x([4, 3, 3, 3]), { stride: 1, pad: 1 })] }),
  'conv2d stride 2': (k) => ({ outputs: [o.conv2d(k.x([2, 3, 9, 8]), k.x([5, 3, 3, 2]), { stride: 2, pad: 0 })] }),
  'conv2d 1x1': (k) => ({ outputs: [o.conv2d(k.x([2, 6, 5, 4]), k.x([3, 6, 1, 1]))] }),
  'conv2d im2col sample chunks': (k) => ({
    outputs: [o.conv2d(k.x([3, 2, 6, 6]), k.x([3, 2, 2, 3]), { pad: 1 })],
    scratchLimitBytes: 2 * 12 * 42 * 4,
  }),
  'conv2d im2col row bands': (k) => ({
    outputs: [o.conv2d(k.x([2, 2, 7, 6]), k.x([3, 2, 2, 3]), { stride: 1, pad: 1 })],
    scratchLimitBytes: 12 * 6 * 2 * 4,
  }),
  // A 3×3 convolution of three channels (an image's, as the VAE's first) goes through im2col.
  'conv2d 3×3 of three channels': (k) => ({
    outputs: [o.conv2d(k.x([2, 3, 9, 8]), k.x([4, 3, 3, 3]), { stride: 1, pad: 1 })],
  }),
  // Winograd (from 4 input channels): tiles of 2×2 output pixels, cut by odd sizes; chunks of
  // images; bands of tile rows.
  'conv2d winograd pad 0 and 2': (k) => {
    const x = k.x([1, 4, 8, 7]);
    const w = k.x([2, 4, 3, 3]);
    return { outputs: [o.conv2d(x, w, { stride: 1, pad: 0 }), o.conv2d(x, w, { stride: 1, pad: 2 })] };
  },
  'conv2d winograd image chunks': (k) => ({
    outputs: [o.conv2d(k.x([3, 4, 6, 7]), k.x([3, 4, 3, 3]), { pad: 1 })],
    scratchLimitBytes: 2 * (3 * 4) * 16 * (4 + 3) * 4,
  }),
  'conv2d winograd tile-row bands': (k) => ({
    outputs: [o.conv2d(k.x([2, 4, 7, 6]), k.x([3, 4, 3, 3]), { stride: 1, pad: 1 })],
    scratchLimitBytes: 2 * 3 * 16 * (4 + 3) * 4,
  }),
  'convTranspose2d stride 2 outputPad 1': (k) => ({
    outputs: [o.convTranspose2d(k.x([2, 4, 5, 5]), k.x([4, 3, 3, 3]), { stride: 2, pad: 1, outputPad: 1 })],
  }),
  'convTranspose2d 1x1': (k) => ({ outputs: [o.convTranspose2d(k.x([2, 4, 3, 5]), k.x([4, 6, 1, 1]))] }),
  'convTranspose2d chunks': (k) => ({
    outputs: [o.convTranspose2d(k.x([3, 2, 4, 4]), k.x([2, 3, 2, 3]), { stride: 1, pad: 1 })],
    scratchLimitBytes: 18 * 16 * 4,
  }),
  // F(4×4) tiles from 32 output rows and columns on.
  'conv2d winograd F(4×4), cut tiles': (k) => ({
    outputs: [o.conv2d(k.x([1, 4, 35, 33]), k.x([3, 4, 3, 3]), { stride: 1, pad: 1 })],
  }),
  'conv2d winograd F(4×4) tile-row bands': (k) => ({
    outputs: [o.conv2d(k.x([2, 4, 32, 34]), k.x([3, 4, 3, 3]), { stride: 1, pad: 1 })],
    scratchLimitBytes: 3 * 9 * 36 * (4 + 3) * 4,
  }),
  // F(6×6) tiles from 64 on.
  'conv2d winograd F(6×6), cut tiles': (k) => ({
    outputs: [o.conv2d(k.x([1, 4, 67, 64]), k.x([3, 4, 3, 3]), { stride: 1, pad: 1 })],
  }),
  'conv2d winograd F(6×6) tile-row bands': (k) => ({
    outputs: [o.conv2d(k.x([2, 4, 64, 65]), k.x([2, 4, 3, 3]), { stride: 1, pad: 1 })],
    scratchLimitBytes: 4 * 11 * 64 * (4 + 2) * 4,
  }),
  // The bias, then a shortcut, added by the output transform (plan.ts, foldConvAdds); a convolution
  // read twice keeps its adds.
  'conv2d winograd F(6×6) with a bias and a shortcut, and its gradient': (k) => {
    const x = k.x([1, 4, 64, 66]);
    const w = k.x([3, 4, 3, 3]);
    const y = o.add(k.x([1, 3, 64, 66]), o.conv2dBias(x, w, k.x([3]), { pad: 1 }));
    const bare = o.conv2d(x, w, { pad: 1 });
    const twice = o.add(o.add(bare, o.reshape(k.x([3]), [1, 3, 1, 1])), bare);
    const [gx] = grad(o.reshape(o.sum(o.mul(y, y), [0, 1, 2, 3]), [1]), [x]);
    return { outputs: [y, twice, gx!] };
  },
  'convTranspose2d winograd F(4×4)': (k) => ({
    outputs: [o.convTranspose2d(k.x([1, 4, 34, 32]), k.x([4, 2, 3, 3]), { stride: 1, pad: 1 })],
  }),
  'convTranspose2d winograd (stride 1)': (k) => {
    const x = k.x([3, 4, 5, 4]);
    const w = k.x([4, 3, 3, 3]);
    return {
      outputs: [o.convTranspose2d(x, w, { stride: 1, pad: 1 }), o.convTranspose2d(x, w, { stride: 1, pad: 0 })],
      scratchLimitBytes: 2 * (3 * 2) * 16 * (4 + 3) * 4,
    };
  },
  'reduce sum/mean/max over axes': (k) => {
    const x = k.x([3, 4, 5, 6]);
    return {
      outputs: [o.sum(x, [1]), o.mean(x, [0, 2], true), o.reduceMax(x, [3]), o.sum(x, [0, 1, 2, 3]), o.mean(x, [1, 3])],
    };
  },
  'reduce long rows (split)': (k) => {
    const x = k.x([2, 20000]);
    return { outputs: [o.sum(x, [1]), o.reduceMax(x, [1]), o.mean(x, [0, 1])] };
  },
  'reduce long columns (split)': (k) => {
    const x = k.x([5000, 3]);
    return { outputs: [o.sum(x, [0]), o.reduceMax(x, [0], true)] };
  },
  softmax: (k) => {
    const x = k.x([3, 4, 5], -4, 4);
    return { outputs: [o.softmax(x, -1), o.softmax(x, 1), o.softmax(k.x([2, 3000], -4, 4), 1)] };
  },
  argMax: (k) => {
    const x = k.x([3, 7, 4]);
    return { outputs: [o.argMax(x, 1), o.argMax(x, 2, true), o.argMax(k.x([2, 5000]), 1)] };
  },
  topKIndices: (k) => {
    const x = k.x([4, 50]);
    return {
      outputs: [o.topKIndices(x, 5, 1, true), o.topKIndices(x, 3, 1, false), o.topKIndices(k.x([20, 3]), 4, 0, true)],
    };
  },
  'reshape transpose expand': (k) => {
    const x = k.x([2, 3, 4]);
    return {
      outputs: [
        o.transpose(x, [2, 0, 1]),
        o.reshape(o.transpose(x, [0, 2, 1]), [8, 3]),
        o.expand(k.x([3, 1]), [2, 3, 4]),
        o.transpose(k.ints([2, 5], 0, 9), [1, 0]),
      ],
    };
  },
  'concat and slice': (k) => {
    const a = k.x([2, 3, 4]);
    const c = o.concat([a, k.x([2, 1, 4]), k.x([2, 2, 4])], 1);
    return {
      outputs: [
        c,
        o.slice(a, 0, 1, 2),
        o.slice(a, 1, 1, 3),
        o.concat([k.ints([2, 2], 0, 5), k.ints([2, 1], 0, 5)], 1),
        o.add(o.slice(a, 2, 1, 3), 1),
      ],
    };
  },
  // Slices only elementwise ops read are loads from the source at an offset (plan.ts slicesRead).
  'slices read in place': (k) => {
    const h = k.x([2, 3, 10]);
    const w = k.weight([3, 6], 'float16');
    const hidden = o.slice(h, 2, 0, 5);
    const gate = o.slice(h, 2, 5, 10);
    return {
      outputs: [
        o.mul(hidden, o.gelu(gate)), // GEGLU's halves
        o.add(o.slice(w, 1, 2, 5), o.slice(w, 1, 3, 6)), // a float16 weight's columns, 2-byte offsets
        o.matmul(k.x([2, 3]), w), // and the whole weight, widened for a GEMM
        o.mul(o.slice(h, 1, 1, 2), o.slice(h, 2, 9, 10)), // one row and one column, broadcast
        o.neg(o.slice(o.slice(h, 2, 1, 9), 1, 1, 3)), // a slice of a slice: the inner one is copied
      ],
    };
  },
  // Zeros padded after a strided convolution's input are read past its edge (plan.ts zeroPads).
  'VAE downsampling: zeros padded right and bottom, a 3×3 convolution at stride 2': (k) => {
    const x = k.x([2, 3, 7, 6]);
    const right = o.concat([x, k.g.fill(0, [2, 3, 7, 1])], 3);
    const padded = o.concat([right, k.g.fill(0, [2, 3, 1, 7])], 2);
    const w = k.x([4, 3, 3, 3]);
    return { outputs: [o.conv2d(padded, w, { stride: 2 }), o.conv2d(padded, w, { stride: 2, pad: 1 })] };
  },
  // An image's averaged maps and their peaks (graphs.ts averagedMaps), pixels no draw covered included.
  'augmented average': (k) => {
    const coverage = o.mul(o.add(k.x([6, 7], 0, 3), 1), o.cast(k.bools([6, 7]), 'float32'));
    const { averaged, peaks } = averagedMaps(k.x([3, 6, 7]), coverage);
    return { outputs: [averaged, peaks] };
  },
  // Sums and means of negated values read the values with the scale negated (plan.ts reductions).
  'reductions of negated values': (k) => {
    const x = k.x([4, 6, 5]);
    const long = k.x([2, 9000]);
    return {
      outputs: [o.sum(o.neg(x), [1], true), o.mean(o.neg(o.exp(x)), [0, 2]), o.mean(o.neg(long), [1], true)],
    };
  },
  gatherElements: (k) => {
    const x = k.x([3, 6, 4]);
    return {
      outputs: [o.gatherElements(x, k.ints([3, 2, 4], -6, 6), 1), o.gatherElements(x, k.ints([2, 6, 3], 0, 4), 2)],
    };
  },
  scatterAddElements: (k) => {
    const idx = k.ints([3, 5, 4], 0, 6);
    const upd = k.x([3, 5, 4]);
    return {
      outputs: [
        o.scatterAddElements(k.g.fill(0, [3, 6, 4]), idx, upd, 1),
        o.scatterAddElements(k.x([3, 6, 4]), idx, upd, 1),
      ],
    };
  },
  'fill and constants': (k) => {
    const g = k.g;
    return {
      outputs: [
        g.fill(2.5, [2, 3]),
        o.mul(k.x([2, 3]), g.constant([1, 2, 3], [3])),
        o.equal(g.constantInt([1, 2, 3], [3]), k.ints([2, 3], 0, 4)),
        o.stopGradient(o.exp(k.x([4]))),
      ],
    };
  },
  'weights float32/float16/bfloat16': (k) => {
    const x = k.x([3, 8]);
    return {
      outputs: [
        o.linear(x, k.weight([5, 8], 'float32')),
        o.linear(x, k.weight([5, 8], 'float16')),
        o.add(k.weight([3, 8], 'bfloat16'), x),
      ],
    };
  },
  // Weights read by a convolution, a group norm, a GEMM and its gradient, and as an output:
  // each stored narrower than float32 (widened at each use, or held as float32 copies).
  'weights float16/bfloat16 in a convolution block, with gradients': (k) => {
    const x = k.x([2, 4, 6, 6]);
    const w = k.weight([5, 4, 3, 3], 'float16', 0.3);
    let h = o.conv2dBias(x, w, k.weight([5], 'bfloat16'), { pad: 1 });
    h = o.silu(o.groupNorm(h, 5, k.weight([5], 'float16'), k.weight([5], 'bfloat16'), 1e-5));
    const y = o.linear(o.reshape(h, [2, 180]), k.weight([7, 180], 'float16', 0.1));
    const loss = o.sum(o.mul(y, y), [0, 1], true);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    return { outputs: [loss, gx!, w] };
  },
  'fused layerNorm gelu silu': (k) => {
    const x = k.x([2, 5, 16]);
    const y = o.layerNorm(x, k.x([16]), k.x([16]), 1e-5);
    return { outputs: [o.gelu(y), o.silu(x)] };
  },
  // SDXL's weights may stay at half width on the GPU: the kernel reads them as stored. Rows of
  // each length the kernel takes differently: up to 512, 1,024 and 2,048 values, and longer.
  'layerNorm, half-width weights, rows of every length': (k) => ({
    outputs: [300, 700, 1300, 2100].flatMap((size) => {
      const x = k.x([3, size], -3, 5);
      return [
        o.layerNorm(x, k.weight([size], 'float16'), k.weight([size], 'bfloat16'), 1e-5),
        o.layerNormGrad(x, k.weight([size], 'bfloat16'), k.x([3, size]), 1e-6),
      ];
    }),
  }),
  'geglu and its gradient, the bias at half width': (k) => {
    const h = k.x([3, 7, 18], -4, 4);
    const bias = k.weight([18], 'bfloat16');
    return { outputs: [o.geglu(h, bias), o.gegluGrad(h, bias, k.x([3, 7, 9]))] };
  },
  'gradient: geglu of h and its bias': (k) => {
    const h = k.x([2, 5, 12], -3, 3);
    const bias = k.x([12]);
    const y = o.geglu(h, bias);
    const loss = o.sum(o.mul(y, k.x([2, 5, 6])), [0, 1, 2], true);
    return { outputs: [y, ...grad(o.reshape(loss, [1]), [h, bias])] };
  },
  'gradient: layerNorm of x, its weight and its bias': (k) => {
    const x = k.x([2, 4, 9]);
    const w = k.x([9]);
    const b = k.x([9]);
    const y = o.layerNorm(x, w, b, 1e-5);
    const loss = o.sum(o.mul(y, k.x([2, 4, 9])), [0, 1, 2], true);
    return { outputs: [y, ...grad(o.reshape(loss, [1]), [x, w, b])] };
  },
  'fused groupNorm': (k) => ({
    outputs: [
      o.groupNorm(k.x([2, 8, 5, 5]), 4, k.x([8]), k.x([8]), 1e-5),
      // Rows long enough that the statistics are summed in parts, then the parts.
      o.groupNorm(k.x([1, 2, 64, 128]), 1, k.x([2]), k.x([2]), 1e-6),
      // Values far from zero beside their spread: the variance must not cancel away.
      o.groupNorm(k.x([2, 6, 9, 7], 20, 21), 3, k.x([6]), k.x([6]), 1e-6),
    ],
  }),
  'long fused chain (kernel limits)': (k) => {
    let y = k.x([4, 9]);
    const xs = Array.from({ length: 12 }, () => k.x([9]));
    for (const [i, x] of xs.entries())
      y = i % 3 === 0 ? o.mul(o.tanh(y), x) : i % 3 === 1 ? o.add(y, o.exp(x)) : o.sub(y, o.mul(x, 0.25 + i));
    return { outputs: [y] };
  },
  'attention block': (k) => {
    const q = k.x([2, 2, 6, 8]);
    const kk = k.x([2, 2, 5, 8]);
    const v = k.x([2, 2, 5, 8]);
    const p = o.softmax(o.mul(o.matmul(q, o.transpose(kk, [0, 1, 3, 2])), 1 / Math.sqrt(8)), -1);
    return { outputs: [o.matmul(p, v), p] };
  },
  'attention ops (batch elements grouped in one chunk)': (k) => {
    const q = k.x([2, 2, 6, 8], -2, 2);
    const kk = k.x([2, 2, 5, 8], -2, 2);
    return { outputs: [o.attention(q, kk, k.x([2, 2, 5, 3]), 0.35), o.attentionHeadMean(q, kk, 0.35)] };
  },
  'attention ops, keys shared by the batch (pointer arrays)': (k) => {
    const q = k.x([3, 2, 4, 4], -2, 2);
    const kk = k.x([1, 2, 5, 4], -2, 2);
    return { outputs: [o.attention(q, kk, k.x([1, 2, 5, 3]), 0.5), o.attentionHeadMean(q, kk, 0.5)] };
  },
  'attention gradients (per-batch and shared keys)': (k) => attentionGrads(k, 2),
  // 2 heads × 5 keys: 40 bytes of probabilities and 88 of gradient scratch per query row, so
  // the forward ops take bands of 4 rows and the gradients bands of 2, of the 7.
  'attention ops and gradients in row bands (scratch limit)': (k) => {
    const { outputs } = attentionGrads(k, 7);
    const q = k.x([2, 2, 7, 4], -2, 2);
    const kk = k.x([2, 2, 5, 4], -2, 2);
    outputs.push(o.attention(q, kk, k.x([2, 2, 5, 3]), 0.5), o.attentionHeadMean(q, k.x([1, 2, 5, 4], -2, 2), 0.5));
    return { outputs, scratchLimitBytes: 176 };
  },
  // Rows longer than 1024 keys take the block-wide softmax and softmax-gradient kernels.
  'attention gradients over 1500 keys (block-wide row kernels)': (k) => {
    const q = k.x([1, 2, 3, 8], -2, 2);
    const kk = k.x([1, 2, 1500, 8], -2, 2);
    const v = k.x([1, 2, 1500, 4]);
    const g = k.x([1, 2, 3, 4]);
    return {
      outputs: [
        o.attentionGrad(q, kk, v, g, 0.6, 'q'),
        o.attentionGrad(q, kk, v, g, 0.6, 'k'),
        o.attentionHeadMeanGrad(q, kk, k.x([1, 3, 1500]), 0.6, 'q'),
      ],
    };
  },
  // The fused softmax and head-mean's two row lengths (up to 512 and 1024 keys), and longer rows,
  // which take the softmax and a reduction apart.
  ...Object.fromEntries(
    [300, 700, 1500].map((n) => [
      `attention output and maps over ${n} keys`,
      (k: CaseKit) => {
        const q = k.x([2, 3, 4, 8], -2, 2);
        const kk = k.x([2, 3, n, 8], -2, 2);
        return { outputs: [o.attention(q, kk, k.x([2, 3, n, 4]), 0.6), o.attentionHeadMean(q, kk, 0.6)] };
      },
    ]),
  ),
  'gradient: attention maps and output (autodiff)': (k) => mapsAndOutput(k, 1),
  // Keys per batch element: a chunk holds both elements, or bands of rows, whose dP each gains its own rows' share of the maps' gradient.
  'gradient: attention maps and output, keys per batch element': (k) => mapsAndOutput(k, 2),
  // The softmax gradient's row lengths: a warp's registers up to 1,024 keys, a block beyond.
  'gradient: attention maps and output, 600 keys': (k) => mapsAndOutput(k, 1, 600),
  'gradient: attention maps and output, 1,100 keys': (k) => mapsAndOutput(k, 1, 1100),
  'gradient: attention maps and output, in row bands (scratch limit)': (k) => ({
    ...mapsAndOutput(k, 2),
    scratchLimitBytes: 2 * 2 * 5 * 4 * 2,
  }),
  'gradient: attention with heads split from tokens and merged back (in place)': (k) => headsInPlace(k),
  'gradient: heads in place, in row bands (scratch limit)': (k) => ({ ...headsInPlace(k), scratchLimitBytes: 176 }),
  // A controlled layer whose output feeds nothing: dq and dk come from the maps' gradient alone.
  'gradient: attention maps alone (autodiff)': (k) => mapsAlone(k, 5),
  // Rows longer than the softmax gradient makes probabilities for: a softmax first, a block a row.
  'gradient: attention maps alone, 1,100 keys': (k) => mapsAlone(k, 1100),
  'gradient: attention + layerNorm + gelu': (k) => {
    const x = k.x([2, 5, 8]);
    const w = k.x([8, 8]);
    const h = o.layerNorm(o.linear(x, w, k.x([8])), k.x([8]), k.x([8]), 1e-5);
    const s = o.softmax(o.matmul(h, o.transpose(h, [0, 2, 1])), -1);
    const y = o.gelu(o.matmul(s, h));
    const loss = o.mean(o.mul(y, y), [0, 1, 2], true);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    return { outputs: [loss, gx!] };
  },
  'gradient: conv net (conv, groupNorm, silu, stride 2)': (k) => {
    const x = k.x([2, 3, 8, 8]);
    const h = o.silu(o.groupNorm(o.conv2d(x, k.x([4, 3, 3, 3]), { pad: 1 }), 2, k.x([4]), k.x([4]), 1e-5));
    const y = o.conv2d(h, k.x([5, 4, 3, 3]), { stride: 2, pad: 1 });
    const loss = o.sum(o.mul(y, k.x([1, 5, 4, 4])), [0, 1, 2, 3]);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    return { outputs: [gx!] };
  },
  // The sum of two halves' padded gradients folds into one concat (plan.ts foldPaddedSum).
  'gradient: GEGLU (a tensor sliced in two)': (k) => {
    const x = k.x([2, 3, 4]);
    const h = o.linear(x, k.x([10, 4]), k.x([10]));
    const y = o.mul(o.slice(h, 2, 0, 5), o.gelu(o.slice(h, 2, 5, 10)));
    const loss = o.sum(o.mul(y, k.x([2, 3, 5])), [0, 1, 2]);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    return { outputs: [gx!] };
  },
  'gradient: gather, max, pow, where, concat, slice': (k) => {
    const x = k.x([3, 6], 0.5, 2);
    const picked = o.gatherElements(x, k.ints([3, 2], 0, 6), 1);
    const m = o.reduceMax(o.pow(x, 1.5), [1], true);
    const c = o.concat([picked, m, o.slice(x, 1, 2, 4)], 1);
    const y = o.where(o.greater(c, 1), o.mul(c, c), o.maximum(c, 0.7));
    const loss = o.sum(y, [0, 1]);
    const [gx] = grad(o.reshape(loss, [1]), [x]);
    return { outputs: [gx!] };
  },
});

/**
 * A self-attention and a cross-attention (keys shared by the batch, and maps) as SDXL's layers
 * build them: heads split from a linear layer's tokens and the result's merged back, transposes
 * the planner leaves to the attention lowerings' strides (cuda/headLayouts.ts), gradients too.
 */
/** A controlled layer's output and maps both feeding the loss: dP is g·vᵀ plus the maps' share. */
function mapsAndOutput(k: CaseKit, contextBatch: number, keys = 5) {
  const x = k.x([2, 6, 8]);
  const ctx = k.x([contextBatch, keys, 8]);
  const heads = (t: Tensor) => o.transpose(o.reshape(t, [t.shape[0]!, t.shape[1]!, 2, 4]), [0, 2, 1, 3]);
  const q = heads(o.linear(x, k.x([8, 8])));
  const kk = heads(o.linear(ctx, k.x([8, 8])));
  const v = heads(o.linear(ctx, k.x([8, 8])));
  const out = o.attention(q, kk, v, 0.5);
  const maps = o.attentionHeadMean(q, kk, 0.5);
  // Positive weights on the (positive) maps: a loss whose terms do not cancel, so that its relative
  // error measures the arithmetic (a loss near 0 of terms near 1 once failed TF32's bound at 6.7e-3).
  const loss = o.add(o.mean(o.mul(out, out), [0, 1, 2, 3]), o.sum(o.mul(maps, k.x([2, 6, keys], 0.5, 1.5)), [0, 1, 2]));
  const [gx, gctx] = grad(o.reshape(loss, [1]), [x, ctx]);
  return { outputs: [loss, gx!, gctx!] };
}

/** A controlled layer's maps alone feeding the loss, over `keys` keys shared by the batch. */
function mapsAlone(k: CaseKit, keys: number) {
  const x = k.x([2, 6, 8]);
  const ctx = k.x([1, keys, 8]);
  const heads = (t: Tensor) => o.transpose(o.reshape(t, [t.shape[0]!, t.shape[1]!, 2, 4]), [0, 2, 1, 3]);
  const maps = o.attentionHeadMean(heads(o.linear(x, k.x([8, 8]))), heads(o.linear(ctx, k.x([8, 8]))), 0.5);
  const loss = o.sum(o.mul(maps, k.x([2, 6, keys])), [0, 1, 2]);
  const [gx, gctx] = grad(o.reshape(loss, [1]), [x, ctx]);
  return { outputs: [maps, gx!, gctx!] };
}

function headsInPlace(k: CaseKit): { outputs: Tensor[] } {
  const [heads, width] = [2, 6];
  const split = (t: Tensor) =>
    o.transpose(o.reshape(t, [t.shape[0]!, t.shape[1]!, heads, width / heads]), [0, 2, 1, 3]);
  const merge = (t: Tensor) => o.reshape(o.transpose(t, [0, 2, 1, 3]), [t.shape[0]!, t.shape[2]!, width]);
  const linear = (t: Tensor) => o.linear(t, k.x([width, width]));
  const x = k.x([3, 7, width]);
  const ctx = k.x([1, 5, width]);
  const self = linear(merge(o.attention(split(linear(x)), split(linear(x)), split(linear(x)), 0.5)));
  const q = split(linear(self));
  const keys = split(linear(ctx));
  const cross = merge(o.attention(q, keys, split(linear(ctx)), 0.4));
  const maps = o.attentionHeadMean(q, keys, 0.4);
  // Maps weighted by positive numbers: a loss of terms that cancel has a large relative error in TF32.
  const loss = o.add(o.mean(o.mul(cross, cross), [0, 1, 2]), o.sum(o.mul(maps, k.x([3, 7, 5], 0.5, 1.5)), [0, 1, 2]));
  const [gx, gctx] = grad(o.reshape(loss, [1]), [x, ctx]);
  return { outputs: [cross, loss, gx!, gctx!] };
}

/** Every attention gradient op on queries of `rows` rows, with per-batch keys and with keys shared by the batch. */
function attentionGrads(k: CaseKit, rows: number): { outputs: Tensor[] } {
  const q = k.x([2, 2, rows, 4], -2, 2);
  const outputs: Tensor[] = [];
  for (const kb of [2, 1]) {
    const kk = k.x([kb, 2, 5, 4], -2, 2);
    const v = k.x([kb, 2, 5, 3]);
    const g = k.x([2, 2, rows, 3]);
    const maps = k.x([2, rows, 5]);
    for (const wrt of ['q', 'k'] as const) outputs.push(o.attentionGrad(q, kk, v, g, 0.6, wrt));
    outputs.push(o.attentionValuesGrad(q, kk, g, 0.6));
    for (const wrt of ['q', 'k'] as const) outputs.push(o.attentionHeadMeanGrad(q, kk, maps, 0.6, wrt));
    // Both gradients in one (what the planner folds a controlled layer's pair into).
    for (const wrt of ['q', 'k'] as const) outputs.push(o.attentionGrad(q, kk, v, g, 0.6, wrt, maps));
  }
  return { outputs };
}

/** Every case, freshly built with its own random inputs (weights are written under `dir`). */
/** `scope` labels every node (e.g. 'unet': the layers the fast precision runs in TF32). */
export function buildCases(seed: number, dir: string, only?: (name: string) => boolean, scope?: string): OpCase[] {
  const out: OpCase[] = [];
  for (const [name, build] of Object.entries(builders)) {
    if (only && !only(name)) continue;
    // Each case draws from its own stream (the seed and its name), so one picked out by `only`
    // gets the inputs it had in the run of every case.
    const kit = new CaseKit(seededRandom(seed ^ nameHash(name)), dir);
    const { outputs, scratchLimitBytes } = scope ? kit.g.scope(scope, () => build(kit)) : build(kit);
    out.push({ name, outputs, feeds: kit.feeds, scratchLimitBytes });
  }
  return out;
}

/** FNV-1a of a case's name: a 32-bit number to mix into the seed. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Reference feeds for the float64 interpreter. */
export function referenceFeeds(
  feeds: Record<string, HostTensor>,
): Record<string, Float32Array | BigInt64Array | Uint8Array> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.data]));
}

export interface Comparison {
  output: number;
  dtype: DType;
  maxAbs: number;
  relL2: number;
  mismatches: number;
}

/** Compares one backend output with the reference: error norms for floats, exact matches otherwise. */
export function compare(
  i: number,
  got: HostTensor,
  want: { dtype: DType; data: Float64Array | BigInt64Array | Uint8Array },
): Comparison {
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  let mismatches = 0;
  const n = want.data.length;
  if (got.data.length !== n) return { output: i, dtype: want.dtype, maxAbs: Infinity, relL2: Infinity, mismatches: n };
  for (let j = 0; j < n; j++) {
    if (want.dtype === 'float32') {
      const a = Number(got.data[j]);
      const b = Number(want.data[j]);
      const d = Math.abs(a - b);
      if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? NaN : d;
      num += d * d;
      den += b * b;
      if (Number.isNaN(a) !== Number.isNaN(b)) mismatches++;
    } else if (got.data[j] !== want.data[j]) mismatches++;
  }
  return { output: i, dtype: want.dtype, maxAbs, relL2: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num), mismatches };
}
