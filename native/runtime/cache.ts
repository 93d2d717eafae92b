// On-disk cache of emitted ONNX models, keyed by a content hash of the IR. Each entry is a folder
// holding model.onnx, meta.json and — in the 'linked' layout — hard links to the user's weight
// files, because ONNX Runtime only reads external data from inside the model's own folder.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Tensor } from '../graph/ir.js';
import { GraphError, topoOrder } from '../graph/ir.js';
import {
  emitModel,
  linkedWeightFiles,
  type GraphPort,
  type LinkedWeightFile,
  type WeightChunk,
  type WeightLayout,
} from '../onnx/emit.js';
import { OPSET } from '../onnx/supportedOps.js';

/** Bumped whenever the emitter's output for the same IR changes, so old entries are not reused. */
const EMITTER_VERSION = 1;

export type WeightAccess = 'auto' | 'link' | 'memory';

export function defaultCacheDir(): string {
  return process.env.SKP_CACHE_DIR || path.join(os.homedir(), '.cache', 'keypoint-workstation', 'graphs');
}

/** A model ready for ONNX Runtime: a path (linked weights) or bytes plus in-memory weight buffers. */
export interface PreparedModel {
  key: string;
  layout: WeightLayout;
  modelPath: string;
  /** Set in the 'inMemory' layout: the bytes to load and the buffers named by their locations. */
  inMemory?: { bytes: Uint8Array; externalData: Array<{ path: string; data: Buffer }> };
  inputs: GraphPort[];
  outputs: GraphPort[];
  /** True when model.onnx came from the cache instead of being emitted now. */
  fromCache: boolean;
}

interface Meta {
  inputs: GraphPort[];
  outputs: GraphPort[];
  linkedFiles: LinkedWeightFile[];
  chunks: WeightChunk[];
}

/** Content hash of everything that shapes the emitted model, weights by path + size + mtime. */
export function graphKey(outputs: readonly Tensor[], layout: WeightLayout): string {
  const h = createHash('sha256');
  h.update(`emitter ${EMITTER_VERSION} opset ${OPSET} layout ${layout}\n`);
  const order = topoOrder(outputs);
  const pos = new Map<number, number>();
  const stats = new Map<string, string>();
  order.forEach((t, i) => {
    pos.set(t.id, i);
    const { spec } = t;
    const attrs = JSON.stringify(spec, (k, v) => (k === 'data' || k === 'ref' ? undefined : v));
    h.update(
      `${t.id}|${attrs}|${t.inputs.map((x) => pos.get(x.id)).join(',')}|${t.shape.join(',')}|${t.dtype}|${t.label ?? ''}\n`,
    );
    if (spec.op === 'constant') h.update(new Uint8Array(spec.data.buffer, spec.data.byteOffset, spec.data.byteLength));
    if (spec.op === 'weight') {
      const { file, byteOffset, storedAs, name } = spec.ref;
      let stat = stats.get(file);
      if (stat === undefined) {
        stat = fileStamp(file);
        stats.set(file, stat);
      }
      h.update(`weight ${JSON.stringify([file, byteOffset, storedAs, name, stat])}\n`);
    }
  });
  h.update(`outputs ${outputs.map((t) => t.id).join(',')}`);
  return h.digest('hex').slice(0, 32);
}

function fileStamp(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    // The emitter reports a missing file with the node that needs it.
    return 'missing';
  }
}

/** Writes via a temporary name and a rename, so another process never sees half a file. */
function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

const sameFile = (a: fs.Stats, b: fs.Stats): boolean => a.ino === b.ino && a.dev === b.dev;

/** Hard-links each weight file into `dir`; false when the filesystem will not (other device, no support). */
function linkWeights(dir: string, files: readonly LinkedWeightFile[]): boolean {
  for (const { location, file } of files) {
    const target = path.join(dir, location);
    try {
      if (sameFile(fs.statSync(target), fs.statSync(file))) continue;
    } catch {
      // Not linked yet.
    }
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      fs.rmSync(tmp, { force: true });
      fs.linkSync(file, tmp);
      fs.renameSync(tmp, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A missing file is reported by the emitter, with the node that needs it.
      if (code === 'ENOENT') continue;
      if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EMLINK' || code === 'EACCES')
        return false;
      throw e;
    }
  }
  return true;
}

