// Attention a slice at a time: the probabilities of one chunk of (batch element, all heads, a
// band of query rows) live in a scratch buffer bounded like the convolutions' columns, never the
// whole [batch, heads, L, N]. Per chunk: a strided-batched GEMM for the scores (alpha = scale),
// the softmax in place, then GEMMs into the result's slice. The gradients recompute the chunk's
// scores, and the softmax-gradient row kernel makes the probabilities from them in place (rows
// of up to 1024 keys; longer ones take a softmax first) and turns dP into
// dS = P ⊙ (dP − rowsum(P ⊙ dP)). Operands and results may sit with their heads still merged
// (cuda/headLayouts.ts): the GEMMs read and write them through their leading dimensions.
import type { Tensor } from '../../graph/ir.js';
import { numel } from '../../graph/ir.js';
import { attentionDims, type AttentionDims } from '../../graph/attentionReference.js';
import { Opcode, ReduceKind, SOFTMAX_GRAD_FROM_SCORES_MAX, SOFTMAX_HEAD_MEAN_MAX } from '../program.js';
import type { Lowering, MatrixRef, Place, PlanContext } from './context.js';
import { shift } from './context.js';

/** Batch elements b0 … b0+nb−1, every head, query rows l0 … l0+rows−1. */
interface Chunk {
  b0: number;
  nb: number;
  l0: number;
  rows: number;
}

/**
 * Chunks whose scratch (`rowBytes` per query row over all heads) fits the limit: bands of rows,
 * or whole batch elements when one fits. `oneBatch` keeps batch elements apart, for results
 * that sum over the batch (keys shared by it): one batched GEMM may not add into one matrix twice.
 */
function chunksOf(x: AttentionDims, rowBytes: number, limit: number, oneBatch: boolean): Chunk[] {
  const rows = Math.max(1, Math.min(x.l, Math.floor(limit / rowBytes)));
  const nb = rows < x.l || oneBatch ? 1 : Math.max(1, Math.min(x.b, Math.floor(limit / (rowBytes * x.l))));
  const out: Chunk[] = [];
  for (let b0 = 0; b0 < x.b; b0 += nb) {
    for (let l0 = 0; l0 < x.l; l0 += rows) {
      out.push({ b0, nb: Math.min(nb, x.b - b0), l0, rows: Math.min(rows, x.l - l0) });
    }
  }
  return out;
}

/** Floats of one chunk's probabilities. */
const chunkFloats = (x: AttentionDims, c: Chunk) => c.nb * x.heads * c.rows * x.n;

/** A GEMM operand for each (batch element, head) of a chunk: where that pair's matrix starts, in floats. */
interface PairOperand {
  place: Place;
  trans: boolean;
  ld: number;
  at: (b: number, h: number) => number;
}

interface Lowered {
  t: Tensor;
  p: PlanContext;
  x: AttentionDims;
  scale: number;
}

/** One GEMM over every (batch element, head) of the chunk: strided where the pairs are evenly spaced, else pointer arrays. */
function pairGemm(
  { t, p, x }: Lowered,
  c: Chunk,
  g: { a: PairOperand; b: PairOperand; c: PairOperand; m: number; n: number; k: number; alpha?: number; beta?: number },
): void {
  const pairs: [number, number][] = [];
  for (let b = c.b0; b < c.b0 + c.nb; b++) for (let h = 0; h < x.heads; h++) pairs.push([b, h]);
  const offs = [g.a, g.b, g.c].map((o) => pairs.map(([b, h]) => o.at(b, h)));
  const stride = (o: number[]) => (o.length > 1 ? o[1]! - o[0]! : 0);
  const affine = offs.every((o) => o.every((v, i) => v === o[0]! + i * stride(o)));
  const ref = (o: PairOperand, off: number[]): MatrixRef =>
    affine
      ? { place: shift(o.place, off[0]! * 4), trans: o.trans, ld: o.ld, stride: stride(off) }
      : { place: o.place, trans: o.trans, ld: o.ld, stride: 0 };
  p.pushGemm(t, {
    a: ref(g.a, offs[0]!),
    b: ref(g.b, offs[1]!),
    c: ref(g.c, offs[2]!),
    m: g.m,
    n: g.n,
    k: g.k,
    batch: pairs.length,
    alpha: g.alpha,
    beta: g.beta,
    // The addon's record lists the column-major operands first-B-then-A (see lower/matmul.ts).
    offsets: affine ? undefined : [...offs[1]!, ...offs[0]!, ...offs[2]!],
  });
}

/**
 * A [batch, heads, tokens, width] operand or result in memory: with its heads split, as its
 * shape says, or still merged, [batch, tokens, heads, width] (cuda/headLayouts.ts), which the
 * GEMMs read and write through a larger leading dimension.
 */
