// Convolutions as GEMMs: a 1×1 convolution is one GEMM per image; a 3×3 one at stride 1 is
// Winograd's (winograd.ts); others go through im2col (conv2d) or col2im (convTranspose2d)
// columns in a scratch buffer, split to fit its limit.
import type { Tensor } from '../../graph/ir.js';
import { GraphError, numel } from '../../graph/ir.js';
import type { Spec } from '../../graph/opset.js';
import { isZeroFill } from '../fuse.js';
import { Opcode } from '../program.js';
import type { Lowering, MatrixRef, Place, PlanContext } from './context.js';
import { describe, shift } from './context.js';
import { pushWinograd, winogradApplies } from './winograd.js';

/** A 1×1 convolution, or its transpose, is one GEMM per image: W[cout, cin] · X[cin, pixels]. */
function pushPointwise(
  p: PlanContext,
  t: Tensor,
  wRef: MatrixRef,
  X: Place,
  out: Place,
  d: { images: number; cin: number; cout: number; pixels: number },
): void {
  p.pushGemm(t, {
    a: wRef,
    b: { place: X, trans: false, ld: d.pixels, stride: d.cin * d.pixels },
    c: { place: out, trans: false, ld: d.pixels, stride: d.cout * d.pixels },
    m: d.cout,
    n: d.pixels,
    k: d.cin,
    batch: d.images,
  });
}

/** Whether a convolution of this kernel, stride and input channels goes through im2col columns. */
export const im2colApplies = (kh: number, kw: number, stride: number, channels: number): boolean =>
  !(kh === 1 && kw === 1 && stride === 1) && !winogradApplies(kh, kw, stride, channels);

/** The tensor a concat pads with zeros after its end on a spatial axis (the VAE's downsampling pads right and bottom), else null. */
export function zeroPadded(t: Tensor): Tensor | null {
  if (t.spec.op !== 'concat' || t.shape.length !== 4 || t.inputs.length !== 2) return null;
  const [x, zeros] = t.inputs as [Tensor, Tensor];
  return (t.spec.axis === 2 || t.spec.axis === 3) && isZeroFill(zeros) ? x : null;
}

/**
 * Whether a convolution goes through Winograd whatever the planner decides about zero padding:
 * a 3×3 one at stride 1 of enough channels, on an input that is not zeros padded after an edge.
 */
export function byWinograd(t: Tensor): boolean {
  if (t.spec.op !== 'conv2d') return false;
  const [x, w] = t.inputs as [Tensor, Tensor];
  const [, , kh, kw] = w.shape as [number, number, number, number];
  return zeroPadded(x) === null && winogradApplies(kh, kw, t.spec.stride, x.shape[1]!);
}

