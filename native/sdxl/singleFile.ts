// Key mapping between the original Stability single-file layout (`sd_xl_base_1.0.safetensors`:
// `model.diffusion_model.*` = the UNet, `first_stage_model.*` = the VAE) and diffusers' names.
// Both directions are pure functions of a small layout description, so the loader (original ->
// diffusers) and the random model maker (diffusers -> original) cannot drift apart.
//
// The original UNet numbers its blocks flat: input_blocks.0 is conv_in, then per resolution level
// `layersPerBlock` entries of [resnet, attention?] followed by one downsample entry (not after the
// last level); output_blocks hold `layersPerBlock + 1` entries per level, lowest resolution first,
// the last entry of a level carrying the upsampler after its resnet (and attention, if any). The
// VAE decoder numbers its levels the other way round from diffusers (up.0 is the highest resolution).

export const UNET_PREFIX = 'model.diffusion_model.';
export const VAE_PREFIX = 'first_stage_model.';

export class KeyMappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyMappingError';
  }
}

/** What the UNet key mapping needs to know: per down level, resnet count and whether it has attention. */
export interface UNetLayout {
  layersPerBlock: number[];
  hasAttention: boolean[];
}

/** The VAE mapping only needs the number of resolution levels (decoder indices are reversed). */
export interface VaeLayout {
  levels: number;
}

type Rename = readonly [original: string, diffusers: string];

const RESNET_RENAMES: Rename[] = [
  ['in_layers.0.', 'norm1.'],
  ['in_layers.2.', 'conv1.'],
  ['emb_layers.1.', 'time_emb_proj.'],
  ['out_layers.0.', 'norm2.'],
  ['out_layers.3.', 'conv2.'],
  ['skip_connection.', 'conv_shortcut.'],
];

const UNET_FIXED: Rename[] = [
  ['time_embed.0.', 'time_embedding.linear_1.'],
  ['time_embed.2.', 'time_embedding.linear_2.'],
  ['label_emb.0.0.', 'add_embedding.linear_1.'],
  ['label_emb.0.2.', 'add_embedding.linear_2.'],
  ['input_blocks.0.0.', 'conv_in.'],
  ['out.0.', 'conv_norm_out.'],
  ['out.2.', 'conv_out.'],
];

const VAE_RESNET_RENAMES: Rename[] = [['nin_shortcut.', 'conv_shortcut.']];

const VAE_ATTENTION_RENAMES: Rename[] = [
  ['norm.', 'group_norm.'],
  ['q.', 'to_q.'],
  ['k.', 'to_k.'],
  ['v.', 'to_v.'],
  ['proj_out.', 'to_out.0.'],
];

const VAE_FIXED: Rename[] = [
  ['encoder.norm_out.', 'encoder.conv_norm_out.'],
  ['decoder.norm_out.', 'decoder.conv_norm_out.'],
];

/** Names that are the same in both layouts. */
const VAE_SAME = [
  'encoder.conv_in.',
  'encoder.conv_out.',
  'decoder.conv_in.',
  'decoder.conv_out.',
  'quant_conv.',
  'post_quant_conv.',
];

function renamePrefix(rest: string, table: readonly Rename[], forward: boolean): string | null {
  for (const [o, d] of table) {
    const from = forward ? o : d;
    const to = forward ? d : o;
    if (rest.startsWith(from)) return to + rest.slice(from.length);
  }
  return null;
}

/** Maps a resnet-internal suffix; suffixes not in the table (none in practice) map to themselves. */
const resnetSuffix = (rest: string, forward: boolean): string => renamePrefix(rest, RESNET_RENAMES, forward) ?? rest;

interface InputSlot {
  level: number;
  kind: 'layer' | 'downsample';
  index: number;
}

function inputSlots(layout: UNetLayout): InputSlot[] {
  const slots: InputSlot[] = [{ level: -1, kind: 'layer', index: -1 }]; // input_blocks.0 = conv_in
  const levels = layout.layersPerBlock.length;
  layout.layersPerBlock.forEach((count, level) => {
    for (let i = 0; i < count; i++) slots.push({ level, kind: 'layer', index: i });
    if (level < levels - 1) slots.push({ level, kind: 'downsample', index: 0 });
  });
  return slots;
}

