// IR → ONNX model bytes. Weights become external-data initializers that point straight into the
// user's weight files (no copy), either through hard links placed next to the model ('linked') or
// through byte ranges the runtime reads into memory and hands to ONNX Runtime ('inMemory').
import { statSync } from 'node:fs';
import type { DType, OpName, Tensor, WeightRef } from '../graph/ir.js';
import { GraphError, numel, shapeStr, topoOrder } from '../graph/ir.js';
import {
  encodeModel,
  OnnxDataType,
  type AttributeValue,
  type NodeMessage,
  type OnnxDataTypeName,
  type TensorMessage,
  type ValueInfoMessage,
} from './proto.js';
import { opDef } from '../graph/opset.js';
import { IR_VERSION, OPSET, supportedOps, type OnnxOp, type OpSupport } from './supportedOps.js';

export type WeightLayout = 'linked' | 'inMemory';

/** 'linked' layout: the runtime hard-links `file` into the model folder under `location`. */
export interface LinkedWeightFile {
  location: string;
  file: string;
}

export interface WeightPiece {
  file: string;
  offset: number;
  length: number;
}

/** 'inMemory' layout: the runtime concatenates `pieces` into one buffer named `location`. */
export interface WeightChunk {
  location: string;
  byteLength: number;
  pieces: WeightPiece[];
}

export interface GraphPort {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface EmittedModel {
  bytes: Uint8Array;
  /** Graph inputs (IR inputs reachable from the outputs), in declaration order. */
  inputs: GraphPort[];
  /** One per requested output, in order. */
  outputs: GraphPort[];
  linkedFiles: LinkedWeightFile[];
  chunks: WeightChunk[];
}

export interface EmitOptions {
  name?: string;
  weightLayout?: WeightLayout;
  /** Largest in-memory chunk; one Buffer per chunk, so keep well under Node's Buffer limit. */
  chunkBytes?: number;
}

const GiB = 1024 ** 3;

export const storedBytesPerElement: Readonly<Record<WeightRef['storedAs'], number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
};

const onnxType: Readonly<Record<DType, OnnxDataTypeName>> = { float32: 'float', int64: 'int64', bool: 'bool' };
const storedOnnxType: Readonly<Record<WeightRef['storedAs'], OnnxDataTypeName>> = {
  float32: 'float',
  float16: 'float16',
  bfloat16: 'bfloat16',
};

/** How a node is named in errors: its layer label, op, id and shapes. */
export function describeNode(t: Tensor): string {
  const ins = t.inputs.map((i) => `${shapeStr(i.shape)}:${i.dtype}`).join(' ');
  return `node '${t.label ?? '(unlabelled)'}' ${t.spec.op}#${t.id} (inputs ${ins || 'none'} → ${shapeStr(t.shape)}:${t.dtype})`;
}

const onnxNodeName = (t: Tensor, suffix = ''): string => `${t.label ? `${t.label}/` : ''}${t.spec.op}#${t.id}${suffix}`;

// Internal value names start with '%' so they can never collide with the caller's input names.
const valueName = (t: Tensor): string => `%t${t.id}`;

