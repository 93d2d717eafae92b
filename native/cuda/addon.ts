// Finds and loads the compiled addon (skp_cuda.node) and types its surface (src/addon.cpp).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CudaProbe {
  driverVersion: number;
  runtimeVersion: number;
  deviceCount: number;
  name?: string;
  major?: number;
  minor?: number;
  multiprocessors?: number;
  totalMemory?: number;
  freeMemory?: number;
  /** Why CUDA cannot run here; absent when it can. */
  problem?: string;
}

export interface CudaBuildInfo {
  cublas: 'static' | 'dlopen';
  archs: string;
  cudaRuntime: number;
}

/** The addon's functions. Device memory is named by allocation ids; offsets are in bytes. */
export interface CudaAddon {
  probe(): CudaProbe;
  buildInfo(): CudaBuildInfo;
  /**
   * Starts CUDA and cuBLAS. With `compileElementwise` (default true), loads NVRTC (from
   * `nvrtcPath` or the usual names) to compile each fused elementwise program into its own
   * kernel; `elementwise` says whether they are compiled, by what, or why they are interpreted.
   * `kernelCacheDir`, an existing folder, keeps the compiled kernels for later processes.
   */
  init(
    cublasPath?: string,
    nvrtcPath?: string,
    compileElementwise?: boolean,
    kernelCacheDir?: string,
  ): { cublasVersion: string; elementwise: string };
  /** In this process: NVRTC runs made, and compiled batches of programs read from the kernel cache folder instead. */
  elementwiseKernels(): { compiledBatches: number; cachedBatches: number };
  memInfo(): { free: number; total: number };
  /** `poison` fills the new bytes with 0xff (NaN as float32), for tests. */
  alloc(bytes: number, poison?: boolean): number;
  free(id: number): void;
  upload(id: number, offset: number, data: ArrayBufferView): void;
  /** `interpretElementwise`: run elementwise programs by the interpreter even where they compile (checks compare both). */
  createProgram(code: Float64Array, useGraph: boolean, interpretElementwise?: boolean): number;
  destroyProgram(id: number): void;
  run(
    program: number,
    feeds: [id: number, offset: number, data: ArrayBufferView][],
    outputs: [id: number, offset: number, bytes: number][],
    syncEachStep: boolean,
    /** Time every instruction with device events; the result then carries `stepMs`. */
    profile?: boolean,
  ): Promise<ArrayBuffer[] & { stepMs?: Float64Array }>;
}

/** The functions a loaded addon must export; checked so a stale build fails clearly. */
export const ADDON_FUNCTIONS = [
  'probe',
  'buildInfo',
  'init',
  'elementwiseKernels',
  'memInfo',
  'alloc',
  'free',
  'upload',
  'createProgram',
  'destroyProgram',
  'run',
] as const;

/** Where the addon is looked for: SKP_CUDA_ADDON, else native/cuda/build/skp_cuda.node. */
export function addonPath(): string {
  return process.env.SKP_CUDA_ADDON ?? fileURLToPath(new URL('./build/skp_cuda.node', import.meta.url));
}

/** Loads the addon at `path`; throws with the reason when it is missing or unloadable. */
export function loadAddon(where = addonPath()): CudaAddon {
  const path = resolve(where);
  if (!existsSync(path)) {
    throw new Error(`the CUDA addon is not built (${path} is missing; run native/cuda/build.sh)`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = createRequire(import.meta.url)(path) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`the CUDA addon at ${path} does not load: ${(e as Error).message}`);
  }
  const missing = ADDON_FUNCTIONS.filter((f) => typeof mod[f] !== 'function');
  if (missing.length) throw new Error(`the CUDA addon at ${path} lacks ${missing.join(', ')} (rebuild it)`);
  return mod as unknown as CudaAddon;
}
