// Entry point of the native CUDA backend. `loadCudaBackend` resolves to null, with the reason
// kept for `cudaUnavailableReason`, wherever it cannot run (no addon, no NVIDIA GPU or
// driver, a driver too old, a GPU too old): callers then fall back to ONNX Runtime.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../runtime/cache.js';
import { addonPath, loadAddon } from './addon.js';
import type { CudaBackendOptions, CudaPrecision } from './backend.js';
import { CudaBackend, formatBytes } from './backend.js';
import { FLOAT32_WEIGHTS_SHARE } from './weights.js';
import { limitMemory, parseMemoryLimit } from './memoryLimit.js';

export type { CudaBackendOptions, CudaPrecision, CudaMemoryNeed } from './backend.js';
export { CudaBackend, CudaCompiledGraph, CudaError, type CudaStepTime } from './backend.js';

/** Lowest compute capability the addon is built for (build.sh: sm_80 and newer). */
const MIN_CAPABILITY = 8.0;

let reason: string | null = null;
let loading: Promise<CudaBackend | null> | null = null;

/** Why the last `loadCudaBackend` returned null, or null if it did not. */
export function cudaUnavailableReason(): string | null {
  return reason;
}

function precisionFromEnv(): CudaPrecision | undefined {
  const p = process.env.SKP_CUDA_PRECISION;
  if (p === undefined || p === '') return undefined;
  if (p === 'float32' || p === 'tf32') return p;
  throw new Error(`SKP_CUDA_PRECISION must be 'float32' or 'tf32', not '${p}'`);
}

/** SKP_CUDA_MEMORY_LIMIT in bytes, or null when unset. */
function memoryLimitFromEnv(): number | null {
  const v = process.env.SKP_CUDA_MEMORY_LIMIT;
  return v === undefined || v === '' ? null : parseMemoryLimit(v);
}

/**
 * Where compiled elementwise kernels are kept for later runs (beside ONNX Runtime's cached
 * models), so only a process's first meeting with a program compiles it: `dir`, or why none.
 */
function kernelCache(): { dir: string } | { why: string } {
  const dir = join(defaultCacheDir(), 'cuda-kernels');
  try {
    mkdirSync(dir, { recursive: true });
    return { dir };
  } catch (e) {
    return { why: `${dir} cannot be created: ${(e as Error).message}` };
  }
}

function tryLoad(opts: CudaBackendOptions): CudaBackend | null {
  const off = process.env.SKP_CUDA;
  if (off === '0' || off === 'off') {
    reason = 'native CUDA is turned off (SKP_CUDA=0)';
    return null;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    reason = `the native CUDA addon is built for Linux x64 only (this is ${process.platform} ${process.arch})`;
    return null;
  }
  const limit = memoryLimitFromEnv();
  let addon;
  try {
    addon = loadAddon(addonPath());
  } catch (e) {
    reason = (e as Error).message;
    return null;
  }
  const probe = addon.probe();
  if (probe.problem) {
    reason = probe.problem;
    return null;
  }
  const capability = (probe.major ?? 0) + (probe.minor ?? 0) / 10;
  if (capability < MIN_CAPABILITY) {
    reason = `${probe.name} has compute capability ${capability.toFixed(1)}; the CUDA addon needs ${MIN_CAPABILITY.toFixed(1)} or newer`;
    return null;
  }
  let started: { cublasVersion: string; elementwise: string };
  const kernels = kernelCache();
  try {
    const env = process.env;
    const dir = 'dir' in kernels ? kernels.dir : '';
    started = addon.init(env.SKP_CUBLAS_PATH ?? '', env.SKP_NVRTC_PATH ?? '', env.SKP_CUDA_JIT !== '0', dir);
  } catch (e) {
    reason = `CUDA does not start on ${probe.name}: ${(e as Error).message}`;
    return null;
  }
  const build = addon.buildInfo();
  const gib = ((probe.totalMemory ?? 0) / 2 ** 30).toFixed(0);
  const cuda = (v: number) => `${Math.floor(v / 1000)}.${(v % 1000) / 10}`;
  reason = null;
  const reasons = [
    `${probe.name}: compute capability ${capability.toFixed(1)}, ${gib} GiB, driver for CUDA ${cuda(probe.driverVersion)}`,
    `addon: CUDA ${cuda(build.cudaRuntime)}, cuBLAS ${started.cublasVersion} (${build.cublas}), ${build.archs}`,
    `elementwise kernels: ${started.elementwise}${
      !started.elementwise.startsWith('compiled')
        ? ''
        : 'dir' in kernels
          ? `, kept in ${kernels.dir}`
          : `, compiled again by every run: ${kernels.why}`
    }`,
    `weights: float32 copies on the GPU for a graph that takes at most ${FLOAT32_WEIGHTS_SHARE * 100}% of its memory with them ` +
      '(no widening at each use), else kept at their stored width',
  ];
  if (limit !== null) reasons.push(`memory capped at ${formatBytes(limit)} (SKP_CUDA_MEMORY_LIMIT), as a smaller GPU`);
  const device = limit === null ? addon : limitMemory(addon, limit);
  return new CudaBackend(device, probe, { precision: precisionFromEnv(), ...opts }, reasons);
}

/**
 * The native CUDA backend, or null (see `cudaUnavailableReason`). One per process: the
 * addon owns one CUDA stream; later calls return the first backend whatever `opts` say.
 */
export function loadCudaBackend(opts: CudaBackendOptions = {}): Promise<CudaBackend | null> {
  loading ??= Promise.resolve().then(() => tryLoad(opts));
  return loading;
}
