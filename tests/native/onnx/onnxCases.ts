// The ONNX operator cases: small graphs that together use every IR op, with their feeds. Shared
// by the ONNX Runtime check (ops.test.ts) and the emitted-bytes digests (digests.test.ts).
import type { Graph, Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import type { HostTensor } from '../../../native/runtime/backend.js';
import { randomFeed, type FloatFeed } from '../../support/ortCompare.js';
import { seededRandom } from '../../support/random.js';

export interface OpCase {
  name: string;
  build: (g: Graph) => { outputs: Tensor[]; feeds: Record<string, FloatFeed | HostTensor> };
}

const int64Feed = (shape: number[], hi: number, seed: number): HostTensor => {
  const r = seededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'int64', shape, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * hi))) };
};

// Inputs away from the edges of each op's domain (log/sqrt/pow need positives, div a safe divisor).
export const onnxOpCases: OpCase[] = [
  {
    name: 'unary ops',
    build: (g) => {
      const x = g.input('x', [3, 4]);
      const p = g.input('p', [3, 4]);
      return {
        outputs: [
          o.neg(x),
          o.exp(x),
          o.log(p),
          o.sqrt(p),
          o.erf(x),
          o.sigmoid(x),
          o.tanh(x),
          o.floor(o.mul(x, 3)),
          o.abs(x),
        ],
        feeds: { x: randomFeed(1, [3, 4], -2, 2), p: randomFeed(2, [3, 4], 0.1, 3) },
      };
    },
  },
  {
    name: 'binary ops with numpy broadcasting',
    build: (g) => {
      const a = g.input('a', [2, 1, 4]);
      const b = g.input('b', [3, 1]);
      const pos = g.input('pos', [2, 1, 4]);
      return {
        outputs: [o.add(a, b), o.sub(a, b), o.mul(a, b), o.div(a, b), o.pow(pos, b), o.minimum(a, b), o.maximum(a, b)],
        feeds: { a: randomFeed(3, [2, 1, 4]), b: randomFeed(4, [3, 1], 0.5, 2), pos: randomFeed(5, [2, 1, 4], 0.2, 2) },
      };
    },
  },
  {
    name: 'comparisons, where and casts',
    build: (g) => {
      const a = g.input('a', [2, 3]);
      const b = g.input('b', [3]);
      const i = g.input('i', [2, 3], 'int64');
      const gt = o.greater(a, b);
      return {
        outputs: [
          gt,
          o.less(a, b),
          o.equal(i, g.constantInt([1, 2, 1], [3])),
          o.equal(o.floor(a), o.floor(b)),
          o.where(gt, a, b),
          o.where(o.less(a, 0), i, g.constantInt([7], [1])),
          o.cast(o.mul(a, 5), 'int64'),
          o.cast(i, 'float32'),
          o.cast(gt, 'float32'),
          o.cast(a, 'bool'),
        ],
        feeds: { a: randomFeed(6, [2, 3], -2, 2), b: randomFeed(7, [3], -2, 2), i: int64Feed([2, 3], 3, 8) },
      };
    },
  },
  {
    name: 'batched matmul with broadcast batch dimensions',
    build: (g) => {
      const a = g.input('a', [2, 1, 3, 5]);
      const b = g.input('b', [4, 5, 6]);
      return { outputs: [o.matmul(a, b)], feeds: { a: randomFeed(9, [2, 1, 3, 5]), b: randomFeed(10, [4, 5, 6]) } };
    },
  },
  {
    name: 'conv2d and convTranspose2d with stride, pad and output padding',
    build: (g) => {
      const x = g.input('x', [2, 3, 7, 6]);
      const w = g.input('w', [4, 3, 3, 3]);
      const wt = g.input('wt', [3, 2, 3, 3]);
      return {
        outputs: [
          o.conv2d(x, w, { stride: 2, pad: 1 }),
          o.conv2d(x, w),
          o.convTranspose2d(x, wt, { stride: 2, pad: 1, outputPad: 1 }),
        ],
        feeds: { x: randomFeed(11, [2, 3, 7, 6]), w: randomFeed(12, [4, 3, 3, 3]), wt: randomFeed(13, [3, 2, 3, 3]) },
      };
    },
  },
  {
    name: 'reductions, argMax and topKIndices',
    build: (g) => {
      const x = g.input('x', [3, 4, 5]);
      return {
        outputs: [
          o.sum(x, [0, 2]),
          o.sum(x, [1], true),
          o.sum(x, []),
          o.mean(x, [2]),
          o.mean(x, [0, 1], true),
          o.reduceMax(x, [1]),
          o.reduceMax(x, [2], true),
          o.argMax(x, 1),
          o.argMax(x, 2, true),
          o.topKIndices(x, 3, 2, true),
          o.topKIndices(x, 2, 0, false),
        ],
        feeds: { x: randomFeed(14, [3, 4, 5]) },
      };
    },
  },
  {
    name: 'softmax, reshape, transpose, expand, concat, slice',
    build: (g) => {
      const x = g.input('x', [2, 3, 4]);
      const y = g.input('y', [2, 1, 4]);
      return {
        outputs: [
          o.softmax(x, 1),
          o.softmax(x, -1),
          o.reshape(x, [6, -1]),
          o.transpose(x, [2, 0, 1]),
          o.expand(y, [2, 5, 4]),
          o.concat([x, y, x], 1),
          o.slice(x, 2, 1, 3),
        ],
        feeds: { x: randomFeed(15, [2, 3, 4], -3, 3), y: randomFeed(16, [2, 1, 4]) },
      };
    },
  },
  {
    name: 'gatherElements and scatterAddElements with repeated indices',
    build: (g) => {
      const x = g.input('x', [3, 5]);
      const idx = g.input('idx', [3, 4], 'int64');
      const upd = g.input('upd', [3, 4]);
      return {
        outputs: [
          o.gatherElements(x, idx, 1),
          o.scatterAddElements(x, idx, upd, 1),
          o.scatterAddElements(
            g.fill(0, [5, 4]),
            g.constantInt([4, 0, 4, 4, 1, 1, 0, 2], [2, 4]),
            o.slice(upd, 0, 0, 2),
            0,
          ),
        ],
        feeds: { x: randomFeed(17, [3, 5]), idx: int64Feed([3, 4], 5, 18), upd: randomFeed(19, [3, 4]) },
      };
    },
  },
  {
    name: 'leaves (fill, constants, scalar) and stopGradient',
    build: (g) => {
      const x = g.input('x', [2, 3]);
      return {
        outputs: [
          o.add(x, g.fill(2.5, [2, 3])),
          g.fill(-1, []),
          o.mul(x, g.constant([1, 2, 3], [3])),
          o.stopGradient(o.mul(x, g.scalar(4))),
          o.cast(g.constantInt([3, -2], [2]), 'float32'),
          x,
        ],
        feeds: { x: randomFeed(20, [2, 3]) },
      };
    },
  },
  {
    name: 'GEGLU and its gradient',
    build: (g) => {
      const h = g.input('h', [2, 3, 10]);
      const bias = g.input('bias', [10]);
      const gOut = g.input('gOut', [2, 3, 5]);
      return {
        outputs: [o.geglu(h, bias), o.gegluGrad(h, bias, gOut)],
        feeds: { h: randomFeed(44, [2, 3, 10], -3, 3), bias: randomFeed(45, [10]), gOut: randomFeed(46, [2, 3, 5]) },
      };
    },
  },
  {
    name: 'layer norm and its x gradient',
    build: (g) => {
      const x = g.input('x', [2, 3, 7]);
      const w = g.input('w', [7]);
      const b = g.input('b', [7]);
      const gOut = g.input('gOut', [2, 3, 7]);
      return {
        outputs: [o.layerNorm(x, w, b, 1e-5), o.layerNormGrad(x, w, gOut, 1e-2)],
        feeds: {
          x: randomFeed(40, [2, 3, 7], -2, 2),
          w: randomFeed(41, [7]),
          b: randomFeed(42, [7]),
          gOut: randomFeed(43, [2, 3, 7]),
        },
      };
    },
  },
  {
    name: 'attention, head-mean maps and their gradients (keys per batch element and shared)',
    build: (g) => {
      const q = g.input('q', [2, 3, 4, 5]);
      const k = g.input('k', [2, 3, 6, 5]);
      const v = g.input('v', [2, 3, 6, 7]);
      const shared = g.input('shared', [1, 3, 6, 5]);
      const sharedValues = g.input('sharedValues', [1, 3, 6, 7]);
      const gOut = g.input('gOut', [2, 3, 4, 7]);
      const gMaps = g.input('gMaps', [2, 4, 6]);
      return {
        outputs: [
          o.attention(q, k, v, 0.4),
          o.attentionHeadMean(q, shared, 0.4),
          ...(['q', 'k'] as const).map((wrt) => o.attentionGrad(q, k, v, gOut, 0.4, wrt)),
          ...(['q', 'k'] as const).map((wrt) => o.attentionGrad(q, shared, sharedValues, gOut, 0.4, wrt)),
          o.attentionValuesGrad(q, k, gOut, 0.4),
          o.attentionValuesGrad(q, shared, gOut, 0.4),
          ...(['q', 'k'] as const).map((wrt) => o.attentionHeadMeanGrad(q, k, gMaps, 0.4, wrt)),
          ...(['q', 'k'] as const).map((wrt) => o.attentionHeadMeanGrad(q, shared, gMaps, 0.4, wrt)),
          ...(['q', 'k'] as const).map((wrt) => o.attentionGrad(q, shared, sharedValues, gOut, 0.4, wrt, gMaps)),
        ],
        feeds: {
          q: randomFeed(22, [2, 3, 4, 5], -2, 2),
          k: randomFeed(23, [2, 3, 6, 5], -2, 2),
          v: randomFeed(24, [2, 3, 6, 7]),
          shared: randomFeed(25, [1, 3, 6, 5], -2, 2),
          sharedValues: randomFeed(26, [1, 3, 6, 7]),
          gOut: randomFeed(27, [2, 3, 4, 7]),
          gMaps: randomFeed(28, [2, 4, 6]),
        },
      };
    },
  },
  {
    name: 'softplus, far into both tails',
    build: (g) => {
      const x = g.input('x', [4, 5]);
      return { outputs: [o.softplus(x)], feeds: { x: randomFeed(21, [4, 5], -12, 12) } };
    },
  },
];
