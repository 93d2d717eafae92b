import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelCheckCommand } from '../../electron/cli/commands/modelCheck.js';
import { UserError, type CliIO } from '../../electron/cli/command.js';
import { writeSafetensors } from '../../native/weights/safetensors.js';
import { estimateTrainingMemory } from '../../native/sdxl/memoryEstimate.js';
import { referenceSettings } from '../../native/keypoints/settings.js';
import { trainingMemorySettings } from '../../electron/services/modelService.js';
import { loadSdxlModel } from '../../native/sdxl/load.js';
import { goldenModelDir, goldenSingleFile } from '../golden/paths.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-check-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function check(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const io: CliIO = { out: (l) => lines.push(l), err: (l) => lines.push(l) };
  return { code: await modelCheckCommand.run(args, io), lines };
}

const repoRoot = path.resolve(import.meta.dirname, '../..');
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
    expect(text).toMatch(/Memory: +about [\d.]+ GB for a training iteration at 512² with 500 tokens/);
    expect(text).toContain('estimate: weights: parameters × 4 B');
  });

  it('scales the memory estimate with image size and tokens', async () => {
    const model = loadSdxlModel(caseA);
    const at = (imageSize: number, tokens: number) =>
      estimateTrainingMemory(
        model.unet.config,
        model.vae.config,
        model.parameterCount,
        trainingMemorySettings({ ...referenceSettings, imageSize, tokens }),
      );
    expect(at(512, 500).weightBytes).toBe(model.parameterCount * 4);
    expect(at(1024, 500).activationBytes).toBeGreaterThan(at(512, 500).activationBytes);
    expect(at(512, 1000).activationBytes).toBeGreaterThan(at(512, 500).activationBytes);
    const { lines } = await check([caseA, '--image-size', '256', '--tokens', '40']);
    expect(lines.join('\n')).toContain('at 256² with 40 tokens');
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
