// Reads back the parts of an emitted ONNX model that matter when checking or debugging it:
// node op types and names, and where each initializer's bytes live.

export interface InspectedNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
}

export interface InspectedInitializer {
  name: string;
  dataType: number;
  dims: number[];
  external: Record<string, string> | null;
}

export interface InspectedModel {
  opset: number;
  nodes: InspectedNode[];
  initializers: InspectedInitializer[];
}

interface Field {
  field: number;
  wire: number;
  /** varint / fixed value, or the bytes of a length-delimited field. */
  value: bigint | Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated protobuf varint');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const len = Number(varint());
      yield { field, wire, value: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 5) {
      pos += 4;
      yield { field, wire, value: 0n };
    } else if (wire === 1) {
      pos += 8;
      yield { field, wire, value: 0n };
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

const text = (v: bigint | Uint8Array): string => new TextDecoder().decode(v as Uint8Array);

function packedInts(f: Field): number[] {
  if (f.wire === 0) return [Number(BigInt.asIntN(64, f.value as bigint))];
  const out: number[] = [];
  let acc = 0n;
  let shift = 0n;
  for (const byte of f.value as Uint8Array) {
    acc |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if (byte < 0x80) {
      out.push(Number(BigInt.asIntN(64, acc)));
      acc = 0n;
      shift = 0n;
    }
  }
  return out;
}

function readNode(buf: Uint8Array): InspectedNode {
  const n: InspectedNode = { name: '', opType: '', inputs: [], outputs: [] };
  for (const f of fields(buf)) {
    if (f.field === 1) n.inputs.push(text(f.value));
    else if (f.field === 2) n.outputs.push(text(f.value));
    else if (f.field === 3) n.name = text(f.value);
    else if (f.field === 4) n.opType = text(f.value);
  }
  return n;
}

function readInitializer(buf: Uint8Array): InspectedInitializer {
  const t: InspectedInitializer = { name: '', dataType: 0, dims: [], external: null };
  for (const f of fields(buf)) {
    if (f.field === 1) t.dims.push(...packedInts(f));
    else if (f.field === 2) t.dataType = Number(f.value);
    else if (f.field === 8) t.name = text(f.value);
    else if (f.field === 13) {
      let key = '';
      let value = '';
      for (const e of fields(f.value as Uint8Array)) {
        if (e.field === 1) key = text(e.value);
        else if (e.field === 2) value = text(e.value);
      }
      t.external = { ...(t.external ?? {}), [key]: value };
    }
  }
  return t;
}

export function inspectModel(bytes: Uint8Array): InspectedModel {
  const model: InspectedModel = { opset: 0, nodes: [], initializers: [] };
  for (const f of fields(bytes)) {
    if (f.field === 8) {
      for (const o of fields(f.value as Uint8Array)) if (o.field === 2) model.opset = Number(o.value);
    } else if (f.field === 7) {
      for (const g of fields(f.value as Uint8Array)) {
        if (g.field === 1) model.nodes.push(readNode(g.value as Uint8Array));
        else if (g.field === 5) model.initializers.push(readInitializer(g.value as Uint8Array));
      }
    }
  }
  return model;
}
