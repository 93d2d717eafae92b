// The attention ops take q, k and v as [batch, heads, tokens, channels], and SDXL's layers make
// them from a linear layer's [batch, tokens, heads·channels] with a transpose (0, 2, 1, 3),
// then merge the result's heads back with another: a copy for each operand and result, forward
// and backward. The attention lowerings read and write either layout through their GEMMs'
// strides (lower/attention.ts), so the planner copies neither kind of transpose.
import type { OpName, Tensor } from '../graph/ir.js';
import { isElementwise } from './fuse.js';

export interface HeadLayouts {
  /** Transposes splitting heads that only attentions read: they read the transpose's input in place. */
  splits: ReadonlySet<number>;
  /** Attention results read by one merging transpose alone: written merged, in memory that transpose shares. */
  merged: ReadonlySet<number>;
  /** Those merging transposes. */
  merges: ReadonlySet<number>;
}

/** Whether `t` is one of those transposes: never copied, it shares its input's memory. */
export const sharesInput = (h: HeadLayouts, t: Tensor): boolean => h.splits.has(t.id) || h.merges.has(t.id);

/** Every op whose 4-d operands and results are [batch, heads, tokens, channels] (graph/attentionOps.ts). */
const attentionOps: ReadonlySet<OpName> = new Set([
  'attention',
  'attentionHeadMean',
  'attentionGrad',
  'attentionValuesGrad',
  'attentionHeadMeanGrad',
]);

const swapsHeads = (t: Tensor): boolean =>
  t.spec.op === 'transpose' && t.spec.perm.length === 4 && t.spec.perm.join() === '0,2,1,3';

export function headLayouts(
  order: readonly Tensor[],
  readersOf: ReadonlyMap<number, readonly Tensor[]>,
  isOutput: ReadonlySet<number>,
): HeadLayouts {
  const readers = (t: Tensor) => readersOf.get(t.id) ?? [];
  const splits = new Set<number>();
  const merged = new Set<number>();
  const merges = new Set<number>();
  for (const t of order) {
    if (!swapsHeads(t) || isOutput.has(t.id)) continue;
    const x = t.inputs[0]!;
    // A merge is read by ops that need it in memory (never folded into an elementwise kernel,
    // which would read the result as if its heads were split).
    const mergesResult =
      attentionOps.has(x.spec.op) &&
      !isOutput.has(x.id) &&
      readers(x).length === 1 &&
      readers(t).every((r) => !isElementwise(r));
    if (mergesResult) {
      merged.add(x.id);
      merges.add(t.id);
    } else if (readers(t).length > 0 && readers(t).every((r) => attentionOps.has(r.spec.op))) {
      splits.add(t.id);
    }
  }
  return { splits, merged, merges };
}
