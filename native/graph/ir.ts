// The tensor-graph IR: static shapes, a handful of plain ops, no backend details.
// Every node has exactly one output; multi-output ops (top-k) are split into
// single-output nodes so the autodiff table and the emitters stay one-to-one.

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

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'erf' | 'sigmoid' | 'tanh' | 'floor' | 'abs';
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

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

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

function fail(spec: OpSpec, where: string, msg: string, inputs: Tensor[]): never {
  const shapes = inputs.map((t) => `${shapeStr(t.shape)}:${t.dtype}`).join(' ');
  throw new GraphError(`${spec.op}${where}: ${msg} (inputs ${shapes || 'none'})`);
}

function inferShape(spec: OpSpec, inputs: Tensor[], where: string): { shape: Shape; dtype: DType } {
  const arity = (n: number) => {
    if (inputs.length !== n) fail(spec, where, `expects ${n} inputs, got ${inputs.length}`, inputs);
  };
  const a = inputs[0]!;
  const requireFloat = (...ts: Tensor[]) => {
    for (const t of ts) if (t.dtype !== 'float32') fail(spec, where, 'expects float32 inputs', inputs);
  };
  const rank = a?.shape.length ?? 0;
  const checkAxis = (axis: number) => {
    if (axis < 0 || axis >= rank) fail(spec, where, `axis ${axis} out of range for rank ${rank}`, inputs);
  };
  switch (spec.op) {
    case 'input':
    case 'constant':
    case 'fill':
    case 'weight':
      fail(spec, where, 'leaves are created with their own builder', inputs);
    case 'neg':
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'erf':
    case 'sigmoid':
    case 'tanh':
    case 'floor':
    case 'abs':
    case 'stopGradient':
      arity(1);
      if (spec.op !== 'stopGradient') requireFloat(a);
      return { shape: a.shape, dtype: a.dtype };
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
    case 'pow':
    case 'min':
    case 'max':
    case 'equal':
    case 'less':
    case 'greater': {
      arity(2);
      const b = inputs[1]!;
      if (a.dtype !== b.dtype) fail(spec, where, 'input dtypes differ', inputs);
      if (spec.op !== 'equal') requireFloat(a, b);
      const shape = broadcastShapes(a.shape, b.shape);
      if (!shape) fail(spec, where, 'shapes do not broadcast', inputs);
      const cmp = spec.op === 'equal' || spec.op === 'less' || spec.op === 'greater';
      return { shape, dtype: cmp ? 'bool' : a.dtype };
    }
    case 'where': {
      arity(3);
      const [c, x, y] = inputs as [Tensor, Tensor, Tensor];
      if (c.dtype !== 'bool') fail(spec, where, 'condition must be bool', inputs);
      if (x.dtype !== y.dtype) fail(spec, where, 'branch dtypes differ', inputs);
      const s1 = broadcastShapes(c.shape, x.shape);
      const shape = s1 && broadcastShapes(s1, y.shape);
      if (!shape) fail(spec, where, 'shapes do not broadcast', inputs);
      return { shape, dtype: x.dtype };
    }
    case 'cast':
      arity(1);
      return { shape: a.shape, dtype: spec.to };
    case 'matmul': {
      arity(2);
      const b = inputs[1]!;
      requireFloat(a, b);
      if (a.shape.length < 2 || b.shape.length < 2) fail(spec, where, 'operands need rank >= 2', inputs);
      const m = a.shape[a.shape.length - 2]!;
      const k = a.shape[a.shape.length - 1]!;
      const k2 = b.shape[b.shape.length - 2]!;
      const n = b.shape[b.shape.length - 1]!;
      if (k !== k2) fail(spec, where, `inner dimensions ${k} and ${k2} differ`, inputs);
      const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
      if (!batch) fail(spec, where, 'batch dimensions do not broadcast', inputs);
      return { shape: [...batch, m, n], dtype: 'float32' };
    }
    case 'conv2d':
    case 'convTranspose2d': {
      arity(2);
      const w = inputs[1]!;
      requireFloat(a, w);
      if (a.shape.length !== 4 || w.shape.length !== 4) fail(spec, where, 'expects NCHW input and 4-d weight', inputs);
      const [n, c, h, wd] = a.shape as [number, number, number, number];
      const [w0, w1, kh, kw] = w.shape as [number, number, number, number];
      const { stride, pad } = spec;
      if (spec.op === 'conv2d') {
        if (w1 !== c) fail(spec, where, `weight expects ${w1} input channels, input has ${c}`, inputs);
        const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
        const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
        if (oh <= 0 || ow <= 0) fail(spec, where, 'kernel larger than padded input', inputs);
        return { shape: [n, w0, oh, ow], dtype: 'float32' };
      }
      // ConvTranspose weight layout is [C_in, C_out, kh, kw] as in ONNX and PyTorch.
      if (w0 !== c) fail(spec, where, `weight expects ${w0} input channels, input has ${c}`, inputs);
      const oh = (h - 1) * stride - 2 * pad + kh + spec.outputPad;
      const ow = (wd - 1) * stride - 2 * pad + kw + spec.outputPad;
      return { shape: [n, w1, oh, ow], dtype: 'float32' };
    }
    case 'reduceSum':
    case 'reduceMean':
    case 'reduceMax': {
      arity(1);
      requireFloat(a);
      const axes = spec.axes.map((x) => normAxis(x, rank));
      axes.forEach(checkAxis);
      if (new Set(axes).size !== axes.length) fail(spec, where, 'repeated axis', inputs);
      spec.axes = [...axes].sort((x, y) => x - y);
      const shape = spec.keepDims
        ? a.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : a.shape.filter((_, i) => !axes.includes(i));
      return { shape, dtype: 'float32' };
    }
    case 'argMax': {
      arity(1);
      requireFloat(a);
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      const ax = spec.axis;
      const shape = spec.keepDims ? a.shape.map((d, i) => (i === ax ? 1 : d)) : a.shape.filter((_, i) => i !== ax);
      return { shape, dtype: 'int64' };
    }
    case 'topKIndices': {
      arity(1);
      requireFloat(a);
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      const ax = spec.axis;
      if (spec.k < 1 || spec.k > a.shape[ax]!) fail(spec, where, `k=${spec.k} outside 1..${a.shape[ax]}`, inputs);
      return { shape: a.shape.map((d, i) => (i === ax ? spec.k : d)), dtype: 'int64' };
    }
    case 'softmax':
      arity(1);
      requireFloat(a);
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      return { shape: a.shape, dtype: 'float32' };
    case 'reshape': {
      arity(1);
      let shape = [...spec.shape];
      const free = shape.indexOf(-1);
      if (free >= 0) {
        const rest = numel(shape.filter((_, i) => i !== free));
        if (rest === 0 || numel(a.shape) % rest !== 0)
          fail(spec, where, `cannot infer -1 in ${shapeStr(spec.shape)}`, inputs);
        shape[free] = numel(a.shape) / rest;
        spec.shape = shape;
      }
      shape = spec.shape;
      if (numel(shape) !== numel(a.shape)) fail(spec, where, `cannot reshape to ${shapeStr(shape)}`, inputs);
      return { shape, dtype: a.dtype };
    }
    case 'transpose': {
      arity(1);
      const sorted = [...spec.perm].sort((x, y) => x - y);
      if (spec.perm.length !== rank || sorted.some((v, i) => v !== i)) {
        fail(spec, where, `perm ${shapeStr(spec.perm)} is not a permutation of rank ${rank}`, inputs);
      }
      return { shape: spec.perm.map((p) => a.shape[p]!), dtype: a.dtype };
    }
    case 'expand': {
      arity(1);
      const shape = broadcastShapes(a.shape, spec.shape);
      if (!shape || shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
        fail(spec, where, `cannot expand to ${shapeStr(spec.shape)}`, inputs);
      }
      return { shape, dtype: a.dtype };
    }
    case 'concat': {
      if (inputs.length < 1) fail(spec, where, 'needs at least one input', inputs);
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      const ax = spec.axis;
      let total = 0;
      for (const t of inputs) {
        if (t.dtype !== a.dtype || t.shape.length !== rank || t.shape.some((d, i) => i !== ax && d !== a.shape[i])) {
          fail(spec, where, `inputs disagree off axis ${ax}`, inputs);
        }
        total += t.shape[ax]!;
      }
      return { shape: a.shape.map((d, i) => (i === ax ? total : d)), dtype: a.dtype };
    }
    case 'slice': {
      arity(1);
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      const dim = a.shape[spec.axis]!;
      if (spec.start < 0 || spec.end > dim || spec.start >= spec.end) {
        fail(spec, where, `range ${spec.start}:${spec.end} outside axis of size ${dim}`, inputs);
      }
      const ax = spec.axis;
      return { shape: a.shape.map((d, i) => (i === ax ? spec.end - spec.start : d)), dtype: a.dtype };
    }
    case 'gatherElements': {
      arity(2);
      const idx = inputs[1]!;
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      if (idx.dtype !== 'int64' || idx.shape.length !== rank)
        fail(spec, where, 'indices must be int64 of the same rank', inputs);
      return { shape: idx.shape, dtype: a.dtype };
    }
    case 'scatterAddElements': {
      // inputs: base (the result's shape, usually zeros), indices, updates.
      arity(3);
      const [, idx, upd] = inputs as [Tensor, Tensor, Tensor];
      spec.axis = normAxis(spec.axis, rank);
      checkAxis(spec.axis);
      if (idx.dtype !== 'int64' || idx.shape.length !== rank)
        fail(spec, where, 'indices must be int64 of the same rank', inputs);
      if (upd.shape.length !== rank || upd.shape.some((d, i) => d !== idx.shape[i])) {
        fail(spec, where, 'updates must match indices in shape', inputs);
      }
      requireFloat(a, upd);
      return { shape: a.shape, dtype: a.dtype };
    }
  }
}