const bytesOf = (a: Float32Array | BigInt64Array | Uint8Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Where the 'linked' layout expects each weight file: `w<i>.bin` in order of first use. Exported so
 * the runtime can place the hard links (and learn whether it can) before emitting anything.
 */
export function linkedWeightFiles(outputs: readonly Tensor[]): LinkedWeightFile[] {
  const files = new Map<string, LinkedWeightFile>();
  for (const t of topoOrder(outputs)) {
    if (t.spec.op === 'weight' && !files.has(t.spec.ref.file)) {
      files.set(t.spec.ref.file, { location: `w${files.size}.bin`, file: t.spec.ref.file });
    }
  }
  return [...files.values()];
}

class WeightPlacer {
  private sizes = new Map<string, number>();
  private readonly linked: Map<string, LinkedWeightFile>;
  readonly chunks: WeightChunk[] = [];
  private pieces = new Map<string, { location: string; offset: number }>();

  constructor(
    private readonly layout: WeightLayout,
    private readonly chunkBytes: number,
    linkedFiles: readonly LinkedWeightFile[],
  ) {
    this.linked = new Map(linkedFiles.map((f) => [f.file, f]));
  }

  get linkedFiles(): LinkedWeightFile[] {
    return [...this.linked.values()];
  }

  place(t: Tensor, ref: WeightRef): TensorMessage['external'] & object {
    const per = storedBytesPerElement[ref.storedAs];
    if (per === undefined) {
      throw new GraphError(
        `${describeNode(t)}: weight '${ref.name}' is stored as '${ref.storedAs}', which the runtime cannot take (float32, float16, bfloat16)`,
      );
    }
    const length = numel(t.shape) * per;
    const size = this.fileSize(t, ref);
    if (!Number.isInteger(ref.byteOffset) || ref.byteOffset < 0 || ref.byteOffset + length > size) {
      throw new GraphError(
        `${describeNode(t)}: weight '${ref.name}' needs bytes ${ref.byteOffset}..${ref.byteOffset + length} of ${ref.file}, but the file has ${size} bytes`,
      );
    }
    if (this.layout === 'linked') {
      const entry = this.linked.get(ref.file)!;
      return { location: entry.location, offset: ref.byteOffset, length };
    }
    const key = `${ref.file}\0${ref.byteOffset}\0${length}`;
    let at = this.pieces.get(key);
    if (!at) {
      let chunk = this.chunks[this.chunks.length - 1];
      if (!chunk || (chunk.byteLength > 0 && chunk.byteLength + length > this.chunkBytes)) {
        chunk = { location: `m${this.chunks.length}.bin`, byteLength: 0, pieces: [] };
        this.chunks.push(chunk);
      }
      at = { location: chunk.location, offset: chunk.byteLength };
      chunk.pieces.push({ file: ref.file, offset: ref.byteOffset, length });
      chunk.byteLength += length;
      this.pieces.set(key, at);
    }
    return { location: at.location, offset: at.offset, length };
  }

  private fileSize(t: Tensor, ref: WeightRef): number {
    let size = this.sizes.get(ref.file);
    if (size === undefined) {
      try {
        size = statSync(ref.file).size;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? String(e);
        throw new GraphError(`${describeNode(t)}: weight '${ref.name}': cannot read ${ref.file} (${code})`);
      }
      this.sizes.set(ref.file, size);
    }
    return size;
  }
}

class ModelBuilder {
  readonly nodes: NodeMessage[] = [];
  readonly initializers: TensorMessage[] = [];
  private readonly types = new Map<string, OnnxDataTypeName>();
  private readonly int64Consts = new Map<string, string>();
  private readonly floatConsts = new Map<string, string>();

  initializer(msg: TensorMessage): string {
    this.initializers.push(msg);
    this.types.set(msg.name, msg.dataType);
    return msg.name;
  }

  declare(name: string, type: OnnxDataTypeName): void {
    this.types.set(name, type);
  }

  /** A 1-D int64 initializer (axes, shapes, starts…), shared between nodes that use the same values. */
  int64s(values: readonly number[]): string {
    const key = values.join(',');
    let name = this.int64Consts.get(key);
    if (!name) {
      name = `%c${this.int64Consts.size}`;
      this.int64Consts.set(key, name);
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      this.initializer({ name, dataType: 'int64', dims: [values.length], raw: bytesOf(data) });
    }
    return name;
  }

  /** A 1-D float initializer (scales), shared between nodes that use the same values. */
  floats(values: readonly number[]): string {
    const key = values.join(',');
    let name = this.floatConsts.get(key);
    if (!name) {
      name = `%f${this.floatConsts.size}`;
      this.floatConsts.set(key, name);
      this.initializer({ name, dataType: 'float', dims: [values.length], raw: bytesOf(Float32Array.from(values)) });
    }
    return name;
  }

  /** Adds a node after checking that both CPU and CUDA providers implement it for these types. */
  node(
    t: Tensor,
    opType: OnnxOp,
    inputs: readonly string[],
    outputs: readonly string[],
    outType: OnnxDataTypeName,
    attributes?: Record<string, AttributeValue>,
    suffix = '',
  ): void {
    const support: OpSupport = supportedOps[opType];
    const typed = inputs[support.typedInput];
    const type = typed === undefined ? undefined : this.types.get(typed);
    if (type === undefined || !support.types.includes(type)) {
      throw new GraphError(
        `${describeNode(t)}: ONNX ${opType} on ${type ?? 'an unknown type'} is not implemented by both ONNX Runtime's CPU and CUDA providers`,
      );
    }
    this.nodes.push({ name: onnxNodeName(t, suffix), opType, inputs, outputs, attributes });
    for (const o of outputs) this.types.set(o, outType);
  }
}

// Their values are graph inputs and initializers, which cannot also be graph outputs.
const LEAVES: ReadonlySet<OpName> = new Set(['input', 'constant', 'weight']);

/** Serialises `outputs` and everything they depend on as one ONNX model (opset OPSET). */
export function emitModel(outputs: readonly Tensor[], opts: EmitOptions = {}): EmittedModel {
  if (outputs.length === 0) throw new GraphError('emit: no outputs requested');
  const order = topoOrder(outputs);
  const b = new ModelBuilder();
  const layout = opts.weightLayout ?? 'linked';
  const placer = new WeightPlacer(
    layout,
    opts.chunkBytes ?? GiB,
    layout === 'linked' ? linkedWeightFiles(outputs) : [],
  );
  const names = new Map<number, string>();
  const weightValues = new Map<string, string>();
  const inputNodes: Tensor[] = [];

  const nameOf = (t: Tensor): string => {
    const n = names.get(t.id);
    if (n === undefined) throw new GraphError(`${describeNode(t)}: used before it was emitted`);
    return n;
  };

  for (const t of order) {
    const out = valueName(t);
    const ins = t.inputs.map(nameOf);
    const type = onnxType[t.dtype];
    names.set(t.id, out);
    const def = opDef(t.spec.op);
    // An op that maps to several ONNX nodes names each apart: the first as the op, then /1, /2…
    let emitted = 0;
    // Only a spec cast past the type checker can name an op the table lacks.
    if (!def) throw new GraphError(`${describeNode(t)}: no ONNX mapping for op '${t.spec.op}'`);
    def.onnx({
      t,
      spec: t.spec,
      ins,
      out,
      node: (opType, inputs = ins, attributes, outputs = [out]) =>
        b.node(t, opType, inputs, outputs, type, attributes, emitted++ === 0 ? '' : `/${emitted - 1}`),
      int64s: (values) => b.int64s(values),
      floats: (values) => b.floats(values),
      dataType: (d) => OnnxDataType[onnxType[d]],
      input: (name) => {
        if (name.startsWith('%')) throw new GraphError(`${describeNode(t)}: input names may not start with '%'`);
        names.set(t.id, name);
        b.declare(name, type);
        inputNodes.push(t);
      },
      constant: (data) => b.initializer({ name: out, dataType: type, dims: t.shape, raw: bytesOf(data) }),
      weight: (ref) => {
        const external = placer.place(t, ref);
        const key = `${ref.file}\0${ref.byteOffset}\0${ref.storedAs}\0${t.shape.join(',')}`;
        const existing = weightValues.get(key);
        if (existing) {
          names.set(t.id, existing);
          return;
        }
        weightValues.set(key, out);
        const stored = storedOnnxType[ref.storedAs];
        if (stored === 'float') {
          b.initializer({ name: out, dataType: stored, dims: t.shape, external });
        } else {
          const raw = b.initializer({ name: `${out}:${stored}`, dataType: stored, dims: t.shape, external });
          b.node(t, 'Cast', [raw], [out], type, { to: { kind: 'int', value: OnnxDataType.float } }, '/upcast');
        }
      },
    });
  }

  // A graph output must be a node output with a unique name: leaves and repeats get an Identity.
  const used = new Set<string>();
  const outPorts: GraphPort[] = outputs.map((t, i) => {
    let name = nameOf(t);
    if (LEAVES.has(t.spec.op) || used.has(name)) {
      const alias = `%out${i}`;
      b.node(t, 'Identity', [name], [alias], onnxType[t.dtype], undefined, `/output${i}`);
      name = alias;
    }
    used.add(name);
    return { name, dtype: t.dtype, shape: [...t.shape] };
  });

  const inputs: GraphPort[] = inputNodes
    .sort((x, y) => x.id - y.id)
    .map((t) => ({ name: nameOf(t), dtype: t.dtype, shape: [...t.shape] }));
  const info = (p: GraphPort): ValueInfoMessage => ({ name: p.name, dataType: onnxType[p.dtype], dims: p.shape });
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opset: OPSET,
    producerName: 'keypoint-workstation',
    producerVersion: '1',
    graph: {
      name: opts.name ?? 'graph',
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: inputs.map(info),
      outputs: outPorts.map(info),
    },
  });
  return { bytes, inputs, outputs: outPorts, linkedFiles: placer.linkedFiles, chunks: placer.chunks };
}
