// The tensor-graph IR: static shapes, a handful of plain ops, no backend details (what each op
// means, and how each backend runs it, is its entry in opset.ts).
// Every node has exactly one output; multi-output ops (top-k) are split into
// single-output nodes so the autodiff table and the emitters stay one-to-one.
import { opDef } from './opset.js';

export type DType = 'float32' | 'int64' | 'bool';
export type Shape = readonly number[];

/** Where a weight's bytes live: a tensor inside a file (e.g. a .safetensors), read as-is. */
export interface WeightRef {
  /** Absolute path of the file holding the raw little-endian tensor. */
  file: string;
  /** Byte offset of the tensor's first element in the file. */
  byteOffset: number;
  /** Stored element type; compute is float32, so the graph upcasts on load. */
  storedAs: 'float32' | 'float16' | 'bfloat16';
  /** Name in the user's file, for error messages. */
  name: string;
}

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'erf' | 'sigmoid' | 'tanh' | 'floor' | 'abs' | 'softplus';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'min' | 'max';
export type CompareOp = 'equal' | 'less' | 'greater';
export type ReduceOp = 'reduceSum' | 'reduceMean' | 'reduceMax';

export type OpSpec =
  | { op: 'input'; name: string }
  | { op: 'constant'; data: Float32Array | BigInt64Array | Uint8Array }
  | { op: 'fill'; value: number }
  | { op: 'weight'; ref: WeightRef }
  | { op: UnaryOp }
  | { op: BinaryOp }
  | { op: CompareOp }
  | { op: 'where' }
  | { op: 'cast'; to: DType }
  | { op: 'matmul' }
  | { op: 'conv2d'; stride: number; pad: number }
  | { op: 'convTranspose2d'; stride: number; pad: number; outputPad: number }
  | { op: ReduceOp; axes: number[]; keepDims: boolean }
  | { op: 'argMax'; axis: number; keepDims: boolean }
  | { op: 'topKIndices'; k: number; axis: number; largest: boolean }
  | { op: 'softmax'; axis: number }
  | { op: 'attention'; scale: number }
  | { op: 'attentionHeadMean'; scale: number }
  | { op: 'attentionGrad'; scale: number; wrt: 'q' | 'k' }
  | { op: 'attentionValuesGrad'; scale: number }
  | { op: 'attentionHeadMeanGrad'; scale: number; wrt: 'q' | 'k' }
  | { op: 'layerNorm'; eps: number }
  | { op: 'layerNormGrad'; eps: number }
  | { op: 'geglu' }
  | { op: 'gegluGrad' }
  | { op: 'reshape'; shape: number[] }
  | { op: 'transpose'; perm: number[] }
  | { op: 'expand'; shape: number[] }
  | { op: 'concat'; axis: number }
  | { op: 'slice'; axis: number; start: number; end: number }
  | { op: 'gatherElements'; axis: number }
  | { op: 'scatterAddElements'; axis: number }
  | { op: 'stopGradient' };

export type OpName = OpSpec['op'];

export interface Tensor {
  readonly id: number;
  readonly graph: Graph;
  readonly spec: OpSpec;
  readonly inputs: readonly Tensor[];
  readonly shape: Shape;
  readonly dtype: DType;
  /** Optional human label (layer path) used in errors and emitted node names. */
  label?: string;
}

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export const shapeStr = (s: Shape): string => `[${s.join(',')}]`;

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Numpy broadcasting of two shapes, or null when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

export class Graph {
  private nextId = 0;
  readonly nodes: Tensor[] = [];
  readonly inputs = new Map<string, Tensor>();
  /** Label prefix applied to nodes created inside `scope()`; gives errors a layer path. */
  private scopes: string[] = [];

