// SKP_CUDA_MEMORY_LIMIT: makes the addon behave as a GPU with that much memory, so a claim such as
// "training fits a 12 GB card" is proven on a larger GPU by a run that succeeds under the cap.
// The cap counts everything the GPU reports in use (CUDA context, cuBLAS workspace, other
// programs), as a smaller card would, and every allocation of ours must fit under it.
import type { CudaAddon } from './addon.js';
import { formatBytes } from './backend.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
};

/** "8GiB", "7.5 GiB", "12GB", "8192MiB" → bytes; anything else is an error that shows the form. */
export function parseMemoryLimit(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isFinite(bytes) || bytes < 2 ** 20) {
    throw new Error(`SKP_CUDA_MEMORY_LIMIT must be a size of at least 1 MiB such as 8GiB or 12GB, not '${text}'`);
  }
  return Math.floor(bytes);
}

/** The addon as a GPU of `limit` bytes: memInfo reports the capped card, alloc refuses past it. */
export function limitMemory(addon: CudaAddon, limit: number): CudaAddon {
  const memInfo = () => {
    const real = addon.memInfo();
    const used = real.total - real.free;
    return { total: Math.min(limit, real.total), free: Math.max(0, Math.min(real.free, limit - used)) };
  };
  return {
    ...addon,
    memInfo,
    alloc(bytes, poison) {
      const { free } = memInfo();
      if (bytes > free) {
        throw new Error(
          `out of memory: ${formatBytes(bytes)} asked for, ${formatBytes(free)} free under SKP_CUDA_MEMORY_LIMIT=${formatBytes(limit)}`,
        );
      }
      return addon.alloc(bytes, poison);
    },
  };
}
