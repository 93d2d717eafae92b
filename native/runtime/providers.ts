// ONNX Runtime execution providers: which to try, in which order, and whether one really works
// here — decided by creating a tiny session on it, since listSupportedBackends only says what
// the package knows about, not whether the driver, library or adapter is present.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { Graph } from '../graph/ir.js';
import { emitModel } from '../onnx/emit.js';
import { probeInChild } from './probeInChild.js';

export type OrtProvider = 'cuda' | 'dml' | 'coreml' | 'webgpu' | 'cpu';
export type BackendPreference = 'auto' | OrtProvider;

/** Fastest first; CPU always works and comes last. */
export const providerOrder: readonly OrtProvider[] = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'];

export const providerLabel: Readonly<Record<OrtProvider, string>> = {
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'CoreML',
  webgpu: 'WebGPU',
  cpu: 'CPU',
};

export type ProbeResult = { ok: true } | { ok: false; reason: string };

const platformOnly: Partial<Record<OrtProvider, NodeJS.Platform>> = { dml: 'win32', coreml: 'darwin' };

/** Where onnxruntime-node keeps its native libraries (the CUDA provider is a separate .so there). */
function ortBinaryDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
    return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

function cudaProviderInstalled(): boolean {
  const dir = ortBinaryDir();
  if (!dir || !fs.existsSync(dir)) return false;
  return fs.readdirSync(dir).some((f) => f.includes('providers_cuda'));
}

let tinyModel: Uint8Array | null = null;
function tiny(): Uint8Array {
  if (!tinyModel) {
    const g = new Graph();
    const x = g.input('x', [2, 2]);
    tinyModel = emitModel([g.add({ op: 'add' }, [x, x])]).bytes;
  }
  return tinyModel;
}

/** Tries to create and run a two-element session on `provider`; says why not when it cannot. */
export async function probeProvider(provider: OrtProvider): Promise<ProbeResult> {
  const label = providerLabel[provider];
  const needs = platformOnly[provider];
  if (needs && process.platform !== needs) {
    return {
      ok: false,
      reason: `${label}: only on ${needs === 'win32' ? 'Windows' : 'macOS'} (this is ${process.platform})`,
    };
  }
  if (provider !== 'cpu') {
    const known = ort.listSupportedBackends().find((b) => b.name === provider);
    if (!known)
      return {
        ok: false,
        reason: `${label}: this onnxruntime-node build has no ${label} provider (listSupportedBackends)`,
      };
    if (provider === 'cuda' && !cudaProviderInstalled()) {
      return {
        ok: false,
        reason: `${label}: onnxruntime-node has no CUDA provider installed (listSupportedBackends lists it as not bundled and no providers_cuda library is present)`,
      };
    }
  }
  if (provider === 'webgpu') return probeQuietly(provider);
  try {
    const session = await ort.InferenceSession.create(tiny(), {
      executionProviders: [provider],
      logSeverityLevel: 4,
    });
    try {
      const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [2, 2]);
      const out = await session.run({ x });
      const y = Object.values(out)[0]?.data as Float32Array | undefined;
      if (!y || y[3] !== 8) return { ok: false, reason: `${label}: a test session returned wrong values` };
    } finally {
      await session.release();
    }
    return { ok: true };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    return { ok: false, reason: `${label}: ${msg}` };
  }
}

/** The probe in a child process, whose output is kept (see probeInChild.ts), never shown. */
async function probeQuietly(provider: OrtProvider): Promise<ProbeResult> {
  const label = providerLabel[provider];
  const result = await probeInChild(provider, tiny());
  if (result.ok) return result;
  const error = /adapter/i.test(result.error) ? 'no adapter' : result.error;
  // Dawn's first line names what is missing, e.g. "Couldn't load Vulkan: libvulkan.so.1: …".
  const said = result.output
    .split('\n')
    .map((line) => line.trim().replace(/^(Warning|Error): /, ''))
    .find((line) => line !== '');
  return { ok: false, reason: `${label}: ${error}${said ? ` (${said})` : ''}` };
}
