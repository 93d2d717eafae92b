// A float64 reference interpreter of the IR. It exists for tests: finite differences and
// backend parity checks need an answer free of float32 rounding, so float32 tensors are
// computed here in double precision, each op by its reference kernel in the op table.
import { closeSync, openSync, readSync } from 'node:fs';
import type { OpSpec, Tensor, WeightRef } from './ir.js';
import { GraphError, numel, shapeStr, topoOrder } from './ir.js';
import { opDef, type LeafValues } from './opset.js';
import { describe, fail, type ReferenceData, type ReferenceValue } from './reference.js';

export type { ReferenceData, ReferenceValue } from './reference.js';
export { erf, stridesOf } from './reference.js';

/** What a feed may hold; float32 inputs also accept a Float32Array (e.g. a backend's output). */
export type ReferenceFeed = ReferenceData | Float32Array;

export interface EvaluateOptions {
  /** Supplies a weight's values; by default they are read from the file named in its WeightRef. */
  loadWeight?: (t: Tensor) => Float64Array;
}

/** Computes `outputs` from `feeds` (one per graph input they depend on, by input name). */
export function evaluate(
  outputs: readonly Tensor[],
  feeds: Record<string, ReferenceFeed>,
  opts: EvaluateOptions = {},
): ReferenceValue[] {
  const order = topoOrder(outputs);
  // Free each intermediate after its last reader so larger test graphs stay within memory.
  const lastUse = new Map<number, number>();
  order.forEach((t, step) => t.inputs.forEach((x) => lastUse.set(x.id, step)));
  const keep = new Set(outputs.map((t) => t.id));
  const values = new Map<number, ReferenceValue>();
  const loadWeight = opts.loadWeight ?? ((t: Tensor) => readWeight(t));
  const leaves: LeafValues = {
    feed: (t, name) => feedFor(t, name, feeds),
    weight: (t, ref) => {
      const w = loadWeight(t);
      if (w.length !== numel(t.shape))
        fail(t, `weight '${ref.name}' has ${w.length} values, shape ${shapeStr(t.shape)}`);
      return w;
    },
  };
  order.forEach((t, step) => {
    const args = t.inputs.map((x) => values.get(x.id)!);
    let data: ReferenceData;
    try {
      data = opDef(t.spec.op).reference(t, t.spec, args, leaves);
    } catch (e) {
      if (e instanceof GraphError) throw e;
      throw new GraphError(`${describe(t)}: ${(e as Error).message}`);
    }
    if (data.length !== numel(t.shape)) {
      throw new GraphError(`${describe(t)}: produced ${data.length} values for shape ${shapeStr(t.shape)}`);
    }
    values.set(t.id, { shape: [...t.shape], dtype: t.dtype, data });
    for (const x of t.inputs) if (lastUse.get(x.id) === step && !keep.has(x.id)) values.delete(x.id);
  });
  return outputs.map((t) => values.get(t.id)!);
}

function feedFor(t: Tensor, name: string, feeds: Record<string, ReferenceFeed>): ReferenceData {
  const v = feeds[name];
  if (v === undefined) throw new GraphError(`input '${name}' was not fed`);
  const want =
    t.dtype === 'float32' ? 'Float64Array or Float32Array' : t.dtype === 'int64' ? 'BigInt64Array' : 'Uint8Array';
  const ok =
    t.dtype === 'float32'
      ? v instanceof Float64Array || v instanceof Float32Array
      : t.dtype === 'int64'
        ? v instanceof BigInt64Array
        : v instanceof Uint8Array;
  if (!ok) throw new GraphError(`input '${name}' (${t.dtype}) must be fed a ${want}`);
  if (v.length !== numel(t.shape)) {
    throw new GraphError(`input '${name}' has ${v.length} values, shape ${shapeStr(t.shape)} needs ${numel(t.shape)}`);
  }
  return v instanceof Float32Array ? Float64Array.from(v) : v;
}

// Weights ------------------------------------------------------------------------------------

/** Reads a weight's raw little-endian values from its file and widens them to float64. */
export function readWeight(t: Tensor): Float64Array {
  const spec = t.spec as Extract<OpSpec, { op: 'weight' }>;
  const ref: WeightRef = spec.ref;
  const n = numel(t.shape);
  const width = ref.storedAs === 'float32' ? 4 : 2;
  const bytes = Buffer.alloc(n * width);
  let fd: number;
  try {
    fd = openSync(ref.file, 'r');
  } catch (e) {
    throw new GraphError(`weight '${ref.name}': cannot open ${ref.file}: ${(e as Error).message}`);
  }
  try {
    const got = readSync(fd, bytes, 0, bytes.length, ref.byteOffset);
    if (got !== bytes.length) {
      throw new GraphError(
        `weight '${ref.name}': ${ref.file} ends after ${got} of ${bytes.length} bytes at offset ${ref.byteOffset}`,
      );
    }
  } finally {
    closeSync(fd);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (ref.storedAs === 'float32') out[i] = bytes.readFloatLE(i * 4);
    else if (ref.storedAs === 'float16') out[i] = halfToNumber(bytes.readUInt16LE(i * 2));
    else out[i] = bfloat16ToNumber(bytes.readUInt16LE(i * 2));
  }
  return out;
}

const scratch = new DataView(new ArrayBuffer(4));

function bfloat16ToNumber(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
