import path from 'node:path';
import type { LoadedModel } from '../../../native/sdxl/load.js';
import {
  CUDA_CONTEXT_BYTES,
  onGpu,
  type GraphMemory,
  type MethodMemory,
} from '../../../native/keypoints/memoryPlan.js';
import { referenceSettings, type RunSettings } from '../../../native/keypoints/settings.js';
import type { JsonObject } from '../../common/runs.js';
import type { GpuInfo } from '../../services/modelService.js';
import { UserError, type CliCommand, type CliIO } from '../command.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';
import { parseSetting } from './train.js';

const usage =
  'Usage: skp model check <model> [--unet-config C] [--vae-config C] [--image-size S] [--tokens N] [--set key=value ...]';

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const count = (n: number) => n.toLocaleString('en-US');
const list = (xs: readonly (number | string)[]) => xs.join('/');

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag} must be a positive whole number, not "${value}"`);
  return n;
}

function describe(io: CliIO, m: LoadedModel): void {
  const u = m.unet.config;
  const v = m.vae.config;
  const count1 = (names: string[], shape: (n: string) => number[]) =>
    names.reduce((s, n) => s + shape(n).reduce((a, b) => a * b, 1), 0);
  const unetParams = count1(m.unet.weights.names(), (n) => m.unet.weights.shape(n));
  const attentionLevels = u.downHasAttention.flatMap((a, i) => (a ? [i] : []));
  io.out(`Format:     ${m.format === 'diffusers' ? 'diffusers folder' : 'single file (original layout)'}`);
  io.out(`Stored as:  ${m.dtype}`);
  io.out(
    `Parameters: ${count(m.parameterCount)} (UNet ${count(unetParams)}, VAE ${count(m.parameterCount - unetParams)})`,
  );
  io.out(
    `UNet:       channels ${list(u.blockOutChannels)}, ${list(u.layersPerBlock)} resnets per level, ` +
      `attention at levels ${list(attentionLevels)} with depth ${list(attentionLevels.map((i) => u.transformerDepth[i]!))} ` +
      `and heads ${list(attentionLevels.map((i) => u.headCount[i]!))} ` +
      `(${list(attentionLevels.map((i) => u.blockOutChannels[i]! / u.headCount[i]!))} channels per head), ` +
      `${u.normNumGroups} norm groups`,
  );
  io.out(
    `            cross-attention width ${u.crossAttentionDim}, pooled width ${u.pooledDim}, ` +
      `time-id width ${u.additionTimeEmbedDim}, latent side ${u.sampleSize ?? 'unset'}`,
  );
  io.out(
    `VAE:        channels ${list(v.blockOutChannels)}, ${v.layersPerBlock} resnets per level, ` +
      `${v.latentChannels} latent channels, ${v.normNumGroups} norm groups, scaling factor ${v.scalingFactor}`,
  );
}

/** One job's line: its total and what makes it up. */
const memoryLine = (job: string, g: GraphMemory) =>
  `            ${job.padEnd(34)} ${gib(g.totalBytes).padStart(10)}  (activations ${gib(g.arenaBytes + g.constantBytes)} + weights ${gib(g.weightBytes)} + CUDA context and run-time buffers ${gib(CUDA_CONTEXT_BYTES)})`;

function describeMemory(io: CliIO, memory: MethodMemory, s: RunSettings, gpu: GpuInfo | null): void {
  io.out(
    `Memory:     GPU memory on native CUDA at ${s.imageSize}² with ${s.tokens} tokens and maps ${s.upsampleRes}², ` +
      'weights kept at their stored width (from the plans of the graphs themselves):',
  );
  const jobs: [string, GraphMemory][] = [
    ['training', memory.training],
    ['training, Low GPU memory', memory.lowMemoryTraining],
    [
      `finding keypoints, ${memory.inference.warpsPerPass} warps a pass${s.warpsPerPass === 0 ? ' (more where half the GPU holds them)' : ''}`,
      memory.inference,
    ],
  ];
  for (const [job, g] of jobs) io.out(memoryLine(job, g));
  io.out(
    `            where a job then takes at most half the GPU, its weights are held as float32 copies ` +
      `(no widening at each use): ${gib(memory.training.float32WeightBytes - memory.training.weightBytes)} more for training`,
  );
  if (!gpu) return;
  const copies = jobs
    .map(([job, g]) => [job, onGpu(g, gpu.totalBytes)] as const)
    .filter(([, there]) => there.float32Weights);
  if (copies.length > 0) {
    io.out(
      `            on this GPU, with float32 copies: ` +
        copies.map(([job, there]) => `${job} ${gib(there.totalBytes)}`).join('; '),
    );
  }
  const fits = jobs.filter(([, g]) => g.totalBytes <= gpu.totalBytes).map(([job]) => job);
  io.out(
    `GPU:        ${gpu.name}, ${gib(gpu.totalBytes)} (${gib(gpu.freeBytes)} free): ` +
      (fits.length === jobs.length
        ? 'everything fits'
        : fits.length === 0
          ? 'nothing fits; use smaller images, fewer tokens or smaller maps'
          : `fits ${fits.join('; ')}`),
  );
}

export const modelCheckCommand: CliCommand = {
  name: 'model check',
  summary: 'Check that a model is an SDXL base the workstation can run, and estimate the memory it needs',
  usage:
    `${usage}\n\n` +
    '  <model>            a diffusers folder (unet/, vae/) or a single .safetensors checkpoint\n' +
    "  --unet-config C    a diffusers unet/config.json (a single file's head counts and groups come from it)\n" +
    '  --vae-config C     a diffusers vae/config.json, likewise\n' +
    `  --image-size S     image side for the memory estimate (default ${referenceSettings.imageSize})\n` +
    `  --tokens N         learned tokens for the memory estimate (default ${referenceSettings.tokens})\n` +
    '  --set key=value    any other run setting for the memory estimate, as skp train takes it\n\n' +
    'Where native CUDA runs, also says which jobs fit the GPU.\n' +
    'Exit code 2 when the model cannot be used, with the reason.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        'image-size': { type: 'string' },
        tokens: { type: 'string' },
        set: { type: 'string', multiple: true },
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one model path', usage);
    const settings: JsonObject = {};
    for (const text of values.set ?? []) parseSetting(text, settings);
    if (values['image-size'] !== undefined) settings.imageSize = positiveInt(values['image-size'], '--image-size');
    if (values.tokens !== undefined) settings.tokens = positiveInt(values.tokens, '--tokens');
    const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
    const { inspection, gpu } = await withServices(async (services) => ({
      inspection: services.models.inspect(positionals[0]!, {
        unetConfig: resolve(values['unet-config']),
        vaeConfig: resolve(values['vae-config']),
        settings,
      }),
      gpu: await services.models.gpu(),
    }));
    io.out(`Model:      ${inspection.path}`);
    io.out(`Kind:       ${inspection.detection.description}`);
    if (inspection.randomWeights) io.out('Weights:    random (a demo model): it runs, but its keypoints mean nothing');
    if (!inspection.model || !inspection.memory)
      throw new UserError(inspection.detection.problem ?? inspection.detection.description);
    describe(io, inspection.model);
    describeMemory(io, inspection.memory, inspection.settings, gpu);
    return 0;
  },
};
