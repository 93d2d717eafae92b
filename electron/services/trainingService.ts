// What the Training view shows: the settings a run takes (native/keypoints/settings.ts, whose
// defaults are the reference's) with a label and a one-line explanation each, and the latest run
// with its loss history and the job working on it. The defaults are read from that schema, so
// there is one source for them.
import type { NumberSetting, SettingDescription, SwitchSetting, TrainingView } from '../common/api/types.js';
import type { JobService } from '../common/jobs.js';
import { RunStore } from '../db/runStore.js';
import { referenceSettings, type RunSettings } from '../../native/keypoints/settings.js';
import type { ProjectContext } from './projectContext.js';

type NumericKey = { [K in keyof RunSettings]: RunSettings[K] extends number ? K : never }[keyof RunSettings];
type SwitchKey = { [K in keyof RunSettings]: RunSettings[K] extends boolean ? K : never }[keyof RunSettings];

const described: Record<NumericKey, Omit<NumberSetting, 'kind' | 'key' | 'default'>> = {
  tokens: {
    label: 'Tokens (N)',
    min: 2,
    integer: true,
    explain: 'Learned text embeddings; each may become a keypoint. More tokens, more memory.',
  },
  keypoints: {
    label: 'Keypoints (K)',
    min: 2,
    integer: true,
    explain: 'Keypoint indices trained per image and kept at the end.',
  },
  steps: {
    label: 'Steps',
    min: 1,
    integer: true,
    explain: 'Optimiser steps; each sums the gradients of "batch size" images.',
  },
  batchSize: { label: 'Batch size', min: 1, integer: true, explain: 'Images per optimiser step.' },
  learningRate: { label: 'Learning rate', min: 0, integer: false, explain: 'AdamW step size for the tokens.' },
  weightDecay: { label: 'Weight decay', min: 0, integer: false, explain: 'AdamW weight decay.' },
  imageSize: {
    label: 'Image size (S)',
    min: 32,
    integer: true,
    explain: 'Images are resized to S×S; 1024 is SDXL’s native size and needs about 1.5× the memory of 512.',
  },
  upsampleRes: {
    label: 'Map size (R)',
    min: 8,
    integer: true,
    explain: 'Side of the attention maps; finer maps cost memory. A multiple of S/32.',
  },
  sigma: {
    label: 'Blob width (σ)',
    min: 0,
    integer: false,
    explain: 'Width in map pixels of the Gaussian each map is pulled towards.',
  },
  candidates: {
    label: 'Candidates',
    min: 2,
    integer: true,
    explain: 'Sharpest tokens per image that furthest-point sampling picks K from.',
  },
  equivarianceWeight: {
    label: 'Equivariance weight',
    min: 0,
    integer: false,
    explain: 'Weight of “the map moves with the image” in the loss.',
  },
  sharpeningWeight: {
    label: 'Sharpening weight',
    min: 0,
    integer: false,
    explain: 'Weight of “each map is one sharp blob” in the loss.',
  },
  latentScale: {
    label: 'Latent scale',
    min: 0,
    integer: false,
    explain: 'VAE latent scaling; the reference keeps SD 1.5’s 0.18215 (SDXL’s own is 0.13025).',
  },
  indexImages: {
    label: 'Images to choose indices',
    min: 1,
    integer: true,
    explain: 'Training images that vote for the K indices after training.',
  },
  augmentationIterations: {
    label: 'Augmentations',
    min: 1,
    integer: true,
    explain: 'Random warps averaged per image when finding its keypoints.',
  },
  warpsPerPass: {
    label: 'Warps per pass',
    min: 0,
    integer: true,
    explain:
      'Augmentations evaluated together when finding keypoints; 0 chooses (on an NVIDIA GPU as many as fit in half its memory, else 2). Fewer use less memory and find the same keypoints.',
  },
  maxQueryTokens: {
    label: 'Max query tokens',
    min: 1,
    integer: true,
    explain: 'Cross-attention layers with at most this many query tokens can be controlled (32² for SDXL).',
  },
  subjects: {
    label: 'Subjects per image',
    min: 1,
    integer: true,
    explain: 'How many instances of the subject to expect in one image.',
  },
  seed: {
    label: 'Seed',
    min: 0,
    integer: true,
    explain: 'Seeds token init, noise, warps and image order: the same seed repeats a run.',
  },
};

const switches: Record<SwitchKey, Omit<SwitchSetting, 'kind' | 'key' | 'default'>> = {
  lowMemory: {
    label: 'Low GPU memory',
    explain:
      'Evaluates the UNet once more per image instead of keeping both evaluations in GPU memory: trains on smaller GPUs, a little slower, to the same result.',
  },
  fastPrecision: {
    label: 'Fast precision',
    explain:
      'TF32 tensor cores for the UNet on an NVIDIA GPU (native CUDA): an iteration in about half the time, results close to but not equal to the reference’s float32. Other backends refuse it.',
  },
};

export class TrainingService {
  constructor(
    private readonly context: ProjectContext,
    private readonly jobs: JobService,
  ) {}

  settings(): SettingDescription[] {
    return [
      ...(Object.keys(described) as NumericKey[]).map((key): SettingDescription => ({
        kind: 'number',
        key,
        default: referenceSettings[key],
        ...described[key],
      })),
      ...(Object.keys(switches) as SwitchKey[]).map((key): SettingDescription => ({
        kind: 'switch',
        key,
        default: referenceSettings[key],
        ...switches[key],
      })),
    ];
  }

  /** The latest run, its losses so far and the job of this process working on it; null before the first run. */
  async current(): Promise<TrainingView | null> {
    const store = new RunStore(this.context.db);
    const run = store
      .runs()
      .reduce<ReturnType<typeof store.runs>[number] | null>((a, b) => (a === null || b.id > a.id ? b : a), null);
    if (!run) return null;
    const steps = Number(run.settings.steps);
    const job = (await this.jobs.list()).filter((j) => j.runId === run.id).at(-1) ?? null;
    return {
      run,
      totalSteps: Number.isInteger(steps) && steps > 0 ? steps : referenceSettings.steps,
      history: store.losses(run.id),
      job,
    };
  }
}