interface Heads {
  place: Place;
  merged: boolean;
}

/** Query-side rows (q, the output, its gradient, dq) of pair (b, h) from row l0 on. */
function rowsOf(x: AttentionDims, o: Heads, l0: number, width: number, trans = false): PairOperand {
  const at = o.merged
    ? (b: number, h: number) => ((b * x.l + l0) * x.heads + h) * width
    : (b: number, h: number) => ((b * x.heads + h) * x.l + l0) * width;
  return { place: o.place, trans, ld: o.merged ? x.heads * width : width, at };
}

/** Key-side rows (k, v, dk, dv) of pair (b, h): batch element 0 for every b where the batch shares them. */
function keysOf(x: AttentionDims, o: Heads, width: number, trans = false): PairOperand {
  const kb = (b: number) => (x.kb === 1 ? 0 : b);
  const at = o.merged
    ? (b: number, h: number) => (kb(b) * x.n * x.heads + h) * width
    : (b: number, h: number) => (kb(b) * x.heads + h) * x.n * width;
  return { place: o.place, trans, ld: o.merged ? x.heads * width : width, at };
}

/** Where the chunk's rows of a [B, L, N] map (the maps, or their gradient) start. */
const chunkMaps = (x: AttentionDims, c: Chunk, maps: Place) => shift(maps, (c.b0 * x.l + c.l0) * x.n * 4);

const scratchOf = (x: AttentionDims, c: Chunk) => (b: number, h: number) => ((b - c.b0) * x.heads + h) * c.rows * x.n;

/**
 * The chunk's rows of `rows` ([B, H, L, width]) times the keys' rows of `keys` ([B, H, N, width])
 * transposed, into the chunk's [pairs, rows, N] scratch `into`: q·kᵀ for the scores, g·vᵀ for dP.
 */
function pushRowsByKeys(
  l: Lowered,
  c: Chunk,
  rows: Heads,
  keys: Heads,
  width: number,
  into: Place,
  scale: { alpha?: number; beta?: number },
): void {
  const { x } = l;
  pairGemm(l, c, {
    a: rowsOf(x, rows, c.l0, width),
    b: keysOf(x, keys, width, true),
    c: { place: into, trans: false, ld: x.n, at: scratchOf(x, c) },
    m: c.rows,
    n: x.n,
    k: width,
    ...scale,
  });
}

/**
 * The chunk's probabilities softmax(q kᵀ·scale) into `probs` ([pairs, rows, N]), and with `maps`,
 * their mean over heads there. Without `keepProbs` (the maps are all a layer's probabilities
 * give), the fused kernel does not write them back.
 */
function pushProbs(l: Lowered, c: Chunk, q: Heads, k: Heads, probs: Place, maps?: Place, keepProbs = true): void {
  const { x } = l;
  pushRowsByKeys(l, c, q, k, x.d, probs, { alpha: l.scale });
  if (maps && x.n <= SOFTMAX_HEAD_MEAN_MAX) {
    // The maps' rows start at the chunk's first (batch element, row); a chunk of several batch
    // elements holds all their rows, so its maps are contiguous.
    const dst = chunkMaps(x, c, maps);
    const dims = { nb: c.nb, heads: x.heads, rows: c.rows, size: x.n };
    l.p.push(l.t, 'softmax head mean', (w, at) => w.softmaxHeadMean(at(probs), at(dst), dims, keepProbs));
    return;
  }
  const rows = c.nb * x.heads * c.rows;
  l.p.push(l.t, 'softmax', (w, at) => w.axis(Opcode.Softmax, at(probs), at(probs), rows, x.n, 1));
  if (maps) pushHeadMean(l, c, probs, maps);
}

/**
 * The scores' gradient dS = P ⊙ (dP − rowsum(P ⊙ dP)) into `grad`: dP is `grad`'s rows, plus
 * every head's share of the maps' gradient `mapsGrad` as the kernel reads it, or that share
 * alone. With `fromScores`, `probs` holds the scores, and the kernel first makes P from them, in
 * their place, in the pass that reads them for dS.
 */
function pushScoresGrad(
  l: Lowered,
  c: Chunk,
  probs: Place,
  grad: Place,
  mapsGrad: { place: Place; alone: boolean } | undefined,
  fromScores: boolean,
): void {
  const { x } = l;
  const rows = c.nb * x.heads * c.rows;
  const share = mapsGrad && { at: chunkMaps(x, c, mapsGrad.place), alone: mapsGrad.alone };
  l.p.push(l.t, 'softmaxGrad', (w, at) =>
    w.softmaxGrad(at(probs), at(grad), rows, x.n, {
      fromScores,
      share: share && {
        loc: at(share.at),
        heads: x.heads,
        rowsPerHead: c.rows,
        batchStride: x.l * x.n,
        alone: share.alone,
      },
    }),
  );
}

