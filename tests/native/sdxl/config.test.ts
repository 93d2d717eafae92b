import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import {
  normalizeUNetConfig,
  parseDiffusersUNetConfig,
  readSchedulerConfig,
  readUNetConfig,
  readVaeConfig,
  ModelConfigError,
} from '../../../native/sdxl/config.js';
import { goldenModelDir } from '../../golden/paths.js';

const caseA = goldenModelDir();
const unetJson = () =>
  JSON.parse(fs.readFileSync(path.join(caseA, 'unet/config.json'), 'utf-8')) as Record<string, unknown>;
const normalize = (raw: unknown) => normalizeUNetConfig(parseDiffusersUNetConfig(raw, 'test.json'), 'test.json');

describe('UNet config', () => {
  it("reads case_a's config with attention_head_dim meaning heads per block", () => {
    const c = readUNetConfig(path.join(caseA, 'unet/config.json'));
    expect(c.blockOutChannels).toEqual([32, 64, 96]);
    expect(c.headCount).toEqual([2, 4, 6]);
    expect(c.blockOutChannels.map((ch, i) => ch / c.headCount[i]!)).toEqual([16, 16, 16]);
    expect(c.upHeadCount).toEqual([6, 4, 2]);
    expect(c.midHeadCount).toBe(6);
    expect(c.transformerDepth).toEqual([1, 2, 3]);
    expect(c.upTransformerDepth).toEqual([3, 2, 1]);
    expect(c.midTransformerDepth).toBe(3);
    expect(c.downHasAttention).toEqual([false, true, true]);
    expect(c.upHasAttention).toEqual([true, true, false]);
    expect(c.upLayersPerBlock).toEqual([3, 3, 3]);
    expect(c.normNumGroups).toBe(16);
    expect(c.crossAttentionDim).toBe(96);
    expect(c.timeEmbedDim).toBe(128);
    expect(c.additionTimeEmbedDim).toBe(8);
    expect(c.pooledDim).toBe(64);
  });

  it('expands integers per block and prefers num_attention_heads when set', () => {
    const raw = { ...unetJson(), attention_head_dim: 4, transformer_layers_per_block: 2, layers_per_block: 1 };
    const c = normalize(raw);
    expect(c.headCount).toEqual([4, 4, 4]);
    expect(c.transformerDepth).toEqual([2, 2, 2]);
    expect(c.upLayersPerBlock).toEqual([2, 2, 2]);
    expect(normalize({ ...raw, num_attention_heads: [1, 2, 3] }).headCount).toEqual([1, 2, 3]);
  });

  it('rejects what the SDXL graph does not implement, naming the field', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ addition_embed_type: null }, /addition_embed_type is null/],
      [{ attention_head_dim: [2, 4] }, /attention_head_dim has 2 entries for 3 blocks/],
      [{ attention_head_dim: [2, 4, 5] }, /block 2: 96 channels do not split into 5 heads/],
      [{ norm_num_groups: 7 }, /block 0: 32 channels do not split into 7 groups/],
      [
        { down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'AttnDownBlock2D'] },
        /'AttnDownBlock2D' is not supported/,
      ],
      [{ projection_class_embeddings_input_dim: 48 }, /leaves no room for a pooled embedding/],
      [{ block_out_channels: 'wide' }, /block_out_channels/],
    ];
    for (const [patch, message] of cases) {
      expect(() => normalize({ ...unetJson(), ...patch })).toThrow(ModelConfigError);
      expect(() => normalize({ ...unetJson(), ...patch })).toThrow(message);
    }
  });
});

describe('VAE and scheduler configs', () => {
  it("reads case_a's VAE and scheduler", () => {
    const v = readVaeConfig(path.join(caseA, 'vae/config.json'));
    expect(v).toMatchObject({
      blockOutChannels: [16, 32, 32, 32],
      layersPerBlock: 2,
      normNumGroups: 8,
      latentChannels: 4,
    });
    expect(v.normEps).toBe(1e-6);
    const s = readSchedulerConfig(path.join(caseA, 'scheduler/scheduler_config.json'));
    expect(s).toMatchObject({
      numTrainTimesteps: 1000,
      betaSchedule: 'scaled_linear',
      stepsOffset: 1,
      timestepSpacing: 'leading',
    });
  });

  it('names the file when it is missing or not JSON', () => {
    expect(() => readVaeConfig('/nonexistent/config.json')).toThrow(/\/nonexistent\/config.json: cannot read/);
  });
});
