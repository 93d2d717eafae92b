// Reader and writer for the safetensors format (8-byte little-endian header length, a JSON header,
// then raw little-endian tensor bytes). Model files come from anywhere, so the reader treats every
// field as hostile: it checks the header completely on open and never trusts a length or offset
// without comparing it against the file's real size. Opening reads only the header.
import fs from 'node:fs';
import { NotARegularFileError, openRegularFileSync } from './regularFile.js';
import { bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32 } from './float16.js';

export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

export interface TensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute position of the first byte in the file (header included). */
  byteOffset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Larger headers do not occur in real models (SDXL's is ~200 KB) and would only exhaust memory. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The tensor as float32 values; F16, BF16 and F64 are converted. */
  readFloat32(name: string): Float32Array;
  /** The tensor's raw bytes as stored. */
  readBytes(name: string): Uint8Array;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseEntry(file: string, name: string, raw: unknown, dataBytes: number, headerEnd: number): TensorInfo {
  const bad = (msg: string): never => {
    throw new SafetensorsError(`${file}: tensor '${name}': ${msg}`);
  };
  if (!isRecord(raw)) bad('header entry is not an object');
  const entry = raw as Record<string, unknown>;
  const dtype = entry.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) bad(`unknown dtype ${JSON.stringify(dtype)}`);
  const shape = entry.shape;
  if (!Array.isArray(shape)) bad('shape is not a list');
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      bad(`shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`);
    }
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) bad('data_offsets is not a [begin, end] pair');
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)
      bad(`data_offsets ${JSON.stringify(offsets)} are not non-negative integers`);
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) bad(`data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataBytes)
    bad(`data_offsets [${b}, ${e}] run past the data section (${dataBytes} bytes): file truncated or corrupt`);
  const dims = shape as number[];
  const elementSize = DTYPE_SIZES[dtype as SafetensorsDtype];
  let expected = elementSize;
  for (const d of dims) {
    expected *= d;
    if (!Number.isSafeInteger(expected)) bad(`shape ${JSON.stringify(dims)} is too large`);
  }
  if (e - b !== expected) {
    bad(`holds ${e - b} bytes but ${dtype} ${JSON.stringify(dims)} needs ${expected}`);
  }
  return { dtype: dtype as SafetensorsDtype, shape: [...dims], byteOffset: headerEnd + b, byteLength: e - b };
}

function readExactly(fd: number, file: string, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new SafetensorsError(`${file}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

function openFile(path: string): number {
  try {
    return openRegularFileSync(path);
  } catch (e) {
    if (e instanceof NotARegularFileError) throw new SafetensorsError(e.message);
    throw e;
  }
}

export function openSafetensors(path: string): SafetensorsFile {
  const fd = openFile(path);
  let tensors: Map<string, TensorInfo>;
  let metadata: Record<string, string> = {};
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(`${path}: file is ${size} bytes, too short to be safetensors`);
    const lenBuf = new Uint8Array(8);
    readExactly(fd, path, lenBuf, 0);
    const headerLen = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (headerLen < 2n || headerLen > BigInt(MAX_HEADER_BYTES) || headerLen > BigInt(size - 8)) {
      throw new SafetensorsError(
        `${path}: header length ${headerLen} is impossible for a ${size}-byte file (not safetensors, or truncated)`,
      );
    }
    const headerBytes = new Uint8Array(Number(headerLen));
    readExactly(fd, path, headerBytes, 8);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      throw new SafetensorsError(`${path}: header is not valid JSON (${(e as Error).message})`);
    }
    if (!isRecord(header)) throw new SafetensorsError(`${path}: header is not a JSON object`);
    const headerEnd = 8 + Number(headerLen);
    const dataBytes = size - headerEnd;
    tensors = new Map();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
          throw new SafetensorsError(`${path}: __metadata__ must map strings to strings`);
        }
        metadata = { ...(raw as Record<string, string>) };
        continue;
      }
      tensors.set(name, parseEntry(path, name, raw, dataBytes, headerEnd));
    }
    const byStart = [...tensors].filter(([, t]) => t.byteLength > 0).sort((a, b) => a[1].byteOffset - b[1].byteOffset);
    for (let i = 1; i < byStart.length; i++) {
      const [prevName, prev] = byStart[i - 1]!;
      const [name, cur] = byStart[i]!;
      if (cur.byteOffset < prev.byteOffset + prev.byteLength) {
        throw new SafetensorsError(`${path}: tensor '${name}' overlaps tensor '${prevName}'`);
      }
    }
  } finally {
    fs.closeSync(fd);
  }

  const get = (name: string): TensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new SafetensorsError(`${path}: no tensor named '${name}'`);
    return t;
  };
  const readBytes = (name: string): Uint8Array => {
    const t = get(name);
    // A fresh ArrayBuffer per tensor keeps typed-array views aligned.
    const bytes = new Uint8Array(new ArrayBuffer(t.byteLength));
    const rfd = openFile(path);
    try {
      readExactly(rfd, path, bytes, t.byteOffset);
    } finally {
      fs.closeSync(rfd);
    }
    return bytes;
  };

  return {
    path,
    metadata,
    names: () => [...tensors.keys()],
    has: (name) => tensors.has(name),
    info: (name) => {
      const t = get(name);
      return { ...t, shape: [...t.shape] };
    },
    readBytes,
    readFloat32(name) {
      const t = get(name);
      const bytes = readBytes(name);
      const n = t.byteLength / DTYPE_SIZES[t.dtype];
      switch (t.dtype) {
        case 'F32':
          return new Float32Array(bytes.buffer, 0, n);
        case 'F16':
          return halfToFloat32(new Uint16Array(bytes.buffer, 0, n));
        case 'BF16':
          return bfloat16ToFloat32(new Uint16Array(bytes.buffer, 0, n));
        case 'F64':
          return Float32Array.from(new Float64Array(bytes.buffer, 0, n));
        default:
          throw new SafetensorsError(`${path}: tensor '${name}' is ${t.dtype}, not a floating-point tensor`);
      }
    },
  };
}