/** Up level i (lowest resolution first) holds reversed(layersPerBlock)[i] + 1 entries. */
function outputSlots(layout: UNetLayout): Array<{ level: number; index: number; last: boolean }> {
  const slots: Array<{ level: number; index: number; last: boolean }> = [];
  [...layout.layersPerBlock].reverse().forEach((count, level) => {
    for (let i = 0; i <= count; i++) slots.push({ level, index: i, last: i === count });
  });
  return slots;
}

const numbered = /^(\d+)\.(\d+)\.(.*)$/;

/** Original UNet key (without `model.diffusion_model.`) -> diffusers name, or null when unknown. */
export function unetKeyToDiffusers(key: string, layout: UNetLayout): string | null {
  const fixed = renamePrefix(key, UNET_FIXED, true);
  if (fixed !== null) return fixed;
  const levels = layout.layersPerBlock.length;
  if (key.startsWith('input_blocks.')) {
    const m = numbered.exec(key.slice('input_blocks.'.length));
    if (!m) return null;
    const slot = inputSlots(layout)[Number(m[1])];
    const sub = Number(m[2]);
    const rest = m[3]!;
    if (!slot || slot.level < 0) return null;
    if (slot.kind === 'downsample') {
      return sub === 0 && rest.startsWith('op.')
        ? `down_blocks.${slot.level}.downsamplers.0.conv.${rest.slice(3)}`
        : null;
    }
    if (sub === 0) return `down_blocks.${slot.level}.resnets.${slot.index}.${resnetSuffix(rest, true)}`;
    if (sub === 1 && layout.hasAttention[slot.level])
      return `down_blocks.${slot.level}.attentions.${slot.index}.${rest}`;
    return null;
  }
  if (key.startsWith('middle_block.')) {
    const m = /^(\d+)\.(.*)$/.exec(key.slice('middle_block.'.length));
    if (!m) return null;
    const rest = m[2]!;
    switch (m[1]) {
      case '0':
        return `mid_block.resnets.0.${resnetSuffix(rest, true)}`;
      case '1':
        return `mid_block.attentions.0.${rest}`;
      case '2':
        return `mid_block.resnets.1.${resnetSuffix(rest, true)}`;
      default:
        return null;
    }
  }
  if (key.startsWith('output_blocks.')) {
    const m = numbered.exec(key.slice('output_blocks.'.length));
    if (!m) return null;
    const slot = outputSlots(layout)[Number(m[1])];
    if (!slot) return null;
    const sub = Number(m[2]);
    const rest = m[3]!;
    const attn = layout.hasAttention[levels - 1 - slot.level]!;
    const up = `up_blocks.${slot.level}`;
    if (sub === 0) return `${up}.resnets.${slot.index}.${resnetSuffix(rest, true)}`;
    if (sub === 1 && attn) return `${up}.attentions.${slot.index}.${rest}`;
    const upsampleSub = attn ? 2 : 1;
    const hasUpsampler = slot.level < levels - 1;
    if (sub === upsampleSub && slot.last && hasUpsampler && rest.startsWith('conv.')) {
      return `${up}.upsamplers.0.${rest}`;
    }
    return null;
  }
  return null;
}

