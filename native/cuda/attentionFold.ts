// Autodiff gives a controlled layer's queries (and keys) two gradients, one from its output
// (attentionGrad) and one from its head-averaged maps (attentionHeadMeanGrad), and adds them. Each
// recomputes the layer's probabilities; folded into one attentionGrad that takes the maps'
// gradient too, they are recomputed once (SDXL at 512², R = 128: 625 MiB of scores per layer).
import type { Tensor } from '../graph/ir.js';
import { topoOrder } from '../graph/ir.js';
import type { Rewrite } from './rewrite.js';

/** The rewrite of such sums in the graph of `outputs` (each gradient must be read by its sum alone). */
export function foldAttentionGrads(outputs: readonly Tensor[]): Rewrite {
  const reads = new Map<number, number>();
  for (const t of [...topoOrder(outputs).flatMap((t) => t.inputs), ...outputs]) {
    reads.set(t.id, (reads.get(t.id) ?? 0) + 1);
  }
  const only = (t: Tensor) => reads.get(t.id) === 1;
  /** `a` from the output and `b` from the maps, of the same q, k, scale and wrt: the folded inputs. */
  const pair = (a: Tensor, b: Tensor): Tensor[] | null => {
    if (a.spec.op !== 'attentionGrad' || b.spec.op !== 'attentionHeadMeanGrad' || a.inputs.length !== 4) return null;
    const same =
      a.spec.wrt === b.spec.wrt &&
      a.spec.scale === b.spec.scale &&
      a.inputs[0]!.id === b.inputs[0]!.id &&
      a.inputs[1]!.id === b.inputs[1]!.id &&
      only(a) &&
      only(b);
    return same ? [...a.inputs, b.inputs[2]!] : null;
  };
  return (t, [a, b]) => {
    if (t.spec.op !== 'add' || !a || !b || a.shape.join() !== t.shape.join() || b.shape.join() !== t.shape.join()) {
      return null;
    }
    const inputs = pair(a, b) ?? pair(b, a);
    const grad = a.spec.op === 'attentionGrad' ? a : b;
    return inputs ? { ...t, spec: grad.spec, inputs } : null;
  };
}
