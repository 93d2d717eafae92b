// What a model the user picks is, whether the workstation can run it, and the GPU memory training
// and keypoints need (planned on the native CUDA backend's own plans): the one model check behind
// the UI's Check button and `skp model check`.
import path from 'node:path';
import { badInput } from '../common/errors.js';
import type { ExecutionProvider, ModelCheck } from '../common/api/types.js';
import type { ModelReference } from '../common/runs.js';
import type { ProjectService } from '../common/services.js';
import { cachedMethodMemory, type MethodMemory } from '../../native/keypoints/memoryPlan.js';
import { parseRunSettings, type RunSettings } from '../../native/keypoints/settings.js';
import { loadCudaBackend } from '../../native/cuda/index.js';
import { defaultCacheDir } from '../../native/runtime/cache.js';
import { selectBackend } from '../../native/runtime/select.js';
import { detectModel, openUserModel, type Detection } from '../../native/sdxl/detect.js';
import type { LoadedModel } from '../../native/sdxl/load.js';
import { hasRandomWeights } from '../../native/sdxl/randomModel.js';

export interface ModelCheckOptions {
  /** A diffusers unet/config.json for a single file (its head counts and groups come from it). */
  unetConfig?: string;
  vaeConfig?: string;
  /** The run settings the memory plans assume (raw, checked here); missing ones are the reference's. */
  settings?: Record<string, unknown>;
}

export interface ModelInspection {
  /** Absolute. */
  path: string;
  detection: Detection;
  randomWeights: boolean;
  /** The loaded model and the memory its jobs need; null when the detection says it cannot run. */
  model: LoadedModel | null;
  memory: MethodMemory | null;
  settings: RunSettings;
}

/** The GPU the native CUDA backend would use, if there is one. */
export interface GpuInfo {
  name: string;
  totalBytes: number;
  freeBytes: number;
}

const providerOfBackend: Record<string, ExecutionProvider> = {
  cuda: 'cuda',
  'ort-cuda': 'cuda',
  'ort-dml': 'directml',
  'ort-coreml': 'coreml',
  'ort-webgpu': 'webgpu',
  'ort-cpu': 'cpu',
};

/** Model loading fails with plain Errors that name the file and what is wrong: the user's input. */
function asBadInput<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw badInput((error as Error).message);
  }
}

export class ModelService {
  constructor(private readonly project: ProjectService) {}

  /** Which backend would run a job here, and why; probed once (it loads ONNX Runtime sessions). */
  private backendChoice: Promise<{ provider: ExecutionProvider; reason: string }> | null = null;

  inspect(modelPath: string, options: ModelCheckOptions = {}): ModelInspection {
    const where = path.resolve(modelPath);
    const settings = asBadInput(() => parseRunSettings(options.settings ?? {}, 'memory estimate settings'));
    const detection = asBadInput(() => detectModel(where));
    const base = { path: where, detection, randomWeights: hasRandomWeights(where), settings };
    if (!detection.usable) return { ...base, model: null, memory: null };
    const { model } = asBadInput(() =>
      openUserModel(where, { unetConfig: options.unetConfig, vaeConfig: options.vaeConfig }),
    );
    const memory = cachedMethodMemory(model, settings, path.join(defaultCacheDir(), 'memory-plans'));
    return { ...base, model, memory };
  }

  /** The GPU native CUDA would run on, or null where it cannot run. */
  async gpu(): Promise<GpuInfo | null> {
    const backend = await loadCudaBackend();
    const { name, totalMemory, freeMemory } = backend?.device ?? {};
    if (!backend || totalMemory === undefined) return null;
    return { name: name ?? 'NVIDIA GPU', totalBytes: totalMemory, freeBytes: freeMemory ?? totalMemory };
  }

  /** The UI's summary: the inspection at the settings given (else the reference's), and the backend that would run it. */
  async check(modelPath: string, settings?: Record<string, unknown>): Promise<ModelCheck> {
    const inspection = this.inspect(modelPath, { settings });
    const { imageSize, tokens, upsampleRes } = inspection.settings;
    const memorySettings = `${settings ? 'these' : 'the reference'} settings (${imageSize} px, ${tokens} tokens, maps ${upsampleRes}²)`;
    const { provider, reason } = await this.chooseBackend();
    const base = {
      path: modelPath,
      provider,
      providerReason: reason,
      randomWeights: inspection.randomWeights,
      memorySettings,
    };
    const { detection, model, memory } = inspection;
    if (!model || !memory) {
      return {
        ...base,
        ok: false,
        architecture: detection.description,
        dtype: '—',
        parameterCount: 0,
        memoryNeededBytes: 0,
        lowMemoryTrainingBytes: 0,
        inferenceBytes: 0,
        problems: [detection.problem ?? detection.description],
      };
    }
    const format = model.format === 'diffusers' ? 'diffusers folder' : 'single file';
    return {
      ...base,
      ok: true,
      architecture: `${detection.description} (${format}, ${path.basename(modelPath)})`,
      dtype: model.dtype,
      parameterCount: model.parameterCount,
      memoryNeededBytes: memory.training.totalBytes,
      lowMemoryTrainingBytes: memory.lowMemoryTraining.totalBytes,
      inferenceBytes: memory.inference.totalBytes,
      problems: [],
    };
  }

  /** Makes `modelPath` the project's model, checked first as `skp model check` does (a read-only project says so first). */
  async setProjectModel(modelPath: string): Promise<ModelReference> {
    if (!(await this.project.info()).readOnly) {
      const check = await this.check(modelPath);
      if (!check.ok) throw badInput(`${modelPath} cannot be used: ${check.problems.join('; ')}`);
    }
    return this.project.setModel({ name: path.basename(modelPath), path: modelPath });
  }

  private chooseBackend(): Promise<{ provider: ExecutionProvider; reason: string }> {
    this.backendChoice ??= selectBackend().then((backend) => ({
      provider: providerOfBackend[backend.info.id] ?? 'cpu',
      reason: `${backend.info.label}. ${backend.info.reasons.join('; ')}`,
    }));
    return this.backendChoice;
  }
}