  scope<T>(name: string, build: () => T): T {
    this.scopes.push(name);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  /** Adds a node after checking its inputs; shape errors name the op, the scope and the shapes. */
  add(spec: OpSpec, inputs: Tensor[]): Tensor {
    for (const t of inputs) {
      if (t.graph !== this) throw new GraphError(`${spec.op}: input #${t.id} belongs to another graph`);
    }
    const where = this.scopes.length ? ` at ${this.scopes.join('.')}` : '';
    const { shape, dtype } = inferShape(spec, inputs, where);
    const t: Tensor = {
      id: this.nextId++,
      graph: this,
      spec,
      inputs,
      shape,
      dtype,
      label: this.scopes.length ? this.scopes.join('.') : undefined,
    };
    this.nodes.push(t);
    if (spec.op === 'input') {
      if (this.inputs.has(spec.name)) throw new GraphError(`input '${spec.name}' declared twice`);
      this.inputs.set(spec.name, t);
    }
    return t;
  }

  // Leaves -------------------------------------------------------------------------------

  input(name: string, shape: Shape, dtype: DType = 'float32'): Tensor {
    return this.addLeaf({ op: 'input', name }, shape, dtype);
  }

  constant(data: Float32Array | number[], shape: Shape): Tensor {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    if (arr.length !== numel(shape)) {
      throw new GraphError(`constant: ${arr.length} values do not fill shape ${shapeStr(shape)}`);
    }
    return this.addLeaf({ op: 'constant', data: arr }, shape, 'float32');
  }

  constantInt(data: BigInt64Array | number[], shape: Shape): Tensor {
    const arr = data instanceof BigInt64Array ? data : BigInt64Array.from(data.map((v) => BigInt(v)));
    if (arr.length !== numel(shape)) {
      throw new GraphError(`constantInt: ${arr.length} values do not fill shape ${shapeStr(shape)}`);
    }
    return this.addLeaf({ op: 'constant', data: arr }, shape, 'int64');
  }

  scalar(value: number): Tensor {
    return this.constant([value], []);
  }

  fill(value: number, shape: Shape): Tensor {
    return this.addLeaf({ op: 'fill', value }, shape, 'float32');
  }

  weight(ref: WeightRef, shape: Shape): Tensor {
    return this.addLeaf({ op: 'weight', ref }, shape, 'float32');
  }

  private addLeaf(spec: OpSpec, shape: Shape, dtype: DType): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new GraphError(`${spec.op}: bad shape ${shapeStr(shape)}`);
    }
    const t: Tensor = {
      id: this.nextId++,
      graph: this,
      spec,
      inputs: [],
      shape: [...shape],
      dtype,
      label: this.scopes.length ? this.scopes.join('.') : undefined,
    };
    this.nodes.push(t);
    if (spec.op === 'input') {
      if (this.inputs.has(spec.name)) throw new GraphError(`input '${spec.name}' declared twice`);
      this.inputs.set(spec.name, t);
    }
    return t;
  }
}

/** Nodes needed to compute `outputs`, in a valid execution order (inputs before users). */
export function topoOrder(outputs: readonly Tensor[]): Tensor[] {
  const seen = new Set<number>();
  const order: Tensor[] = [];
  // Iterative DFS: UNet graphs are deep enough to overflow a recursive walk.
  const stack: Array<[Tensor, number]> = outputs.map((t) => [t, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    if (seen.has(t.id)) {
      stack.pop();
      continue;
    }
    if (i < t.inputs.length) {
      top[1] = i + 1;
      const child = t.inputs[i]!;
      if (!seen.has(child.id)) stack.push([child, 0]);
    } else {
      seen.add(t.id);
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

// Shape inference ---------------------------------------------------------------------------

function inferShape(spec: OpSpec, inputs: Tensor[], where: string): { shape: Shape; dtype: DType } {
  const fail = (msg: string): never => {
    const shapes = inputs.map((t) => `${shapeStr(t.shape)}:${t.dtype}`).join(' ');
    throw new GraphError(`${spec.op}${where}: ${msg} (inputs ${shapes || 'none'})`);
  };
  const def = opDef(spec.op);
  if (def.arity === 'many') {
    if (inputs.length < 1) fail('needs at least one input');
  } else if (def.arity !== 'leaf' && inputs.length !== def.arity) {
    fail(`expects ${def.arity} inputs, got ${inputs.length}`);
  }
  const rank = inputs[0]?.shape.length ?? 0;
  return def.shape(spec, inputs, {
    fail,
    float: (...ts) => {
      for (const t of ts) if (t.dtype !== 'float32') fail('expects float32 inputs');
    },
    axis: (axis) => {
      const a = axis < 0 ? axis + rank : axis;
      if (a < 0 || a >= rank) fail(`axis ${a} out of range for rank ${rank}`);
      return a;
    },
  });
}