/** diffusers UNet name -> original key (without prefix). Throws for names outside the SDXL layout. */
export function unetKeyToOriginal(name: string, layout: UNetLayout): string {
  const fixed = renamePrefix(name, UNET_FIXED, false);
  if (fixed !== null) return fixed;
  const levels = layout.layersPerBlock.length;
  const fail = (): never => {
    throw new KeyMappingError(`UNet tensor '${name}' has no place in the original single-file layout`);
  };
  let m = /^down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const level = Number(m[1]);
    const index = Number(m[3]);
    const slots = inputSlots(layout);
    const kind = m[2] === 'downsamplers' ? 'downsample' : 'layer';
    const n = slots.findIndex((s) => s.level === level && s.kind === kind && s.index === index);
    if (n < 0) fail();
    const rest = m[4]!;
    if (m[2] === 'resnets') return `input_blocks.${n}.0.${resnetSuffix(rest, false)}`;
    if (m[2] === 'attentions') return `input_blocks.${n}.1.${rest}`;
    if (!rest.startsWith('conv.')) fail();
    return `input_blocks.${n}.0.op.${rest.slice('conv.'.length)}`;
  }
  m = /^mid_block\.(resnets|attentions)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const rest = m[3]!;
    if (m[1] === 'attentions' && m[2] === '0') return `middle_block.1.${rest}`;
    if (m[1] === 'resnets' && (m[2] === '0' || m[2] === '1')) {
      return `middle_block.${m[2] === '0' ? 0 : 2}.${resnetSuffix(rest, false)}`;
    }
    fail();
  }
  m = /^up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const level = Number(m[1]);
    const index = Number(m[3]);
    const rest = m[4]!;
    const slots = outputSlots(layout);
    if (level >= levels) fail();
    const attn = layout.hasAttention[levels - 1 - level]!;
    if (m[2] === 'upsamplers') {
      const n = slots.findIndex((s) => s.level === level && s.last);
      if (index !== 0 || level === levels - 1) fail();
      return `output_blocks.${n}.${attn ? 2 : 1}.${rest}`;
    }
    const n = slots.findIndex((s) => s.level === level && s.index === index);
    if (n < 0) fail();
    return m[2] === 'resnets' ? `output_blocks.${n}.0.${resnetSuffix(rest, false)}` : `output_blocks.${n}.1.${rest}`;
  }
  return fail();
}

/** Original VAE key (without `first_stage_model.`) -> diffusers name, or null when unknown. */
export function vaeKeyToDiffusers(key: string, layout: VaeLayout): string | null {
  if (VAE_SAME.some((p) => key.startsWith(p))) return key;
  const fixed = renamePrefix(key, VAE_FIXED, true);
  if (fixed !== null) return fixed;
  let m = /^encoder\.down\.(\d+)\.(block\.(\d+)|downsample)\.(.*)$/.exec(key);
  if (m) {
    const level = Number(m[1]);
    if (level >= layout.levels) return null;
    if (m[3] !== undefined)
      return `encoder.down_blocks.${level}.resnets.${m[3]}.${renamePrefix(m[4]!, VAE_RESNET_RENAMES, true) ?? m[4]}`;
    return m[4]!.startsWith('conv.') ? `encoder.down_blocks.${level}.downsamplers.0.${m[4]}` : null;
  }
  m = /^decoder\.up\.(\d+)\.(block\.(\d+)|upsample)\.(.*)$/.exec(key);
  if (m) {
    const level = layout.levels - 1 - Number(m[1]);
    if (level < 0) return null;
    if (m[3] !== undefined)
      return `decoder.up_blocks.${level}.resnets.${m[3]}.${renamePrefix(m[4]!, VAE_RESNET_RENAMES, true) ?? m[4]}`;
    return m[4]!.startsWith('conv.') ? `decoder.up_blocks.${level}.upsamplers.0.${m[4]}` : null;
  }
  m = /^(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(.*)$/.exec(key);
  if (m) {
    const rest = m[3]!;
    if (m[2] === 'attn_1') {
      const renamed = renamePrefix(rest, VAE_ATTENTION_RENAMES, true);
      return renamed === null ? null : `${m[1]}.mid_block.attentions.0.${renamed}`;
    }
    const r = renamePrefix(rest, VAE_RESNET_RENAMES, true) ?? rest;
    return `${m[1]}.mid_block.resnets.${m[2] === 'block_1' ? 0 : 1}.${r}`;
  }
  return null;
}

/** diffusers VAE name -> original key (without prefix). */
export function vaeKeyToOriginal(name: string, layout: VaeLayout): string {
  const fail = (): never => {
    throw new KeyMappingError(`VAE tensor '${name}' has no place in the original single-file layout`);
  };
  if (VAE_SAME.some((p) => name.startsWith(p))) return name;
  const fixed = renamePrefix(name, VAE_FIXED, false);
  if (fixed !== null) return fixed;
  const resnet = (rest: string) => renamePrefix(rest, VAE_RESNET_RENAMES, false) ?? rest;
  let m = /^encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    if (m[2] === 'resnets') return `encoder.down.${m[1]}.block.${m[3]}.${resnet(m[4]!)}`;
    return m[3] === '0' ? `encoder.down.${m[1]}.downsample.${m[4]}` : fail();
  }
  m = /^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const k = layout.levels - 1 - Number(m[1]);
    if (k < 0) fail();
    if (m[2] === 'resnets') return `decoder.up.${k}.block.${m[3]}.${resnet(m[4]!)}`;
    return m[3] === '0' ? `decoder.up.${k}.upsample.${m[4]}` : fail();
  }
  m = /^(encoder|decoder)\.mid_block\.(resnets\.(\d+)|attentions\.0)\.(.*)$/.exec(name);
  if (m) {
    if (m[3] !== undefined) {
      if (m[3] !== '0' && m[3] !== '1') fail();
      return `${m[1]}.mid.block_${Number(m[3]) + 1}.${resnet(m[4]!)}`;
    }
    const renamed = renamePrefix(m[4]!, VAE_ATTENTION_RENAMES, false);
    return renamed === null ? fail() : `${m[1]}.mid.attn_1.${renamed}`;
  }
  return fail();
}

