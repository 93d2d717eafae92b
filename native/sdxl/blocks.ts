// The building blocks of SDXL's UNet and VAE, as in diffusers (ResnetBlock2D, Attention,
// BasicTransformerBlock, Transformer2DModel, Down/Upsample2D), in NCHW layout.
import type { Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import type { Params } from './params.js';

export interface NormSettings {
  groups: number;
  eps: number;
}

const conv = (p: Params, x: Tensor, name: string, opts: { stride?: number; pad?: number } = {}) =>
  op.conv2dBias(x, p.get(`${name}.weight`), p.optional(`${name}.bias`), opts);

const linear = (p: Params, x: Tensor, name: string) =>
  op.linear(x, p.linearWeight(`${name}.weight`), p.optional(`${name}.bias`));

export const groupNorm = (p: Params, x: Tensor, name: string, norm: NormSettings) =>
  op.groupNorm(x, norm.groups, p.get(`${name}.weight`), p.get(`${name}.bias`), norm.eps);

const layerNorm = (p: Params, x: Tensor, name: string, eps = 1e-5) =>
  op.layerNorm(x, p.get(`${name}.weight`), p.get(`${name}.bias`), eps);

/** ResnetBlock2D; `temb` is the already-activated time embedding [B, T] (UNet) or undefined (VAE). */
export function resnet(p: Params, x: Tensor, temb: Tensor | undefined, norm: NormSettings): Tensor {
  let h = op.silu(groupNorm(p, x, 'norm1', norm));
  h = conv(p, h, 'conv1', { pad: 1 });
  if (temb) {
    const t = linear(p, temb, 'time_emb_proj');
    h = op.add(h, op.reshape(t, [t.shape[0]!, t.shape[1]!, 1, 1]));
  }
  h = op.silu(groupNorm(p, h, 'norm2', norm));
  h = conv(p, h, 'conv2', { pad: 1 });
  const shortcut = p.has('conv_shortcut.weight') ? conv(p, x, 'conv_shortcut') : x;
  return op.add(shortcut, h);
}

/** Downsample2D: a stride-2 conv. The VAE pads only right/bottom by one (diffusers' padding=0 path). */
export function downsample(p: Params, x: Tensor, kind: 'unet' | 'vae'): Tensor {
  if (kind === 'unet') return conv(p, x, 'conv', { stride: 2, pad: 1 });
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const g = x.graph;
  const right = op.concat([x, g.fill(0, [n, c, h, 1])], 3);
  const padded = op.concat([right, g.fill(0, [n, c, 1, w + 1])], 2);
  return conv(p, padded, 'conv', { stride: 2, pad: 0 });
}

/** Upsample2D: nearest ×2 (as reshape + expand, whose gradient is a plain sum), then a 3×3 conv. */
export function upsample(p: Params, x: Tensor): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const wide = op.expand(op.reshape(x, [n, c, h, 1, w, 1]), [n, c, h, 2, w, 2]);
  return conv(p, op.reshape(wide, [n, c, 2 * h, 2 * w]), 'conv', { pad: 1 });
}

/** Token layout [B, h·w, C] → image layout [B, C, h, w]. */
export const toImage = (t: Tensor, h: number, w: number) =>
  op.transpose(op.reshape(t, [t.shape[0]!, h, w, t.shape[2]!]), [0, 3, 1, 2]);

/** Image layout [B, C, h, w] → token layout [B, h·w, C]. */
export function toTokens(x: Tensor): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  return op.reshape(op.transpose(x, [0, 2, 3, 1]), [b, h * w, c]);
}

/** Splits [B, T, C] into heads [B, heads, T, C/heads]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, c] = x.shape as [number, number, number];
  return op.transpose(op.reshape(x, [b, t, heads, c / heads]), [0, 2, 1, 3]);
}

export function mergeHeads(x: Tensor): Tensor {
  const [b, heads, t, d] = x.shape as [number, number, number, number];
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [b, t, heads * d]);
}

/** The scale of scaled dot-product attention, 1/√d for queries [B, heads, T, d]. */
export const attentionScale = (q: Tensor): number => 1 / Math.sqrt(q.shape[q.shape.length - 1]!);

