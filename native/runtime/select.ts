// Picks the backend the engine runs on: our native CUDA addon where it loads, else the first ONNX
// Runtime provider that really works here, else CPU. Every candidate passed over leaves a reason
// the user can read (BackendInfo.reasons, or the error when the one asked for cannot run).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backend.js';
import { OrtBackend, type OrtBackendOptions } from './ort.js';
import { probeProvider, providerLabel, providerOrder, type BackendPreference, type OrtProvider } from './providers.js';

export interface SelectOptions extends Omit<OrtBackendOptions, 'provider' | 'reasons'> {
  prefer?: BackendPreference;
}

/** The native CUDA backend lives in native/cuda/ (built separately); absent there, we say so. */
async function tryNativeCuda(reasons: string[]): Promise<Backend | null> {
  const where = new URL('../cuda/index.js', import.meta.url);
  const source = fileURLToPath(where);
  if (!fs.existsSync(source) && !fs.existsSync(source.replace(/\.js$/, '.ts'))) {
    reasons.push('Native CUDA: not part of this build (no native/cuda/index)');
    return null;
  }
  let mod: { loadCudaBackend?: () => Promise<Backend | null>; cudaUnavailableReason?: () => string | null };
  try {
    mod = (await import(where.href)) as typeof mod;
  } catch (e) {
    reasons.push(`Native CUDA: ${(e as Error).message}`);
    return null;
  }
  if (typeof mod.loadCudaBackend !== 'function') {
    reasons.push('Native CUDA: native/cuda/index exports no loadCudaBackend()');
    return null;
  }
  try {
    const backend = await mod.loadCudaBackend();
    if (!backend) {
      const why = mod.cudaUnavailableReason?.() ?? 'the addon did not load (no NVIDIA GPU, driver or built addon)';
      reasons.push(`Native CUDA: ${why}`);
    }
    return backend;
  } catch (e) {
    reasons.push(`Native CUDA: ${(e as Error).message}`);
    return null;
  }
}

/** A backend asked for by name cannot run here; `reasons` says why for each way it was tried. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly prefer: Exclude<BackendPreference, 'auto'>,
    readonly reasons: string[],
  ) {
    super(`${prefer} cannot run here: ${reasons.join('; ')}`);
    this.name = 'BackendUnavailableError';
  }
}

/**
 * 'auto' takes the first backend that works, down to the CPU. A backend asked for by name is
 * that one or an error (BackendUnavailableError): someone who asks for the GPU and silently gets
 * the CPU waits hours for a run, or compares the wrong thing.
 */
export async function selectBackend(opts: SelectOptions = {}): Promise<Backend> {
  const prefer = opts.prefer ?? 'auto';
  const reasons: string[] = [];
  if (prefer === 'auto' || prefer === 'cuda') {
    const cuda = await tryNativeCuda(reasons);
    if (cuda) {
      cuda.info.reasons.unshift(...reasons);
      return cuda;
    }
  }
  // 'cuda' means either CUDA backend: ours, else ONNX Runtime's provider.
  const candidates: readonly OrtProvider[] = prefer === 'auto' ? providerOrder : [prefer];
  for (const provider of candidates) {
    const probe = await probeProvider(provider);
    if (probe.ok) {
      const why = prefer !== 'auto' ? 'asked for' : provider === 'cpu' ? 'always available' : 'first that works';
      reasons.push(`${providerLabel[provider]}: chosen (${why})`);
      return new OrtBackend({ ...opts, provider, reasons });
    }
    reasons.push(probe.reason);
  }
  if (prefer !== 'auto') throw new BackendUnavailableError(prefer, reasons);
  throw new Error(`no backend could run: ${reasons.join('; ')}`);
}
