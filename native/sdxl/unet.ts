// SDXL's UNet up to the last controlled cross-attention layer, producing the attention maps
// the keypoint method optimises (ALGORITHM.md, "One UNet evaluation").
import type { Tensor } from '../graph/ir.js';
import { GraphError } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { resnet, downsample, upsample, transformer2d } from './blocks.js';
import { controlledCrossAttention } from './controlledAttention.js';
import type { Params } from './params.js';
import { sinusoidalEmbedding } from './timeEmbedding.js';
import type { UNetConfig } from './config.js';

export interface MapSettings {
  /** Side R of the upsampled query grid. */
  upsampleRes: number;
  /** Which of the eligible up-block cross-attention layers are controlled (ALGORITHM: [0,1,2]). */
  layers: number[];
  /** A layer is eligible when its query token count is at most this (32²). */
  maxQueryTokens: number;
}

export interface UnetMapInputs {
  /** Noised latents [B, C, h, w]. */
  sample: Tensor;
  /** Learned tokens [1, N, D]. */
  tokens: Tensor;
  timestep: number;
  /** Image side in pixels, for SDXL's time ids. */
  imageSize: number;
}

export interface UnetMaps {
  /** Mean over layers and heads of the controlled layers' attention: [B, N, R, R]. */
  maps: Tensor;
  /** The pooled stand-in passed as `text_embeds` [1, pooledDim]. */
  textEmbeds: Tensor;
}

/** Where each controlled layer sits: up block, attention module, transformer block. */
interface LayerSite {
  upBlock: number;
  attention: number;
  block: number;
}

/** Finds the controlled layers by walking the up blocks' attn2 layers in execution order. */
export function controlledSites(arch: UNetConfig, latentSize: number, settings: MapSettings): LayerSite[] {
  const levels = arch.blockOutChannels.length;
  let side = latentSize / 2 ** (levels - 1);
  const eligible: LayerSite[] = [];
  for (let u = 0; u < levels; u++) {
    if (arch.upHasAttention[u]) {
      for (let a = 0; a < arch.upLayersPerBlock[u]!; a++) {
        for (let b = 0; b < arch.upTransformerDepth[u]!; b++) {
          if (side * side <= settings.maxQueryTokens) eligible.push({ upBlock: u, attention: a, block: b });
        }
      }
    }
    if (u < levels - 1) side *= 2;
  }
  return settings.layers.map((i) => {
    const site = eligible[i];
    if (!site) {
      throw new GraphError(
        `controlled layer ${i} does not exist: the UNet has ${eligible.length} cross-attention layers with at most ${settings.maxQueryTokens} query tokens at this image size`,
      );
    }
    return site;
  });
}

/** The pooled stand-in for SDXL's `text_embeds`: normalised mean of the tokens' last `pooledDim` channels. */
export function pooledTextEmbeds(tokens: Tensor, pooledDim: number): Tensor {
  const d = tokens.shape[2]!;
  const meanTokens = op.mean(tokens, [1]);
  const p = op.slice(meanTokens, 1, d - pooledDim, d);
  const norm = op.sqrt(op.sum(op.mul(p, p), [1], true));
  return op.div(p, op.add(norm, 1e-6));
}

function timeEmbedding(p: Params, arch: UNetConfig, inputs: UnetMapInputs, textEmbeds: Tensor): Tensor {
  const g = inputs.sample.graph;
  const c0 = arch.blockOutChannels[0]!;
  const tProj = g.constant(sinusoidalEmbedding(inputs.timestep, c0, arch.flipSinToCos, arch.freqShift), [1, c0]);
  const mlp = (q: Params, x: Tensor) =>
    op.linear(
      op.silu(op.linear(x, q.get('linear_1.weight'), q.get('linear_1.bias'))),
      q.get('linear_2.weight'),
      q.get('linear_2.bias'),
    );
  const emb = mlp(p.at('time_embedding'), tProj);
  const s = inputs.imageSize;
  const ids = [s, s, 0, 0, s, s];
  const idEmb = new Float32Array(ids.length * arch.additionTimeEmbedDim);
  ids.forEach((v, i) =>
    idEmb.set(
      sinusoidalEmbedding(v, arch.additionTimeEmbedDim, arch.flipSinToCos, arch.freqShift),
      i * arch.additionTimeEmbedDim,
    ),
  );
  const timeIds = g.constant(idEmb, [1, idEmb.length]);
  const added = mlp(p.at('add_embedding'), op.concat([textEmbeds, timeIds], 1));
  return op.add(emb, added);
}