/** VAE attention projections the original stores as 1×1 convs and diffusers as Linear. */
export const isVaeAttentionProjection = (diffusersName: string): boolean =>
  /^(encoder|decoder)\.mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(diffusersName);

/** diffusers VAE names from before the attention refactor (diffusers < 0.14) -> current names. */
export function legacyVaeName(name: string): string {
  return name
    .replace(/(mid_block\.attentions\.0\.)query\./, '$1to_q.')
    .replace(/(mid_block\.attentions\.0\.)key\./, '$1to_k.')
    .replace(/(mid_block\.attentions\.0\.)value\./, '$1to_v.')
    .replace(/(mid_block\.attentions\.0\.)proj_attn\./, '$1to_out.0.');
}

// Architecture from tensor shapes ---------------------------------------------------------------
// A single file carries no config. Channels, depths and widths follow from the shapes; head
// counts, group counts and the time-id width do not, so they come from a diffusers config when
// the user gives one, else SDXL's values.

export interface ShapeTable {
  keys: string[];
  shape(key: string): number[] | undefined;
}

function need(t: ShapeTable, key: string, what: string, rank?: number): number[] {
  const s = t.shape(key);
  if (!s) throw new KeyMappingError(`the single file has no '${key}' (${what})`);
  if (rank !== undefined && s.length !== rank) {
    throw new KeyMappingError(`'${key}' has shape [${s.join(', ')}], expected ${rank} dimensions (${what})`);
  }
  return s;
}

