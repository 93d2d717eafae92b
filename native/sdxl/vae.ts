// SDXL's VAE encoder: image in [0,1] → latent mean × latent scale (ALGORITHM.md step 1).
import type { Tensor } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { downsample, groupNorm, resnet, vaeAttention, type NormSettings } from './blocks.js';
import type { Params } from './params.js';
import type { VaeConfig } from './config.js';

/** Encoder moments (mean and log-variance) before `quant_conv`, as diffusers' `Encoder` returns them. */
export function vaeEncoderMoments(p: Params, arch: VaeConfig, pixels: Tensor): Tensor {
  const norm: NormSettings = { groups: arch.normNumGroups, eps: arch.normEps };
  const e = p.at('encoder');
  let x = op.conv2dBias(pixels, e.get('conv_in.weight'), e.get('conv_in.bias'), { pad: 1 });
  const levels = arch.blockOutChannels.length;
  for (let d = 0; d < levels; d++) {
    const bp = e.at(`down_blocks.${d}`);
    for (let r = 0; r < arch.layersPerBlock; r++) x = resnet(bp.at(`resnets.${r}`), x, undefined, norm);
    if (d < levels - 1) x = downsample(bp.at('downsamplers.0'), x, 'vae');
  }
  const mid = e.at('mid_block');
  x = resnet(mid.at('resnets.0'), x, undefined, norm);
  if (arch.midAttention) x = vaeAttention(mid.at('attentions.0'), x, norm);
  x = resnet(mid.at('resnets.1'), x, undefined, norm);
  x = op.silu(groupNorm(e, x, 'conv_norm_out', norm));
  return op.conv2dBias(x, e.get('conv_out.weight'), e.get('conv_out.bias'), { pad: 1 });
}

/** `VAE.encode(2x − 1).mean × scale` for images x in [0, 1], shape [B, 3, S, S]. */
export function encodeLatents(p: Params, arch: VaeConfig, images: Tensor, latentScale: number): Tensor {
  const moments = vaeEncoderMoments(p, arch, op.sub(op.mul(images, 2), 1));
  const quant = arch.useQuantConv
    ? op.conv2dBias(moments, p.get('quant_conv.weight'), p.get('quant_conv.bias'))
    : moments;
  return op.mul(op.slice(quant, 1, 0, arch.latentChannels), latentScale);
}
