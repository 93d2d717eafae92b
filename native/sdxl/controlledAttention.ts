// The method's controlled cross-attention (ALGORITHM.md step 5): queries from hidden states
// upsampled to R×R, per-pixel softmax over the tokens, maps averaged over heads, and the
// attention output resized back to the layer's own grid.
import type { Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { resizeTokens } from '../graph/resize.js';
import { attentionScale, splitHeads, type CrossAttentionOverride } from './blocks.js';

/**
 * Returns the override for one controlled layer. `onMap` receives the head-averaged
 * attention probabilities [B, R², N] (pixels × tokens); the override returns the layer output before `to_out`.
 */
export function controlledCrossAttention(res: number, onMap: (maps: Tensor) => void): CrossAttentionOverride {
  return (p, { hidden, context, heads }, [h, w]) => {
    const linear = (x: Tensor, name: string) =>
      op.linear(x, p.linearWeight(`${name}.weight`), p.optional(`${name}.bias`));
    // to_q(resize(h)) = resize(to_q(h)): both are linear and the resize weights of each output
    // pixel sum to 1. Projecting the h·w tokens before upsampling saves a C×C product per R² query
    // (SDXL, R = 128: 54 GFLOP per layer and evaluation, forward alone).
    const q = splitHeads(resizeTokens(linear(hidden, 'to_q'), h, w, res, res, 'bicubic'), heads);
    const k = splitHeads(linear(context, 'to_k'), heads);
    const v = splitHeads(linear(context, 'to_v'), heads);
    // Neither op keeps the per-head probabilities [B, heads, R², N] (at R = 128, 20 heads and
    // 500 tokens: 625 MiB per batch element); their gradients recompute them.
    const scale = attentionScale(q);
    onMap(op.attentionHeadMean(q, k, scale));
    const out = op.reshape(op.transpose(op.attention(q, k, v, scale), [0, 2, 1, 3]), [
      q.shape[0]!,
      res * res,
      hidden.shape[2]!,
    ]);
    return resizeTokens(out, res, res, h, w, 'bicubic');
  };
}
