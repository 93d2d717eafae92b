// A minimal protobuf writer for the ONNX messages we emit. Field numbers follow onnx/onnx.proto
// (checked against the upstream schema); we only ever write, so no reader and no protobufjs.

/** TensorProto.DataType values we use. */
export const OnnxDataType = {
  float: 1,
  uint8: 2,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
} as const;
export type OnnxDataTypeName = keyof typeof OnnxDataType;

/** AttributeProto.AttributeType values we use. */
const AttrType = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

export interface TensorMessage {
  name: string;
  dataType: OnnxDataTypeName;
  dims: readonly number[];
  /** Little-endian element bytes stored inside the model. */
  raw?: Uint8Array;
  /** Bytes stored outside the model: a file relative to the model's folder. */
  external?: { location: string; offset: number; length: number };
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorMessage };

export interface NodeMessage {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, AttributeValue>;
}

export interface ValueInfoMessage {
  name: string;
  dataType: OnnxDataTypeName;
  dims: readonly number[];
}

export interface GraphMessage {
  name: string;
  nodes: readonly NodeMessage[];
  initializers: readonly TensorMessage[];
  inputs: readonly ValueInfoMessage[];
  outputs: readonly ValueInfoMessage[];
}

export interface ModelMessage {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion: string;
  graph: GraphMessage;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

/** Append-only byte buffer; nested messages are written to a child writer and length-prefixed. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Varint of a non-negative or negative 64-bit integer (two's complement, as int64 fields expect). */
  varint(value: number | bigint): void {
    this.reserve(10);
    if (typeof value === 'number' && value >= 0 && Number.isSafeInteger(value)) {
      let n = value;
      while (n >= 0x80) {
        this.buf[this.len++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
      this.buf[this.len++] = n;
      return;
    }
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  /** Packed repeated int64 (proto3 default; ONNX readers accept packed and unpacked). */
  packedInts(field: number, values: readonly number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

// Field numbers from onnx.proto.
const F = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8 },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5 },
  attr: { name: 1, f: 2, i: 3, s: 4, t: 5, floats: 7, ints: 8, type: 20 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 },
  entry: { key: 1, value: 2 },
  valueInfo: { name: 1, type: 2 },
  type: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { dimValue: 1 },
} as const;

const DATA_LOCATION_EXTERNAL = 1;

function writeTensor(w: Writer, t: TensorMessage): void {
  if (t.dims.length) w.packedInts(F.tensor.dims, t.dims);
  w.int(F.tensor.dataType, OnnxDataType[t.dataType]);
  w.string(F.tensor.name, t.name);
  if (t.external) {
    const { location, offset, length } = t.external;
    const entries: Array<[string, string]> = [
      ['location', location],
      ['offset', String(offset)],
      ['length', String(length)],
    ];
    for (const [key, value] of entries) {
      w.message(F.tensor.externalData, (e) => {
        e.string(F.entry.key, key);
        e.string(F.entry.value, value);
      });
    }
    w.int(F.tensor.dataLocation, DATA_LOCATION_EXTERNAL);
  } else {
    w.bytes(F.tensor.rawData, t.raw ?? new Uint8Array(0));
  }
}

function writeAttribute(w: Writer, name: string, a: AttributeValue): void {
  w.string(F.attr.name, name);
  switch (a.kind) {
    case 'int':
      w.int(F.attr.i, a.value);
      w.int(F.attr.type, AttrType.int);
      return;
    case 'ints':
      w.packedInts(F.attr.ints, a.value);
      w.int(F.attr.type, AttrType.ints);
      return;
    case 'float':
      w.float(F.attr.f, a.value);
      w.int(F.attr.type, AttrType.float);
      return;
    case 'string':
      w.string(F.attr.s, a.value);
      w.int(F.attr.type, AttrType.string);
      return;
    case 'tensor':
      w.message(F.attr.t, (t) => writeTensor(t, a.value));
      w.int(F.attr.type, AttrType.tensor);
      return;
  }
}

function writeNode(w: Writer, n: NodeMessage): void {
  for (const i of n.inputs) w.string(F.node.input, i);
  for (const o of n.outputs) w.string(F.node.output, o);
  w.string(F.node.name, n.name);
  w.string(F.node.opType, n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) {
    w.message(F.node.attribute, (aw) => writeAttribute(aw, name, a));
  }
}

function writeValueInfo(w: Writer, v: ValueInfoMessage): void {
  w.string(F.valueInfo.name, v.name);
  w.message(F.valueInfo.type, (tw) =>
    tw.message(F.type.tensorType, (tt) => {
      tt.int(F.tensorType.elemType, OnnxDataType[v.dataType]);
      tt.message(F.tensorType.shape, (sw) => {
        for (const d of v.dims) sw.message(F.shape.dim, (dw) => dw.int(F.dim.dimValue, d));
      });
    }),
  );
}

function writeGraph(w: Writer, g: GraphMessage): void {
  for (const n of g.nodes) w.message(F.graph.node, (nw) => writeNode(nw, n));
  w.string(F.graph.name, g.name);
  for (const t of g.initializers) w.message(F.graph.initializer, (tw) => writeTensor(tw, t));
  for (const v of g.inputs) w.message(F.graph.input, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) w.message(F.graph.output, (vw) => writeValueInfo(vw, v));
}

/** Serialises a ModelProto with one opset import (the default ai.onnx domain). */
export function encodeModel(m: ModelMessage): Uint8Array {
  const w = new Writer();
  w.int(F.model.irVersion, m.irVersion);
  w.string(F.model.producerName, m.producerName);
  w.string(F.model.producerVersion, m.producerVersion);
  w.message(F.model.graph, (gw) => writeGraph(gw, m.graph));
  w.message(F.model.opsetImport, (ow) => {
    ow.string(F.opset.domain, '');
    ow.int(F.opset.version, m.opset);
  });
  return w.finish();
}
