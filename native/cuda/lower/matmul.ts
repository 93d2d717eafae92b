// matmul as cuBLAS GEMMs: one GEMM with the batches stacked as rows where the right operand is
// shared, one strided-batched GEMM where the batches are evenly spaced, pointer arrays otherwise.
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import { stridesOf } from '../layout.js';
import type { Lowering } from './context.js';

export const matmul: Lowering = (t, _, s, p) => {
  const [a, b] = t.inputs as [Tensor, Tensor];
  const A = p.operand(a, s);
  const B = p.operand(b, s);
  const m = a.shape[a.shape.length - 2]!;
  const k = a.shape[a.shape.length - 1]!;
  const n = b.shape[b.shape.length - 1]!;
  const out = p.resultSlot(t, s);
  if (numel(t.shape) === 0) return;
  if (k === 0) {
    p.pushFill(t, out, 0);
    return;
  }
  const batch = t.shape.slice(0, -2);
  const nb = numel(batch);
  const offsetsFor = (x: Tensor): number[] => {
    const xb = x.shape.slice(0, -2);
    const matrix = x.shape[x.shape.length - 2]! * x.shape[x.shape.length - 1]!;
    const own = stridesOf(xb).map((v) => v * matrix);
    const lead = batch.length - xb.length;
    const st = batch.map((_, d) => (d < lead || xb[d - lead] === 1 ? 0 : own[d - lead]!));
    const offs = new Array<number>(nb);
    const bs = stridesOf(batch);
    for (let i = 0; i < nb; i++) {
      let off = 0;
      for (let d = 0; d < batch.length; d++) off += (Math.floor(i / bs[d]!) % batch[d]!) * st[d]!;
      offs[i] = off;
    }
    return offs;
  };
  const offA = offsetsFor(a);
  const offB = offsetsFor(b);
  const ldA = A.trans ? m : k;
  const ldB = B.trans ? k : n;
  const affine = (o: number[]) => o.every((v, i) => v === i * (o[1] ?? 0));
  if (nb > 1 && offB.every((v) => v === 0) && !A.trans && offA.every((v, i) => v === i * m * k)) {
    // B shared by every batch and A contiguous: one GEMM with the batches stacked as rows.
    p.pushGemm(t, {
      a: { place: A.place, trans: false, ld: k, stride: 0 },
      b: { place: B.place, trans: B.trans, ld: ldB, stride: 0 },
      c: { place: out, trans: false, ld: n, stride: 0 },
      m: nb * m,
      n,
      k,
      batch: 1,
    });
    return;
  }
  if (nb <= 1 || (affine(offA) && affine(offB))) {
    const sA = offA[1] ?? 0;
    const sB = offB[1] ?? 0;
    p.pushGemm(t, {
      a: { place: A.place, trans: A.trans, ld: ldA, stride: sA },
      b: { place: B.place, trans: B.trans, ld: ldB, stride: sB },
      c: { place: out, trans: false, ld: n, stride: m * n },
      m,
      n,
      k,
      batch: Math.max(nb, 1),
    });
    return;
  }
  // Irregular broadcasting: one pointer per batch. The addon's record lists the
  // column-major operands first-B-then-A, so the offsets follow that order.
  const offC = Array.from({ length: nb }, (_, i) => i * m * n);
  p.pushGemm(t, {
    a: { place: A.place, trans: A.trans, ld: ldA, stride: 0 },
    b: { place: B.place, trans: B.trans, ld: ldB, stride: 0 },
    c: { place: out, trans: false, ld: n, stride: 0 },
    m,
    n,
    k,
    batch: nb,
    offsets: [...offB, ...offA, ...offC],
  });
};
