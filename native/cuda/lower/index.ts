// One lowering per op. Ops the op table marks as fused (graph/opset.ts, `cuda` field) run in
// fused elementwise kernels; every other op needs an entry here, which the type checker enforces.
import type { OpName } from '../../graph/ir.js';
import { fusedOps, type LoweredOp, type Spec } from '../../graph/opset.js';
import { attentionAlone } from './attention.js';
import { argMax, softmax, topKIndices } from './axis.js';
import type { Lowering } from './context.js';
import { conv2d, convTranspose2d } from './conv.js';
import { alias, concat, slice } from './copies.js';
import { fused } from './elementwise.js';
import { geglu } from './geglu.js';
import { gatherElements, scatterAddElements } from './indexed.js';
import { constant, input, weight } from './leaves.js';
import { matmul } from './matmul.js';
import { layerNorm } from './norm.js';
import { reduce } from './reduce.js';

const ownLowerings: { [K in LoweredOp]: Lowering<Spec<K>> } = {
  input,
  constant,
  weight,
  reshape: alias,
  stopGradient: alias,
  slice,
  concat,
  matmul,
  conv2d,
  convTranspose2d,
  reduceSum: reduce,
  reduceMean: reduce,
  reduceMax: reduce,
  softmax,
  attention: attentionAlone,
  attentionHeadMean: attentionAlone,
  attentionGrad: attentionAlone,
  attentionValuesGrad: attentionAlone,
  attentionHeadMeanGrad: attentionAlone,
  layerNorm,
  layerNormGrad: layerNorm,
  geglu,
  gegluGrad: geglu,
  argMax,
  topKIndices,
  gatherElements,
  scatterAddElements,
};

export const loweringOf = (op: OpName): Lowering =>
  fusedOps.has(op) ? fused : (ownLowerings[op as LoweredOp] as Lowering);

/** Ops whose result aliases their input's bytes, so any rank passes through them. */
export const aliases = (op: OpName): boolean => loweringOf(op) === alias;
