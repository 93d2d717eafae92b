// Which GEMMs may use TF32 tensor cores. TF32 rounds each product's inputs to 10 mantissa bits;
// the VAE's latents, the warps and resizes (matmuls too) and AdamW amplify that drift, so the
// fast precision keeps them in float32 and spends TF32 only on the UNet, where the FLOPs are.
import type { Tensor } from '../graph/ir.js';

/**
 * float32 (the default): IEEE float32 products everywhere, as the reference; every parity
 * quantity passes. tf32 (fast): the UNet's GEMMs, forward and backward, on TF32 tensor cores;
 * the VAE, warps, resizes and losses stay float32.
 */
export type CudaPrecision = 'float32' | 'tf32';

/** Nodes built inside the UNet (sdxl/unet.ts scopes them 'unet') and their gradients (autodiff: 'grad.unet…'). */
export const inUnet = (t: Tensor): boolean => /^(grad\.)?unet(\.|$)/.test(t.label ?? '');

/** Whether node t's GEMMs use TF32 under `precision`. */
export const tf32Policy =
  (precision: CudaPrecision) =>
  (t: Tensor): boolean =>
    precision === 'tf32' && inUnet(t);
