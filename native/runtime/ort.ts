// The ONNX Runtime backend: IR → cached ONNX model → one InferenceSession per distinct graph.
import os from 'node:os';
import ort from 'onnxruntime-node';
import type { DType, Tensor } from '../graph/ir.js';
import { GraphError, numel, shapeStr, topoOrder } from '../graph/ir.js';
import type { GraphPort } from '../onnx/emit.js';
import type { Backend, BackendInfo, CompileOptions, CompiledGraph, HostTensor } from './backend.js';
import { prepareModel, type WeightAccess } from './cache.js';
import { providerLabel, type OrtProvider } from './providers.js';

export interface OrtBackendOptions {
  provider?: OrtProvider;
  /** Where emitted models are cached; default SKP_CACHE_DIR or ~/.cache/keypoint-workstation/graphs. */
  cacheDir?: string;
  /** Default: every core. */
  intraOpNumThreads?: number;
  /**
   * 'all' (default) also fuses and re-lays-out kernels; every fusion ORT applies keeps float32
   * arithmetic, and the tests check 'all' against the float64 interpreter at 1e-5 relative.
   */
  optimization?: 'basic' | 'all';
  weightAccess?: WeightAccess;
  /**
   * ONNX Runtime's CPU memory arena and memory patterns. Default: on for graphs whose float32
   * weights stay under 1 GiB (they run faster with it), off for larger ones — full-size SDXL
   * training at 256² peaked at 12.7 GiB without it and over 20 GiB with it.
   */
  memoryArena?: boolean;
  /** Why earlier choices were passed over (filled in by selectBackend). */
  reasons?: string[];
}

const ortType: Readonly<Record<DType, 'float32' | 'int64' | 'bool'>> = {
  float32: 'float32',
  int64: 'int64',
  bool: 'bool',
};

function arrayFor(dtype: DType): typeof Float32Array | typeof BigInt64Array | typeof Uint8Array {
  return dtype === 'float32' ? Float32Array : dtype === 'int64' ? BigInt64Array : Uint8Array;
}

function toOrtTensor(port: GraphPort, feed: HostTensor | undefined, graph: string): ort.Tensor {
  const where = `graph '${graph}' input '${port.name}'`;
  if (!feed) throw new GraphError(`${where}: no value fed (expects ${shapeStr(port.shape)}:${port.dtype})`);
  if (feed.dtype !== port.dtype) throw new GraphError(`${where}: fed ${feed.dtype}, expects ${port.dtype}`);
  if (feed.shape.length !== port.shape.length || feed.shape.some((d, i) => d !== port.shape[i])) {
    throw new GraphError(`${where}: fed shape ${shapeStr(feed.shape)}, expects ${shapeStr(port.shape)}`);
  }
  if (!(feed.data instanceof arrayFor(port.dtype)) || feed.data.length !== numel(port.shape)) {
    throw new GraphError(`${where}: data is not ${numel(port.shape)} ${port.dtype} values`);
  }
  return new ort.Tensor(ortType[port.dtype], feed.data, port.shape);
}

function fromOrtTensor(port: GraphPort, value: ort.Tensor | undefined, graph: string): HostTensor {
  if (!value) throw new GraphError(`graph '${graph}': ONNX Runtime returned no value for output '${port.name}'`);
  const data = value.data as Float32Array | BigInt64Array | Uint8Array;
  return { dtype: port.dtype, shape: [...port.shape], data };
}

const ARENA_WEIGHT_LIMIT = 2 ** 30;

/** Bytes of the graph's weights once upcast to float32. */
function weightBytes(outputs: readonly Tensor[]): number {
  return topoOrder(outputs).reduce((n, t) => n + (t.spec.op === 'weight' ? numel(t.shape) * 4 : 0), 0);
}

interface SharedSession {
  session: Promise<ort.InferenceSession>;
  users: number;
}

export class OrtBackend implements Backend {
  readonly info: BackendInfo;
  private readonly provider: OrtProvider;
  private readonly sessions = new Map<string, SharedSession>();

  constructor(private readonly opts: OrtBackendOptions = {}) {
    this.provider = opts.provider ?? 'cpu';
    this.info = {
      label: `ONNX Runtime (${providerLabel[this.provider]})`,
      id: `ort-${this.provider}`,
      reasons: opts.reasons ?? [`${providerLabel[this.provider]}: chosen`],
    };
  }

  /** Distinct sessions currently open (identical graphs share one). */
  get openSessions(): number {
    return this.sessions.size;
  }

  private sessionOptions(outputs: readonly Tensor[]): ort.InferenceSession.SessionOptions {
    const arena = this.opts.memoryArena ?? weightBytes(outputs) < ARENA_WEIGHT_LIMIT;
    return {
      executionProviders: [this.provider],
      graphOptimizationLevel: this.opts.optimization ?? 'all',
      intraOpNumThreads: this.opts.intraOpNumThreads ?? os.availableParallelism(),
      enableCpuMemArena: arena,
      enableMemPattern: arena,
      logSeverityLevel: 3,
    };
  }

  async compile(outputs: readonly Tensor[], opts: CompileOptions = {}): Promise<CompiledGraph> {
    const name = opts.name ?? 'graph';
    if (opts.fast) {
      throw new Error(
        `${this.info.label} has no fast precision (it computes in float32); it needs the native CUDA backend`,
      );
    }
    const model = prepareModel(outputs, { cacheDir: this.opts.cacheDir, name, access: this.opts.weightAccess });
    let shared = this.sessions.get(model.key);
    if (!shared) {
      const options = this.sessionOptions(outputs);
      const session = model.inMemory
        ? ort.InferenceSession.create(model.inMemory.bytes, { ...options, externalData: model.inMemory.externalData })
        : ort.InferenceSession.create(model.modelPath, options);
      shared = { session, users: 0 };
      this.sessions.set(model.key, shared);
      session.catch(() => this.sessions.delete(model.key));
    }
    const entry = shared;
    // Counted before awaiting, so a concurrent release() cannot free a session still being handed out.
    entry.users++;
    let session: ort.InferenceSession;
    try {
      session = await entry.session;
    } catch (e) {
      entry.users--;
      throw new GraphError(`graph '${name}': ONNX Runtime could not create a session: ${(e as Error).message}`);
    }
    let released = false;
    // Runs in flight: a session released under one aborts the process when the run completes
    // (a cancelled training job whose next image was still being encoded ahead did).
    const running = new Set<Promise<unknown>>();
    return {
      inputNames: model.inputs.map((p) => p.name),
      run: async (feeds) => {
        if (released) throw new GraphError(`graph '${name}': run after release()`);
        const ortFeeds: Record<string, ort.Tensor> = {};
        for (const port of model.inputs) ortFeeds[port.name] = toOrtTensor(port, feeds[port.name], name);
        const run = session.run(
          ortFeeds,
          model.outputs.map((p) => p.name),
        );
        running.add(run);
        try {
          const result = await run;
          return model.outputs.map((p) => fromOrtTensor(p, result[p.name], name));
        } finally {
          running.delete(run);
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        await Promise.allSettled(running);
        entry.users--;
        if (entry.users === 0 && this.sessions.get(model.key) === entry) {
          this.sessions.delete(model.key);
          await session.release();
        }
      },
    };
  }
}