/** dq = dS·k·scale into the chunk's rows, or dk = dSᵀ·q·scale added into the keys' gradient. */
function pushQueryOrKeyGrad(
  l: Lowered,
  c: Chunk,
  wrt: 'q' | 'k',
  ins: { q: Heads; k: Heads },
  grad: Place,
  out: Heads,
): void {
  const { x } = l;
  const dS = { place: grad, ld: x.n, at: scratchOf(x, c) };
  if (wrt === 'q') {
    pairGemm(l, c, {
      a: { ...dS, trans: false },
      b: keysOf(x, ins.k, x.d),
      c: rowsOf(x, out, c.l0, x.d),
      m: c.rows,
      n: x.d,
      k: x.n,
      alpha: l.scale,
    });
    return;
  }
  pairGemm(l, c, {
    a: { ...dS, trans: true },
    b: rowsOf(x, ins.q, c.l0, x.d),
    c: keysOf(x, out, x.d),
    m: x.n,
    n: x.d,
    k: c.rows,
    alpha: l.scale,
    beta: addsInto(x, c) ? 1 : 0,
  });
}

/** Whether an earlier chunk already wrote the keys' (or values') gradient this chunk adds to. */
const addsInto = (x: AttentionDims, c: Chunk) => c.l0 > 0 || (x.kb === 1 && c.b0 > 0);

/** Reads input `x` at step `s`, with the layout its memory holds. */
const headsOf = (p: PlanContext, x: Tensor, s: number): Heads => ({ place: p.read(x, s), merged: p.headsMerged(x) });

/** The result's memory, and whether the planner wants it written with heads merged. */
const resultOf = (p: PlanContext, t: Tensor, s: number): Heads => ({
  place: p.resultSlot(t, s),
  merged: p.headsMerged(t),
});

const probsBytes = (x: AttentionDims) => x.heads * x.n * 4;
/** Probabilities and their gradient. */
const gradBytes = (x: AttentionDims) => 2 * probsBytes(x);

/** What a member reads beyond q and k (graph/attentionOps.ts): v, the output's gradient g, the maps' gradient. */
function operandsOf(t: Tensor): { v?: Tensor; g?: Tensor; mapsGrad?: Tensor } {
  const [, , a, b, c] = t.inputs;
  switch (t.spec.op) {
    case 'attention':
      return { v: a };
    case 'attentionGrad':
      return { v: a, g: b, mapsGrad: c };
    case 'attentionValuesGrad':
      return { g: a };
    case 'attentionHeadMeanGrad':
      return { mapsGrad: a };
    default:
      return {};
  }
}

/** The head-mean of the chunk's probabilities into the maps' rows (rows longer than SoftmaxHeadMean takes). */
function pushHeadMean({ t, p, x }: Lowered, c: Chunk, probs: Place, maps: Place): void {
  const perBatch = c.rows * x.n;
  const dst = chunkMaps(x, c, maps);
  p.push(t, 'reduce', (w, at) =>
    w.reduce({
      kind: ReduceKind.Sum,
      rowMode: false,
      input: at(probs),
      out: at(dst),
      splits: 1,
      chunk: x.heads,
      scale: 1 / x.heads,
      keepDims: c.nb > 1 ? [c.nb, perBatch] : [perBatch],
      keepStrides: c.nb > 1 ? [x.heads * perBatch, 1] : [1],
      redDims: [x.heads],
      redStrides: [perBatch],
    }),
  );
}

/**
 * Siblings of one attention (cuda/attentionGroups.ts), or one op alone, lowered at step `s`: the
 * output and the maps of the forward, or dq, dk and dv of the backward, from the output's
 * gradient, the maps', or both. Each chunk's probabilities are computed once; the output P·v,
 * the maps and dv = Pᵀ·g are taken from them, and for dq and dk, dP = g·vᵀ (plus the maps'
 * share) becomes dS once, and both are read from it.
 */