function readChunks(chunks: readonly WeightChunk[]): Array<{ path: string; data: Buffer }> {
  const fds = new Map<string, number>();
  try {
    return chunks.map((chunk) => {
      const data = Buffer.allocUnsafe(chunk.byteLength);
      let at = 0;
      for (const piece of chunk.pieces) {
        let fd = fds.get(piece.file);
        if (fd === undefined) {
          fd = fs.openSync(piece.file, 'r');
          fds.set(piece.file, fd);
        }
        let done = 0;
        while (done < piece.length) {
          const n = fs.readSync(fd, data, at + done, piece.length - done, piece.offset + done);
          if (n === 0)
            throw new GraphError(`weights: ${piece.file} ended at byte ${piece.offset + done} while reading`);
          done += n;
        }
        at += piece.length;
      }
      return { path: chunk.location, data };
    });
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
  }
}

function loadEntry(dir: string): Meta | null {
  try {
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) return null;
    return JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf-8')) as Meta;
  } catch {
    return null;
  }
}

function storeEntry(dir: string, bytes: Uint8Array, meta: Meta): void {
  fs.mkdirSync(dir, { recursive: true });
  writeAtomic(path.join(dir, 'model.onnx'), bytes);
  writeAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta));
}

function prepareLayout(
  outputs: readonly Tensor[],
  cacheDir: string,
  layout: WeightLayout,
  name: string | undefined,
): { dir: string; key: string; meta: Meta; fromCache: boolean } {
  const key = graphKey(outputs, layout);
  const dir = path.join(cacheDir, key);
  const cached = loadEntry(dir);
  if (cached) return { dir, key, meta: cached, fromCache: true };
  const m = emitModel(outputs, { name, weightLayout: layout });
  const meta: Meta = { inputs: m.inputs, outputs: m.outputs, linkedFiles: m.linkedFiles, chunks: m.chunks };
  storeEntry(dir, m.bytes, meta);
  return { dir, key, meta, fromCache: false };
}

/**
 * Returns the model for `outputs`, emitting it only when no cache entry exists. Weights are
 * hard-linked next to the model; where that fails (weights on another filesystem) or `access`
 * is 'memory', the needed byte ranges are read into buffers of at most ~1 GiB each instead.
 */
export function prepareModel(
  outputs: readonly Tensor[],
  opts: { cacheDir?: string; name?: string; access?: WeightAccess } = {},
): PreparedModel {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const access = opts.access ?? 'auto';
  if (access !== 'memory') {
    // Links first: if they cannot be made, nothing is emitted for a layout that would not load.
    const dir = path.join(cacheDir, graphKey(outputs, 'linked'));
    fs.mkdirSync(dir, { recursive: true });
    if (linkWeights(dir, linkedWeightFiles(outputs))) {
      const p = prepareLayout(outputs, cacheDir, 'linked', opts.name);
      return {
        key: p.key,
        layout: 'linked',
        modelPath: path.join(p.dir, 'model.onnx'),
        ...ports(p.meta),
        fromCache: p.fromCache,
      };
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (access === 'link') {
      throw new GraphError(`weights: cannot hard-link the weight files into ${dir} (another filesystem?)`);
    }
  }
  const p = prepareLayout(outputs, cacheDir, 'inMemory', opts.name);
  const modelPath = path.join(p.dir, 'model.onnx');
  return {
    key: p.key,
    layout: 'inMemory',
    modelPath,
    inMemory: { bytes: fs.readFileSync(modelPath), externalData: readChunks(p.meta.chunks) },
    ...ports(p.meta),
    fromCache: p.fromCache,
  };
}

const ports = (m: Meta) => ({ inputs: m.inputs, outputs: m.outputs });
