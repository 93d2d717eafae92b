// The one interface every executor of our IR implements (ONNX Runtime, native CUDA).
import type { DType, Tensor } from '../graph/ir.js';

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | BigInt64Array | Uint8Array;
}

export interface CompiledGraph {
  /** Names of the graph inputs the caller must feed, in declaration order. */
  readonly inputNames: readonly string[];
  /**
   * Runs the graph; returns one host tensor per requested output, in order, in arrays of its
   * own that the caller keeps (a later run never writes them).
   */
  run(feeds: Record<string, HostTensor>): Promise<HostTensor[]>;
  /** Frees the session / device memory. The object is unusable afterwards. */
  release(): Promise<void>;
}

export interface BackendInfo {
  /** What the user sees: "ONNX Runtime (CPU)", "Native CUDA (NVIDIA H100 80GB)". */
  label: string;
  /** Short id: 'ort-cpu' | 'ort-cuda' | 'ort-dml' | 'ort-coreml' | 'ort-webgpu' | 'cuda'. */
  id: string;
  /** Why this one was chosen, and why earlier choices were not available. */
  reasons: string[];
  /** What the fast precision does on this backend; absent where it computes in float32 only. */
  fastPrecision?: string;
}

export interface CompileOptions {
  name?: string;
  /**
   * The run's "Fast precision" setting: faster arithmetic whose results differ slightly from
   * float32's. A backend without one (BackendInfo.fastPrecision absent) refuses it.
   */
  fast?: boolean;
}

export interface Backend {
  readonly info: BackendInfo;
  /** Prepares `outputs` (and everything they depend on) for repeated runs. */
  compile(outputs: readonly Tensor[], opts?: CompileOptions): Promise<CompiledGraph>;
  /**
   * Whether the graph of `outputs`, its weights included, would take at most `share` of the
   * device's memory: a property of the card and the graph, not of what else runs. Absent where
   * the backend does not know its device's memory.
   */
  fits?(outputs: readonly Tensor[], share: number): boolean;
}
