// 3×3 convolutions at stride 1 by Winograd's F(m×m, 3×3): each m×m tile of output pixels costs
// (m+2)² multiplications per input channel instead of 9m² (F(2×2): 16 for 4 pixels, F(4×4): 36
// for 16), and the columns im2col would write (nine copies of the input) are never made. The three
// transforms are kernels; the (m+2)² products are one strided-batched GEMM, M[ξ] = U[ξ]·V[ξ], over
// every tile of a chunk of images, or of a band of tile rows where one image's tiles exceed the
// scratch limit. The sums are reordered against a direct convolution, as cuDNN's float32 Winograd
// reorders them: F(2×2) by a few float32 roundings, F(4×4) by somewhat more (its points are 0, ±1,
// ±2), F(6×6) by about twice F(4×4)'s (a float32 model of 128 to 512 channels: relative L2 error
// 2.3e-6 to 4.8e-6 for F(4×4), 4.9e-6 to 9.0e-6 for F(6×6)), so the larger tiles serve only the
// large images where the products dominate. F(6×6) takes 64 products and writes 64 transformed
// values for 36 output pixels, against F(4×4)'s 36 for 16: a fifth fewer of each.
import type { Tensor } from '../../graph/ir.js';
import { Opcode, type WinogradShape } from '../program.js';
import type { PlanContext, Place } from './context.js';
import { shift } from './context.js';

/**
 * Output rows and columns from which F(4×4) tiles are used (the UNet's 32² level), and F(6×6)
 * (the VAE's levels and the UNet's outer one): below 64, the tiles cut off at the edge (⌈64/6⌉·6
 * = 66) cost F(6×6) its advantage.
 */
const TILES_FROM = { 4: 32, 6: 64 } as const;

/** A convolution to lower: its operands' places and its shape (the tiles are chosen here). */
export interface WinogradConv extends Omit<WinogradShape, 'ty0' | 'tr' | 'tile'> {
  x: Place;
  /** conv2d: [k, c, 3, 3]; a transposed convolution's kernel [c, k, 3, 3] (`flip`). */
  filters: Place;
  out: Place;
  /** [k] floats the output transform adds to each output channel (a bias the planner folded in). */
  bias?: Place;
  /** A tensor of the output's shape it adds after the bias (a resnet's shortcut). */
  residual?: Place;
}

/**
 * Input channels from which a 3×3 convolution is worth its transforms: with fewer (an image's
 * three), the transformed products, written and read again, are more traffic than im2col's
 * columns (the VAE's first convolution, ten 512² images: 2.7 ms of launches by F(4×4)).
 */
const WINOGRAD_FROM_CHANNELS = 4;

/** Whether a convolution of this kernel, stride and input channels is lowered by `pushWinograd`. */
export const winogradApplies = (kh: number, kw: number, stride: number, channels: number): boolean =>
  kh === 3 && kw === 3 && stride === 1 && channels >= WINOGRAD_FROM_CHANNELS;

export function pushWinograd(t: Tensor, s: number, p: PlanContext, d: WinogradConv): void {
  const { n, c, k, oh, ow } = d;
  const side = Math.min(oh, ow);
  const tile = side >= TILES_FROM[6] ? 6 : side >= TILES_FROM[4] ? 4 : 2;
  const points = (tile + 2) ** 2;
  const th = Math.ceil(oh / tile);
  const tw = Math.ceil(ow / tile);
  const bytesPerTile = points * (c + k) * 4;
  const shape = { n: 0, c, k, h: d.h, w: d.w, pad: d.pad, oh, ow, ty0: 0, tr: th, tile, flip: d.flip } as const;

  const U = p.newSlot(points * k * c * 4, s);
  p.push(t, 'winograd filter', (w, at) => w.winograd(Opcode.WinogradFilter, at(d.filters), at(U), { ...shape, n: 1 }));
  // Whole images where they fit the scratch limit, else bands of tile rows of one image.
  const perImage = th * tw * bytesPerTile;
  const whole = perImage <= p.scratchLimit;
  const images = whole ? Math.min(n, Math.floor(p.scratchLimit / perImage)) : 1;
  const bandRows = whole ? th : Math.min(th, Math.max(1, Math.floor(p.scratchLimit / (tw * bytesPerTile))));
  const tiles = images * bandRows * tw;
  const V = p.newSlot(points * c * tiles * 4, s);
  const M = p.newSlot(points * k * tiles * 4, s);
  for (let n0 = 0; n0 < n; n0 += images) {
    const nc = Math.min(images, n - n0);
    const src = shift(d.x, n0 * c * d.h * d.w * 4);
    const dst = shift(d.out, n0 * k * oh * ow * 4);
    for (let ty0 = 0; ty0 < th; ty0 += bandRows) {
      const band = { ...shape, n: nc, ty0, tr: Math.min(bandRows, th - ty0) };
      const T = nc * band.tr * tw;
      p.push(t, 'winograd input', (w, at) => w.winograd(Opcode.WinogradInput, at(src), at(V), band));
      p.pushGemm(t, {
        a: { place: U, trans: false, ld: c, stride: k * c },
        b: { place: V, trans: false, ld: T, stride: c * T },
        c: { place: M, trans: false, ld: T, stride: k * T },
        m: k,
        n: T,
        k: c,
        batch: points,
      });
      const { bias } = d;
      const residual = d.residual && shift(d.residual, n0 * k * oh * ow * 4);
      p.push(t, 'winograd output', (w, at) =>
        w.winograd(Opcode.WinogradOutput, at(M), at(dst), band, {
          bias: bias && at(bias),
          residual: residual && at(residual),
        }),
      );
    }
  }
}