/**
 * Builds the UNet evaluation that yields the attention maps; stops after the last controlled
 * layer. Its nodes are labelled 'unet': the layers the fast precision runs in TF32 (cuda/precision.ts).
 */
export function unetAttentionMaps(p: Params, arch: UNetConfig, inputs: UnetMapInputs, settings: MapSettings): UnetMaps {
  return inputs.sample.graph.scope('unet', () => buildUnetMaps(p, arch, inputs, settings));
}

function buildUnetMaps(p: Params, arch: UNetConfig, inputs: UnetMapInputs, settings: MapSettings): UnetMaps {
  const { sample, tokens } = inputs;
  if (tokens.shape[2] !== arch.crossAttentionDim) {
    throw new GraphError(
      `tokens are ${tokens.shape[2]} wide; this UNet's cross-attention expects ${arch.crossAttentionDim}`,
    );
  }
  const latentSize = sample.shape[2]!;
  const sites = controlledSites(arch, latentSize, settings);
  const last = sites[sites.length - 1]!;
  const headMeans = new Map<string, Tensor>();
  const key = (s: LayerSite) => `${s.upBlock}.${s.attention}.${s.block}`;
  const controlled = new Set(sites.map(key));

  const textEmbeds = pooledTextEmbeds(tokens, arch.pooledDim);
  const temb = op.silu(timeEmbedding(p, arch, inputs, textEmbeds));
  const levels = arch.blockOutChannels.length;
  const norm = { groups: arch.normNumGroups, eps: arch.normEps };
  const transformer = (heads: number, depth: number) => ({
    heads,
    depth,
    norm,
    linearProjection: arch.useLinearProjection,
    crossAttention: () => undefined,
  });

  let x = op.conv2dBias(sample, p.get('conv_in.weight'), p.get('conv_in.bias'), { pad: 1 });
  const skips: Tensor[] = [x];
  for (let d = 0; d < levels; d++) {
    const bp = p.at(`down_blocks.${d}`);
    for (let r = 0; r < arch.layersPerBlock[d]!; r++) {
      x = resnet(bp.at(`resnets.${r}`), x, temb, norm);
      if (arch.downHasAttention[d]) {
        x = transformer2d(
          bp.at(`attentions.${r}`),
          x,
          tokens,
          transformer(arch.headCount[d]!, arch.transformerDepth[d]!),
        )!;
      }
      skips.push(x);
    }
    if (d < levels - 1) {
      x = downsample(bp.at('downsamplers.0'), x, 'unet');
      skips.push(x);
    }
  }

  const mid = p.at('mid_block');
  x = resnet(mid.at('resnets.0'), x, temb, norm);
  x = transformer2d(mid.at('attentions.0'), x, tokens, transformer(arch.midHeadCount, arch.midTransformerDepth))!;
  x = resnet(mid.at('resnets.1'), x, temb, norm);

  for (let u = 0; u <= last.upBlock; u++) {
    const bp = p.at(`up_blocks.${u}`);
    for (let r = 0; r < arch.upLayersPerBlock[u]!; r++) {
      x = resnet(bp.at(`resnets.${r}`), op.concat([x, skips.pop()!], 1), temb, norm);
      if (!arch.upHasAttention[u]) continue;
      const isLast = u === last.upBlock && r === last.attention;
      const out = transformer2d(bp.at(`attentions.${r}`), x, tokens, {
        ...transformer(arch.upHeadCount[u]!, arch.upTransformerDepth[u]!),
        crossAttention: (b) => {
          const site = { upBlock: u, attention: r, block: b };
          if (!controlled.has(key(site))) return undefined;
          return controlledCrossAttention(settings.upsampleRes, (m) => headMeans.set(key(site), m));
        },
        stopAfterBlock: isLast ? last.block : undefined,
      });
      if (!out) break;
      x = out;
    }
    if (u === last.upBlock) break;
    if (u < levels - 1) x = upsample(bp.at('upsamplers.0'), x);
  }

  // The layers' maps are averaged as the attention leaves them, [B, R², N], and laid out as
  // [B, N, R, R] once: one transpose, and one for its gradient, rather than one per layer.
  const maps = sites.map((s) => headMeans.get(key(s))!);
  const total = maps.slice(1).reduce((acc, m) => op.add(acc, m), maps[0]!);
  const [b, , n] = total.shape as [number, number, number];
  const res = settings.upsampleRes;
  return { maps: op.reshape(op.transpose(op.mul(total, 1 / maps.length), [0, 2, 1]), [b, n, res, res]), textEmbeds };
}