/** Highest `<prefix><n>.` index + 1 among keys, or 0. */
function countIndexed(keys: string[], prefix: string): number {
  let max = -1;
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

export interface InferredUNet {
  layout: UNetLayout;
  /** The shape-determined fields of a diffusers UNet config. */
  config: {
    in_channels: number;
    out_channels: number;
    block_out_channels: number[];
    layers_per_block: number[];
    transformer_layers_per_block: number[];
    down_block_types: string[];
    up_block_types: string[];
    cross_attention_dim: number;
    projection_class_embeddings_input_dim: number;
    use_linear_projection: boolean;
  };
}

/** Reads the UNet's layout from original keys (prefix already stripped). */
export function inferUNet(t: ShapeTable): InferredUNet {
  const inputCount = countIndexed(t.keys, 'input_blocks.');
  const layersPerBlock: number[] = [];
  const hasAttention: boolean[] = [];
  const channels: number[] = [];
  const depth: number[] = [];
  let resnets = 0;
  let attention = false;
  let levelChannels = 0;
  let levelDepth = 0;
  const closeLevel = () => {
    if (resnets === 0) throw new KeyMappingError(`UNet level ${layersPerBlock.length} has no resnets in input_blocks`);
    layersPerBlock.push(resnets);
    hasAttention.push(attention);
    channels.push(levelChannels);
    depth.push(attention ? levelDepth : 1);
    resnets = 0;
    attention = false;
    levelDepth = 0;
  };
  for (let n = 1; n < inputCount; n++) {
    const p = `input_blocks.${n}.`;
    if (t.shape(`${p}0.op.weight`)) {
      closeLevel();
      continue;
    }
    levelChannels = need(t, `${p}0.out_layers.3.weight`, 'resnet output conv', 4)[0]!;
    resnets++;
    if (t.shape(`${p}1.proj_in.weight`)) {
      const d = countIndexed(t.keys, `${p}1.transformer_blocks.`);
      if (attention && d !== levelDepth) {
        throw new KeyMappingError(
          `input_blocks.${n}: ${d} transformer blocks where the level's others have ${levelDepth}`,
        );
      }
      attention = true;
      levelDepth = d;
    }
  }
  closeLevel();
  const layout: UNetLayout = { layersPerBlock, hasAttention };
  const midDepth = countIndexed(t.keys, 'middle_block.1.transformer_blocks.');
  const last = depth.length - 1;
  if (midDepth !== depth[last] && hasAttention[last]) {
    throw new KeyMappingError(
      `the mid block has ${midDepth} transformer blocks, the last level ${depth[last]}: not supported`,
    );
  }
  if (!hasAttention[last]) depth[last] = midDepth;
  const attnKey = t.keys.find((k) => /\.attn2\.to_k\.weight$/.test(k));
  if (!attnKey) throw new KeyMappingError('the UNet has no cross-attention (attn2.to_k) weights');
  const projIn = t.keys.find((k) => k.endsWith('.proj_in.weight'));
  const outputCount = countIndexed(t.keys, 'output_blocks.');
  const expectedOutputs = layersPerBlock.reduce((a, b) => a + b + 1, 0);
  if (outputCount !== expectedOutputs) {
    throw new KeyMappingError(`output_blocks has ${outputCount} entries, the input blocks imply ${expectedOutputs}`);
  }
  return {
    layout,
    config: {
      in_channels: need(t, 'input_blocks.0.0.weight', 'conv_in', 4)[1]!,
      out_channels: need(t, 'out.2.weight', 'conv_out', 4)[0]!,
      block_out_channels: channels,
      layers_per_block: layersPerBlock,
      transformer_layers_per_block: depth,
      down_block_types: hasAttention.map((a) => (a ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
      up_block_types: [...hasAttention].reverse().map((a) => (a ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
      cross_attention_dim: need(t, attnKey, 'cross-attention key projection', 2)[1]!,
      projection_class_embeddings_input_dim: need(
        t,
        'label_emb.0.0.weight',
        'add_embedding (SDXL text_time conditioning)',
        2,
      )[1]!,
      use_linear_projection: (projIn ? t.shape(projIn)! : []).length === 2,
    },
  };
}

export interface InferredVae {
  layout: VaeLayout;
  config: {
    in_channels: number;
    out_channels: number;
    latent_channels: number;
    block_out_channels: number[];
    layers_per_block: number;
    down_block_types: string[];
    up_block_types: string[];
    mid_block_add_attention: boolean;
    use_quant_conv: boolean;
    use_post_quant_conv: boolean;
  };
}

export function inferVae(t: ShapeTable): InferredVae {
  const levels = countIndexed(t.keys, 'encoder.down.');
  if (levels === 0) throw new KeyMappingError('the VAE has no encoder.down.* blocks');
  const channels: number[] = [];
  for (let i = 0; i < levels; i++)
    channels.push(need(t, `encoder.down.${i}.block.0.conv2.weight`, 'VAE resnet conv', 4)[0]!);
  return {
    layout: { levels },
    config: {
      in_channels: need(t, 'encoder.conv_in.weight', 'VAE encoder conv_in', 4)[1]!,
      out_channels: need(t, 'decoder.conv_out.weight', 'VAE decoder conv_out', 4)[0]!,
      latent_channels: need(t, 'encoder.conv_out.weight', 'VAE encoder conv_out', 4)[0]! / 2,
      block_out_channels: channels,
      layers_per_block: countIndexed(t.keys, 'encoder.down.0.block.'),
      down_block_types: channels.map(() => 'DownEncoderBlock2D'),
      up_block_types: channels.map(() => 'UpDecoderBlock2D'),
      mid_block_add_attention: t.shape('encoder.mid.attn_1.q.weight') !== undefined,
      use_quant_conv: t.shape('quant_conv.weight') !== undefined,
      use_post_quant_conv: t.shape('post_quant_conv.weight') !== undefined,
    },
  };
}
