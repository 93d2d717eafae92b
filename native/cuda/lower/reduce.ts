// reduceSum/Mean/Max: the input seen as kept dims × reduced dims. Row mode where the reduced
// elements are adjacent in memory; few outputs over many elements take two passes.
import type { Spec } from '../../graph/opset.js';
import { numel, type Tensor } from '../../graph/ir.js';
import { stridesOf } from '../layout.js';
import { ReduceKind } from '../program.js';
import type { Lowering, PlanContext, Place } from './context.js';

export const reduce: Lowering<Spec<'reduceSum' | 'reduceMean' | 'reduceMax'>> = (t, spec, s, p) => {
  if (p.madeWithMean.has(t.id)) return;
  // A sum of squared deviations (x − c)² reads x and c, a sum of squares x² reads x with a centre of
  // zeros, a sum of −x reads x (plan.ts): same shape as the input.
  const folded = p.reductions.get(t.id);
  const x = folded?.x ?? t.inputs[0]!;
  const src = p.read(x, s);
  const out = p.resultSlot(t, s);
  const nOut = numel(t.shape);
  if (nOut === 0) return;
  const center = folded?.center ? p.read(folded.center, s) : folded?.squared ? p.zeros(nOut) : undefined;
  const strides = stridesOf(x.shape);
  const reduced = x.shape.map((_, i) => spec.axes.includes(i));
  const group = (want: boolean) => {
    const dims: number[] = [];
    const st: number[] = [];
    x.shape.forEach((d, i) => {
      if (reduced[i] !== want || d === 1) return;
      // Neighbours in memory (only size-1 dims between them) walk as one dim.
      if (dims.length > 0 && st[st.length - 1] === strides[i]! * d) {
        dims[dims.length - 1]! *= d;
        st[st.length - 1] = strides[i]!;
      } else {
        dims.push(d);
        st.push(strides[i]!);
      }
    });
    return { dims, st };
  };
  const keep = group(false);
  const red = group(true);
  const nRed = red.dims.reduce((a, b) => a * b, 1);
  const summed = spec.op === 'reduceMax' ? ReduceKind.Max : ReduceKind.Sum;
  const kind = center ? ReduceKind.CentredSquares : summed;
  const scale = (spec.op === 'reduceMean' ? 1 / nRed : 1) * (folded?.negated ? -1 : 1);
  const rowMode = red.st.length > 0 && red.st[red.st.length - 1] === 1;
  // A mean that reads x itself, over one run of adjacent values, makes its variance too.
  const variance = folded ? undefined : p.moments.get(t.id);
  if (variance && red.st.length === 1 && red.st[0] === 1) {
    moments(t, variance, { x: src, mean: out, runLength: nRed, keepDims: keep.dims, keepStrides: keep.st }, s, p);
    return;
  }
  const splits = rowMode
    ? Math.max(1, Math.min(Math.ceil(1024 / nOut), Math.floor(nRed / 4096), 65535))
    : Math.max(1, Math.min(Math.ceil(262144 / nOut), Math.floor(nRed / 64), 65535));
  const base = { kind, keepDims: keep.dims, keepStrides: keep.st, redDims: red.dims, redStrides: red.st, rowMode };
  if (splits === 1) {
    p.push(t, 'reduce', (w, at) =>
      w.reduce({
        ...base,
        input: at(src),
        center: center && at(center),
        out: at(out),
        splits: 1,
        chunk: Math.max(nRed, 1),
        scale,
      }),
    );
    return;
  }
  // Few outputs over many elements: partial results per split, then a second pass.
  const chunk = Math.ceil(nRed / splits);
  const partial = p.newSlot(nOut * splits * 4, s);
  p.push(t, 'reduce', (w, at) =>
    w.reduce({ ...base, input: at(src), center: center && at(center), out: at(partial), splits, chunk, scale: 1 }),
  );
  p.push(t, 'reduce', (w, at) =>
    w.reduce({
      kind: summed,
      rowMode: true,
      input: at(partial),
      out: at(out),
      splits: 1,
      chunk: splits,
      scale,
      keepDims: [nOut],
      keepStrides: [splits],
      redDims: [splits],
      redStrides: [1],
    }),
  );
};

/**
 * A norm's mean and its variance mean((x − μ)²) over runs of adjacent values: one kernel reads x
 * once for both (instead of once for each), and the variance's own step has nothing left to do.
 */
function moments(
  mean: Tensor,
  variance: Tensor,
  r: { x: Place; mean: Place; runLength: number; keepDims: number[]; keepStrides: number[] },
  s: number,
  p: PlanContext,
) {
  const varianceOut = p.resultSlot(variance, s);
  p.madeWithMean.add(variance.id);
  const nOut = numel(mean.shape);
  // Splits of whole 16-byte quads, so that every split's loads stay aligned where the run's are.
  const wanted = Math.max(1, Math.min(Math.ceil(1024 / nOut), Math.floor(r.runLength / 4096), 65535));
  const chunk = Math.ceil(r.runLength / wanted / 4) * 4;
  const splits = Math.ceil(r.runLength / chunk);
  const partial = splits > 1 ? p.newSlot(nOut * splits * 16, s) : undefined;
  p.push(mean, 'moments', (w, at) =>
    w.moments({
      x: at(r.x),
      mean: at(r.mean),
      variance: at(varianceOut),
      partial: partial && at(partial),
      runLength: r.runLength,
      splits,
      chunk,
      keepDims: r.keepDims,
      keepStrides: r.keepStrides,
    }),
  );
}