export function attentionGroup(members: readonly Tensor[], s: number, p: PlanContext): void {
  const lead = members[0]!;
  const find = (op: string, wrt?: 'q' | 'k') =>
    members.find((t) => t.spec.op === op && (!wrt || (t.spec as { wrt?: string }).wrt === wrt));
  const gradOf = (wrt: 'q' | 'k') => find('attentionGrad', wrt) ?? find('attentionHeadMeanGrad', wrt);
  const [out, maps, dq, dk, dv] = [
    find('attention'),
    find('attentionHeadMean'),
    gradOf('q'),
    gradOf('k'),
    find('attentionValuesGrad'),
  ];
  // Siblings agree on what they share (attentionGroups.ts); each tensor is read once.
  const operands = members.map(operandsOf);
  const [v, g, mapsGrad] = (['v', 'g', 'mapsGrad'] as const).map((key) => operands.find((o) => o[key])?.[key]);
  const [q, k] = [headsOf(p, lead.inputs[0]!, s), headsOf(p, lead.inputs[1]!, s)];
  const [vIn, gIn] = [v && headsOf(p, v, s), g && headsOf(p, g, s)];
  const mapsGradIn = mapsGrad && p.read(mapsGrad, s);
  const results = new Map(members.map((t) => [t, resultOf(p, t, s)]));
  const querySide = [q, gIn, out && results.get(out), dq && results.get(dq)].filter((h) => h !== undefined);
  const x = foldedBatch(attentionDims(lead.inputs[0]!.shape, lead.inputs[1]!.shape, (v ?? g)?.shape), querySide);
  if (numel(lead.shape) === 0 || x.l === 0) return;
  const l: Lowered = { t: lead, p, x, scale: (lead.spec as { scale: number }).scale };
  const scores = dq !== undefined || dk !== undefined;
  // Results that sum over the batch (keys shared by it) take one batch element per chunk.
  const oneBatch = x.kb === 1 && x.b > 1 && (dk !== undefined || dv !== undefined);
  const chunks = chunksOf(x, scores ? gradBytes(x) : probsBytes(x), p.scratchLimit, oneBatch);
  const most = Math.max(0, ...chunks.map((c) => chunkFloats(x, c)));
  const probs = p.newSlot(most * 4, s);
  const grad = scores ? p.newSlot(most * 4, s) : undefined;
  for (const c of chunks) {
    // For the gradients, rows the softmax gradient takes whole make P from the scores as they
    // make dS (one pass over the chunk fewer), and the GEMMs that read P come after it.
    const fromScores = grad !== undefined && x.n <= SOFTMAX_GRAD_FROM_SCORES_MAX;
    if (fromScores) pushRowsByKeys(l, c, q, k, x.d, probs, { alpha: l.scale });
    else
      pushProbs(l, c, q, k, probs, maps && results.get(maps)!.place, out !== undefined || dv !== undefined || scores);
    if (out) {
      pairGemm(l, c, {
        a: { place: probs, trans: false, ld: x.n, at: scratchOf(x, c) },
        b: keysOf(x, vIn!, x.dv),
        c: rowsOf(x, results.get(out)!, c.l0, x.dv),
        m: c.rows,
        n: x.dv,
        k: x.n,
      });
    }
    if (grad) {
      // dP = g·vᵀ, plus the maps' gradient over the head count, which the softmax gradient adds
      // as it reads dP; with no output gradient, dP is that share alone.
      const withOutput = gIn !== undefined && vIn !== undefined;
      if (withOutput) pushRowsByKeys(l, c, gIn, vIn, x.dv, grad, {});
      pushScoresGrad(l, c, probs, grad, mapsGradIn && { place: mapsGradIn, alone: !withOutput }, fromScores);
    }
    if (dv) {
      pairGemm(l, c, {
        a: { place: probs, trans: true, ld: x.n, at: scratchOf(x, c) },
        b: rowsOf(x, gIn!, c.l0, x.dv),
        c: keysOf(x, results.get(dv)!, x.dv),
        m: x.n,
        n: x.dv,
        k: c.rows,
        beta: addsInto(x, c) ? 1 : 0,
      });
    }
    if (dq) pushQueryOrKeyGrad(l, c, 'q', { q, k }, grad!, results.get(dq)!);
    if (dk) pushQueryOrKeyGrad(l, c, 'k', { q, k }, grad!, results.get(dk)!);
  }
}

/**
 * Keys shared by the batch, with every query-side operand and result (q, the output, its
 * gradient, dq) heads-merged: [B, L, H, W] is [1, B·L, H, W] in memory, and the maps and their
 * gradient [B, L, N] are [1, B·L, N], so the batch's queries are the rows of one element. Its
 * chunks then take every batch element's rows at once, and a gradient that sums over the batch
 * (dk, dv) sums over those rows inside one GEMM: a training step's two evaluations make half the
 * launches, each twice as tall.
 */
function foldedBatch(x: AttentionDims, querySide: readonly Heads[]): AttentionDims {
  return x.kb === 1 && x.b > 1 && querySide.every((h) => h.merged) ? { ...x, b: 1, l: x.b * x.l } : x;
}

/** Any attention op on its own: a group of one. */
export const attentionAlone: Lowering = (t, _spec, s, p) => attentionGroup([t], s, p);
