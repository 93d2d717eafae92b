// The ONNX operators the emitter may produce, and for each the element types it may feed them.
// Every entry is implemented by BOTH ONNX Runtime's CPU and CUDA execution providers at OPSET
// (checked against onnxruntime docs/OperatorKernels.md, the table generated from registered
// kernels). A graph that runs on CPU in CI then also runs where a CUDA provider is installed.

import type { OnnxDataTypeName } from './proto.js';

export const OPSET = 18;
/** ONNX IR version 8 is the first that allows opset 18. */
export const IR_VERSION = 8;

export interface OpSupport {
  /** Which input carries the op's type parameter T (Where: the branches, not the condition). */
  typedInput: number;
  /** Element types of that input implemented by both CPU and CUDA. */
  types: readonly OnnxDataTypeName[];
}

const float: OpSupport = { typedInput: 0, types: ['float'] };
const anyPlain: OpSupport = { typedInput: 0, types: ['float', 'int64', 'bool'] };

export const supportedOps = {
  Identity: anyPlain,
  Cast: { typedInput: 0, types: ['float', 'float16', 'bfloat16', 'int64', 'bool'] },
  ConstantOfShape: { typedInput: 0, types: ['int64'] },
  Neg: float,
  Exp: float,
  Log: float,
  Sqrt: float,
  Erf: float,
  Sigmoid: float,
  Tanh: float,
  Floor: float,
  Abs: float,
  Softplus: float,
  Add: float,
  Sub: float,
  Mul: float,
  Div: float,
  Pow: float,
  Min: float,
  Max: float,
  Equal: anyPlain,
  Less: float,
  Greater: float,
  // CUDA's Where has no bool branch kernel.
  Where: { typedInput: 1, types: ['float', 'int64'] },
  MatMul: float,
  Conv: float,
  ConvTranspose: float,
  ReduceSum: float,
  ReduceMean: float,
  ReduceMax: float,
  ArgMax: float,
  TopK: float,
  Softmax: float,
  Reshape: anyPlain,
  Transpose: anyPlain,
  Expand: anyPlain,
  Concat: anyPlain,
  Slice: anyPlain,
  GatherElements: anyPlain,
  // reduction="add" (opset 16+): CPU implements it, and the CUDA kernel accepts none/add/mul/max/min
  // (onnxruntime/core/providers/cuda/tensor/scatter_elements.h).
  ScatterElements: float,
} as const satisfies Record<string, OpSupport>;

/** The ONNX operators the op table (graph/opset.ts) may map to. */
export type OnnxOp = keyof typeof supportedOps;