// Writing -------------------------------------------------------------------------------------

export type WritableDtype = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  dtype: WritableDtype;
  shape: number[];
  data: Float32Array;
}

export interface TensorPlan {
  name: string;
  dtype: WritableDtype;
  shape: number[];
}

function encode(data: Float32Array, dtype: WritableDtype): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    case 'F16': {
      const h = float32ToHalf(data);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case 'BF16': {
      const h = float32ToBfloat16(data);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
  }
}

/**
 * Writes tensors one at a time: the header is laid out from `plan` first, then `produce` is asked
 * for each tensor's values in plan order, so a 10 GB model never has to be in memory at once.
 */
export function writeSafetensorsStreaming(
  path: string,
  plan: TensorPlan[],
  produce: (entry: TensorPlan, index: number) => Float32Array,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const p of plan) {
    if (Object.hasOwn(header, p.name)) throw new SafetensorsError(`${path}: tensor '${p.name}' planned twice`);
    const n = p.shape.reduce((a, b) => a * b, 1);
    const bytes = n * DTYPE_SIZES[p.dtype];
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf-8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const fd = fs.openSync(path, 'w');
  try {
    fs.writeSync(fd, lenBuf);
    fs.writeSync(fd, headerBytes);
    plan.forEach((p, i) => {
      const data = produce(p, i);
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) {
        throw new SafetensorsError(
          `${path}: tensor '${p.name}' has ${data.length} values, shape ${JSON.stringify(p.shape)} needs ${n}`,
        );
      }
      const bytes = encode(data, p.dtype);
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    });
  } finally {
    fs.closeSync(fd);
  }
}

export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const entries = Object.entries(tensors);
  writeSafetensorsStreaming(
    path,
    entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    (_, i) => entries[i]![1].data,
    metadata,
  );
}
