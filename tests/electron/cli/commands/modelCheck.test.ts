import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelCheckCommand } from '../../../../electron/cli/commands/modelCheck.js';
import { UserError, type CliIO } from '../../../../electron/cli/command.js';
import { writeSafetensors } from '../../../../native/weights/safetensors.js';
import { cachedMethodMemory, CUDA_CONTEXT_BYTES, methodMemory } from '../../../../native/keypoints/memoryPlan.js';
import { parseRunSettings } from '../../../../native/keypoints/settings.js';
import { loadSdxlModel } from '../../../../native/sdxl/load.js';
import { goldenModelDir, goldenSingleFile } from '../../../golden/paths.js';

let tmp: string;
const cacheBefore = process.env.SKP_CACHE_DIR;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-check-'));
  process.env.SKP_CACHE_DIR = path.join(tmp, 'cache');
});
afterAll(() => {
  if (cacheBefore === undefined) delete process.env.SKP_CACHE_DIR;
  else process.env.SKP_CACHE_DIR = cacheBefore;
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function check(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const io: CliIO = { out: (l) => lines.push(l), err: (l) => lines.push(l) };
  return { code: await modelCheckCommand.run(args, io), lines };
}

const repoRoot = path.resolve(import.meta.dirname, '../../../..');
const caseA = goldenModelDir();

describe('skp model check', () => {
  it("describes case_a's single file with its configs", async () => {
    const { code, lines } = await check([
      goldenSingleFile(),
      '--unet-config',
      path.join(caseA, 'unet/config.json'),
      '--vae-config',
      path.join(caseA, 'vae/config.json'),
    ]);
    const text = lines.join('\n');
    expect(code).toBe(0);
    expect(text).toContain('Kind:       an SDXL base model');
    expect(text).toContain('single file (original layout)');
    expect(text).toContain('Stored as:  float16');
    expect(text).toContain('Parameters: 7,225,435 (UNet 6,787,588, VAE 437,847)');
    expect(text).toContain('channels 32/64/96');
    expect(text).toContain('heads 4/6 (16/16 channels per head), 16 norm groups');
    expect(text).toContain('Memory:     GPU memory on native CUDA at 512² with 500 tokens and maps 128²');
    for (const job of [
      'training',
      'training, Low GPU memory',
      'finding keypoints, 2 warps a pass \\(more where half the GPU holds them\\)',
    ])
      expect(text).toMatch(
        new RegExp(
          `^ {12}${job} +[\\d.]+ GiB  \\(activations [\\d.]+ GiB \\+ weights [\\d.]+ GiB \\+ CUDA context and run-time buffers 1.03 GiB\\)$`,
          'm',
        ),
      );
  });

  it('plans each job at the settings given, with weights at their stored width', async () => {
    const model = loadSdxlModel(caseA);
    const at = (raw: Record<string, unknown>) => methodMemory(model, parseRunSettings(raw));
    const reference = at({});
    expect(at({ imageSize: 1024 }).training.arenaBytes).toBeGreaterThan(reference.training.arenaBytes);
    expect(at({ tokens: 1000 }).training.arenaBytes).toBeGreaterThan(reference.training.arenaBytes);
    expect(reference.lowMemoryTraining.arenaBytes).toBeLessThan(reference.training.arenaBytes);
    expect(at({ warpsPerPass: 1 }).inference.arenaBytes).toBeLessThan(reference.inference.arenaBytes);
    expect(reference.inference.warpsPerPass).toBe(2);
    const { training } = reference;
    expect(training.totalBytes).toBe(
      training.arenaBytes + training.constantBytes + training.weightBytes + CUDA_CONTEXT_BYTES,
    );
    // The float16 single file holds the same tensors as the float32 folder: half the bytes on the GPU.
    const half = loadSdxlModel(goldenSingleFile(), {
      unetConfig: path.join(caseA, 'unet/config.json'),
      vaeConfig: path.join(caseA, 'vae/config.json'),
    });
    const halfMemory = methodMemory(half, parseRunSettings({}));
    expect(halfMemory.training.weightBytes * 2).toBe(training.weightBytes);
    // Half-width weights are widened to float32 just before each GEMM reads them: a little more arena,
    // never a whole float32 copy of the weights.
    expect(halfMemory.training.arenaBytes).toBeGreaterThanOrEqual(training.arenaBytes);
    expect(halfMemory.training.arenaBytes - training.arenaBytes).toBeLessThan(halfMemory.training.weightBytes);
    // Only what the graphs read: the VAE decoder and the UNet past the controlled layers stay on disk.
    expect(training.weightBytes).toBeLessThan(model.parameterCount * 4);
    const { lines } = await check([caseA, '--image-size', '256', '--tokens', '40', '--set', 'upsampleRes=32']);
    expect(lines.join('\n')).toContain('at 256² with 40 tokens and maps 32²');
    await expect(check([caseA, '--set', 'upsampleRes=100'])).rejects.toThrow(/upsampleRes: 100 is not a multiple/);
  });

  it('keeps the plans by model and settings, and plans again over a damaged entry', () => {
    const model = loadSdxlModel(caseA);
    const dir = path.join(tmp, 'plans');
    const s = parseRunSettings({ imageSize: 256, tokens: 40, upsampleRes: 32 });
    const planned = cachedMethodMemory(model, s, dir);
    expect(planned).toEqual(methodMemory(model, s));
    const [entry] = fs.readdirSync(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, entry!), 'utf8'))).toEqual(planned);
    expect(cachedMethodMemory(model, s, dir)).toEqual(planned);
    const other = cachedMethodMemory(model, { ...s, tokens: 50 }, dir);
    expect(other.training.arenaBytes).toBeGreaterThan(planned.training.arenaBytes);
    expect(fs.readdirSync(dir)).toHaveLength(2);
    fs.writeFileSync(path.join(dir, entry!), '{"training": 1');
    expect(cachedMethodMemory(model, s, dir)).toEqual(planned);
  });

  it('refuses what is not SDXL base, saying what it is', async () => {
    const sd15 = path.join(tmp, 'sd15.safetensors');
    writeSafetensors(sd15, {
      'model.diffusion_model.input_blocks.0.0.weight': {
        dtype: 'F16',
        shape: [4, 4, 3, 3],
        data: new Float32Array(144),
      },
      'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': {
        dtype: 'F16',
        shape: [4, 768],
        data: new Float32Array(3072),
      },
    });
    await expect(check([sd15])).rejects.toThrow(UserError);
    await expect(check([sd15])).rejects.toThrow(
      /this is a Stable Diffusion 1.x model; the workstation needs an SDXL base UNet and VAE/,
    );
    await expect(check([goldenSingleFile()])).rejects.toThrow(/give the model's diffusers unet config.json/);
    await expect(check([caseA, '--tokens', 'many'])).rejects.toThrow(/--tokens must be a positive whole number/);
    await expect(check([])).rejects.toThrow(/give one model path/);
  });

  it('exits with code 2 and the reason from the real command line', () => {
    const broken = path.join(tmp, 'broken.safetensors');
    fs.writeFileSync(broken, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x7b]));
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/skp.mjs'), 'model', 'check', broken], {
      encoding: 'utf-8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`skp model check: ${broken}: header length`);
  });
});