export const conv2d: Lowering<Spec<'conv2d'>> = (t, { stride, pad }, s, p) => {
  const scratchLimit = p.scratchLimit;
  // A bias and a residual the planner folded in (plan.ts, foldConvAdds), on Winograd's path only.
  const [padded, wt, bias, residual] = t.inputs as [Tensor, Tensor, Tensor | undefined, Tensor | undefined];
  // Zeros after the input's end are never made: im2col reads rows and columns past the edge as 0.
  let x = padded;
  while (p.zeroPads.has(x.id)) x = x.inputs[0]!;
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [co, , kh, kw] = wt.shape as [number, number, number, number];
  const [, , oh, ow] = t.shape as [number, number, number, number];
  const X = p.read(x, s);
  const W = p.read(wt, s);
  const out = p.resultSlot(t, s);
  if (numel(t.shape) === 0) return;
  const K = c * kh * kw;
  const P = oh * ow;
  const wRef = { place: W, trans: false, ld: K, stride: 0 };
  if (kh === 1 && kw === 1 && stride === 1 && pad === 0 && x === padded) {
    pushPointwise(p, t, wRef, X, out, { images: n, cin: c, cout: co, pixels: P });
    return;
  }
  if (winogradApplies(kh, kw, stride, c) && x === padded) {
    const adds = { bias: bias && p.read(bias, s), residual: residual && p.read(residual, s) };
    pushWinograd(t, s, p, { x: X, filters: W, flip: false, out, n, c, k: co, h, w: wd, pad, oh, ow, ...adds });
    return;
  }
  if (bias) throw new GraphError(`cuda plan: ${describe(t)} has a bias but is not lowered by Winograd (planner bug)`);
  const perSample = K * P * 4;
  if (perSample <= scratchLimit) {
    const chunk = Math.max(1, Math.min(n, Math.floor(scratchLimit / perSample)));
    const col = p.newSlot(chunk * perSample, s);
    for (let n0 = 0; n0 < n; n0 += chunk) {
      const nc = Math.min(chunk, n - n0);
      const src = shift(X, n0 * c * h * wd * 4);
      const dst = shift(out, n0 * co * P * 4);
      p.push(t, 'im2col', (w, at) =>
        w.conv(Opcode.Im2col, at(src), at(col), { n: nc, c, h, w: wd, kh, kw, stride, pad, oh, ow, y0: 0 }),
      );
      p.pushGemm(t, {
        a: wRef,
        b: { place: col, trans: false, ld: P, stride: K * P },
        c: { place: dst, trans: false, ld: P, stride: co * P },
        m: co,
        n: P,
        k: K,
        batch: nc,
      });
    }
    return;
  }
  // One image's columns exceed the scratch limit: lower a band of output rows at a time.
  const rows = Math.max(1, Math.floor(scratchLimit / (K * ow * 4)));
  const col = p.newSlot(K * Math.min(rows, oh) * ow * 4, s);
  for (let b = 0; b < n; b++) {
    for (let y0 = 0; y0 < oh; y0 += rows) {
      const r = Math.min(rows, oh - y0);
      const src = shift(X, b * c * h * wd * 4);
      const dst = shift(out, (b * co * P + y0 * ow) * 4);
      p.push(t, 'im2col', (w, at) =>
        w.conv(Opcode.Im2col, at(src), at(col), { n: 1, c, h, w: wd, kh, kw, stride, pad, oh: r, ow, y0 }),
      );
      p.pushGemm(t, {
        a: wRef,
        b: { place: col, trans: false, ld: r * ow, stride: 0 },
        c: { place: dst, trans: false, ld: P, stride: 0 },
        m: co,
        n: r * ow,
        k: K,
        batch: 1,
      });
    }
  }
};

export const convTranspose2d: Lowering<Spec<'convTranspose2d'>> = (t, { stride, pad }, s, p) => {
  const [x, wt] = t.inputs as [Tensor, Tensor];
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [, cout, kh, kw] = wt.shape as [number, number, number, number];
  const [, , oh, ow] = t.shape as [number, number, number, number];
  const X = p.read(x, s);
  const W = p.read(wt, s);
  const out = p.resultSlot(t, s);
  if (numel(t.shape) === 0) return;
  const R = cout * kh * kw;
  const Q = h * wd;
  // Wᵀ: the weight is stored [Cin, Cout·kh·kw]; read transposed, no copy.
  const wRef = { place: W, trans: true, ld: R, stride: 0 };
  if (kh === 1 && kw === 1 && stride === 1 && pad === 0 && oh === h && ow === wd) {
    pushPointwise(p, t, wRef, X, out, { images: n, cin, cout, pixels: Q });
    return;
  }
  // At stride 1 a transposed convolution is the convolution by its kernel turned 180° (and
  // transposed in its channels), padded by kh − 1 − pad.
  if (winogradApplies(kh, kw, stride, cin)) {
    pushWinograd(t, s, p, {
      x: X,
      filters: W,
      flip: true,
      out,
      n,
      c: cin,
      k: cout,
      h,
      w: wd,
      pad: kh - 1 - pad,
      oh,
      ow,
    });
    return;
  }
  const perSample = R * Q * 4;
  const chunk = Math.max(1, Math.min(n, Math.floor(p.scratchLimit / perSample)));
  const col = p.newSlot(chunk * perSample, s);
  for (let n0 = 0; n0 < n; n0 += chunk) {
    const nc = Math.min(chunk, n - n0);
    const src = shift(X, n0 * cin * Q * 4);
    const dst = shift(out, n0 * cout * oh * ow * 4);
    p.pushGemm(t, {
      a: wRef,
      b: { place: src, trans: false, ld: Q, stride: cin * Q },
      c: { place: col, trans: false, ld: Q, stride: R * Q },
      m: R,
      n: Q,
      k: cin,
      batch: nc,
    });
    p.push(t, 'col2im', (w, at) =>
      w.conv(Opcode.Col2im, at(col), at(dst), {
        n: nc,
        c: cout,
        h: oh,
        w: ow,
        kh,
        kw,
        stride,
        pad,
        oh: h,
        ow: wd,
        y0: 0,
      }),
    );
  }
};
