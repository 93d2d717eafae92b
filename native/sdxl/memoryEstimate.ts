// A rough estimate of the memory one training iteration needs, so `skp model check` can say
// "this will not fit your 16 GB GPU" before a run starts. It counts what the backward pass keeps,
// block by block, with per-block constants read off the graph's saved tensors; it is meant to be
// right within a factor of about 1.5, not exact.
import type { UNetConfig, VaeConfig } from './config.js';

export interface MemorySettings {
  /** Image side S in pixels. */
  imageSize: number;
  /** Learned tokens N. */
  tokens: number;
  /** Side R of the upsampled attention maps. */
  upsampleRes: number;
  /** UNet evaluations whose activations are alive at once (training: plain + warped image). */
  evaluations: number;
  /** Controlled cross-attention layers; the UNet stops after the last. */
  controlledLayers: number;
  /** A cross-attention layer is eligible for control when its query tokens are at most this. */
  maxQueryTokens: number;
}

export interface MemoryEstimate {
  weightBytes: number;
  activationBytes: number;
  vaeBytes: number;
  totalBytes: number;
  /** The formula, in words, for the user. */
  formula: string;
}

const FLOAT = 4;

/** Floats kept for backward by one UNet evaluation, up to the last controlled layer. */
function unetActivationFloats(c: UNetConfig, latentSide: number, s: MemorySettings): number {
  const n = c.blockOutChannels.length;
  const tokensAt = (level: number) => Math.max(1, Math.floor(latentSide / 2 ** level)) ** 2;
  const resnet = (ch: number, t: number) => 10 * ch * t;
  // Attention keeps its softmax probabilities for backward (the scores are transient).
  const block = (ch: number, heads: number, t: number) => 24 * ch * t + heads * t * t + heads * t * s.tokens;
  const controlled = (ch: number, heads: number) => heads * s.upsampleRes ** 2 * s.tokens + 2 * ch * s.upsampleRes ** 2;
  let floats = 0;
  for (let i = 0; i < n; i++) {
    const ch = c.blockOutChannels[i]!;
    const t = tokensAt(i);
    for (let j = 0; j < c.layersPerBlock[i]!; j++) {
      floats += resnet(ch, t);
      if (c.downHasAttention[i]) floats += c.transformerDepth[i]! * block(ch, c.headCount[i]!, t);
    }
  }
  const last = c.blockOutChannels[n - 1]!;
  floats += 2 * resnet(last, tokensAt(n - 1)) + c.midTransformerDepth * block(last, c.midHeadCount, tokensAt(n - 1));
  let controlledSeen = 0;
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const ch = c.blockOutChannels[level]!;
    const t = tokensAt(level);
    for (let j = 0; j < c.upLayersPerBlock[i]!; j++) {
      floats += resnet(2 * ch, t);
      if (!c.upHasAttention[i]) continue;
      for (let k = 0; k < c.upTransformerDepth[i]!; k++) {
        floats += block(ch, c.upHeadCount[i]!, t);
        if (t <= s.maxQueryTokens) {
          floats += controlled(ch, c.upHeadCount[i]!);
          if (++controlledSeen === s.controlledLayers) return floats;
        }
      }
    }
    if (level > 0) floats += 2 * ch * tokensAt(level - 1);
  }
  return floats;
}

/** Weights as float32 (the engine computes in float32 whatever the file stores) plus activations. */
export function estimateTrainingMemory(
  unet: UNetConfig,
  vae: VaeConfig,
  parameterCount: number,
  settings: MemorySettings,
): MemoryEstimate {
  const latentSide = Math.floor(settings.imageSize / 2 ** (vae.blockOutChannels.length - 1));
  const weightBytes = parameterCount * FLOAT;
  const activationBytes = settings.evaluations * unetActivationFloats(unet, latentSide, settings) * FLOAT;
  const vaeBytes = 3 * vae.blockOutChannels[0]! * settings.imageSize ** 2 * FLOAT;
  const s = settings;
  const formula = [
    `weights: parameters × 4 B (float32);`,
    `activations: 4 B × ${s.evaluations} evaluations × [Σ resnets 10·C·T + Σ transformer blocks (24·C·T + heads·T² + heads·T·N)`,
    `+ Σ controlled layers (heads·R²·N + 2·C·R²)] over the UNet up to controlled layer ${s.controlledLayers},`,
    `C = channels, T = latent tokens at that resolution, N = ${s.tokens} tokens, R = ${s.upsampleRes}, image ${s.imageSize}²;`,
    `VAE encoder: 3·C0·S²·4 B.`,
  ].join(' ');
  return { weightBytes, activationBytes, vaeBytes, totalBytes: weightBytes + activationBytes + vaeBytes, formula };
}
