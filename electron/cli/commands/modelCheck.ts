import path from 'node:path';
import type { LoadedModel } from '../../../native/sdxl/load.js';
import type { MemoryEstimate, MemorySettings } from '../../../native/sdxl/memoryEstimate.js';
import { referenceSettings } from '../../../native/keypoints/settings.js';
import { UserError, type CliCommand, type CliIO } from '../command.js';
import { parseCommandArgs, usageError, withServices } from '../serviceCommand.js';

const usage = 'Usage: skp model check <model> [--unet-config C] [--vae-config C] [--image-size S] [--tokens N]';

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(bytes < 1e8 ? 3 : 1)} GB`;
const count = (n: number) => n.toLocaleString('en-US');
const list = (xs: readonly (number | string)[]) => xs.join('/');

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag} must be a positive whole number, not "${value}"`);
  return n;
}

function describe(io: CliIO, m: LoadedModel, e: MemoryEstimate, settings: MemorySettings): void {
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
  io.out(
    `Memory:     about ${gb(e.totalBytes)} for a training iteration at ${settings.imageSize}² with ${settings.tokens} tokens ` +
      `(weights ${gb(e.weightBytes)} + activations ${gb(e.activationBytes)} + VAE ${gb(e.vaeBytes)})`,
  );
  io.out(`            estimate: ${e.formula}`);
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
    `  --tokens N         learned tokens for the memory estimate (default ${referenceSettings.tokens})\n\n` +
    'Exit code 2 when the model cannot be used, with the reason.',
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        'unet-config': { type: 'string' },
        'vae-config': { type: 'string' },
        'image-size': { type: 'string' },
        tokens: { type: 'string' },
      },
      usage,
    );
    if (positionals.length !== 1) throw usageError('give one model path', usage);
    const imageSize = positiveInt(values['image-size'], '--image-size', referenceSettings.imageSize);
    const tokens = positiveInt(values.tokens, '--tokens', referenceSettings.tokens);
    const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
    const inspection = await withServices(async (services) =>
      services.models.inspect(positionals[0]!, {
        unetConfig: resolve(values['unet-config']),
        vaeConfig: resolve(values['vae-config']),
        imageSize,
        tokens,
      }),
    );
    io.out(`Model:      ${inspection.path}`);
    io.out(`Kind:       ${inspection.detection.description}`);
    if (inspection.randomWeights) io.out('Weights:    random (a demo model): it runs, but its keypoints mean nothing');
    if (!inspection.model || !inspection.memory)
      throw new UserError(inspection.detection.problem ?? inspection.detection.description);
    describe(io, inspection.model, inspection.memory, inspection.memorySettings);
    return 0;
  },
};