export interface AttentionInputs {
  /** Normalised hidden states [B, T, C]. */
  hidden: Tensor;
  /** Keys/values source: the same hidden states (self-attention) or the tokens [1 or B, N, D]. */
  context: Tensor;
  heads: number;
}

/** diffusers Attention (to_q/k/v, softmax, to_out.0) in token layout. */
export function attention(p: Params, { hidden, context, heads }: AttentionInputs): Tensor {
  const q = splitHeads(linear(p, hidden, 'to_q'), heads);
  const k = splitHeads(linear(p, context, 'to_k'), heads);
  const v = splitHeads(linear(p, context, 'to_v'), heads);
  return linear(p, mergeHeads(op.attention(q, k, v, attentionScale(q))), 'to_out.0');
}

/** Replaces a cross-attention layer's computation; returns the layer output before `to_out`. */
export type CrossAttentionOverride = (p: Params, inputs: AttentionInputs, spatial: [number, number]) => Tensor;

export interface TransformerOptions {
  heads: number;
  depth: number;
  norm: NormSettings;
  linearProjection: boolean;
  /** Called for each transformer block's attn2; returns an override or undefined to run it normally. */
  crossAttention: (blockIndex: number) => CrossAttentionOverride | undefined;
  /** Stop after this block's attn2 (nothing later matters); the output is then undefined. */
  stopAfterBlock?: number;
}

function basicTransformerBlock(
  p: Params,
  x: Tensor,
  context: Tensor,
  heads: number,
  spatial: [number, number],
  override: CrossAttentionOverride | undefined,
  stop: boolean,
): Tensor | undefined {
  const n1 = layerNorm(p, x, 'norm1');
  x = op.add(x, attention(p.at('attn1'), { hidden: n1, context: n1, heads }));
  const n2 = layerNorm(p, x, 'norm2');
  const inputs = { hidden: n2, context, heads };
  const cross = override
    ? op.linear(
        override(p.at('attn2'), inputs, spatial),
        p.at('attn2').linearWeight('to_out.0.weight'),
        p.at('attn2').get('to_out.0.bias'),
      )
    : attention(p.at('attn2'), inputs);
  if (stop) return undefined;
  x = op.add(x, cross);
  const n3 = layerNorm(p, x, 'norm3');
  // GEGLU: the projection holds the value half first, then the gate half; the op adds its bias.
  const proj = op.matmul(n3, op.transpose(p.linearWeight('ff.net.0.proj.weight'), [1, 0]));
  const gated = op.geglu(proj, p.get('ff.net.0.proj.bias'));
  return op.add(x, linear(p, gated, 'ff.net.2'));
}

/** Transformer2DModel; returns the block output, or undefined when stopped early. */
export function transformer2d(p: Params, x: Tensor, context: Tensor, opts: TransformerOptions): Tensor | undefined {
  const [, , h, w] = x.shape as [number, number, number, number];
  const normed = groupNorm(p, x, 'norm', { groups: opts.norm.groups, eps: 1e-6 });
  const fromTokens = (t: Tensor) => toImage(t, h, w);
  let tokens = opts.linearProjection ? linear(p, toTokens(normed), 'proj_in') : toTokens(conv(p, normed, 'proj_in'));
  for (let i = 0; i < opts.depth; i++) {
    const stop = opts.stopAfterBlock === i;
    const out = basicTransformerBlock(
      p.at(`transformer_blocks.${i}`),
      tokens,
      context,
      opts.heads,
      [h, w],
      opts.crossAttention(i),
      stop,
    );
    if (!out) return undefined;
    tokens = out;
  }
  const projected = opts.linearProjection
    ? fromTokens(linear(p, tokens, 'proj_out'))
    : conv(p, fromTokens(tokens), 'proj_out');
  return op.add(projected, x);
}

/** The VAE's single-head spatial self-attention (mid block). */
export function vaeAttention(p: Params, x: Tensor, norm: NormSettings): Tensor {
  const [, , h, w] = x.shape as [number, number, number, number];
  const tokens = toTokens(groupNorm(p, x, 'group_norm', norm));
  const out = attention(p, { hidden: tokens, context: tokens, heads: 1 });
  return op.add(toImage(out, h, w), x);
}
