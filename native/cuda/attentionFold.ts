// Autodiff gives a controlled layer's queries (and keys) two gradients, one from its output
// (attentionGrad) and one from its head-averaged maps (attentionHeadMeanGrad), and adds them. Each
// recomputes the layer's probabilities; folded into one attentionGrad that takes the maps'
// gradient too, they are recomputed once (SDXL at 512², R = 128: 625 MiB of scores per layer).
import type { Tensor } from '../graph/ir.js';
import { topoOrder } from '../graph/ir.js';

/** The outputs of an equivalent graph with each such sum folded (node ids kept). */
export function foldAttentionGrads(outputs: readonly Tensor[]): Tensor[] {
  const order = topoOrder(outputs);
  const reads = new Map<number, number>();
  for (const t of [...order.flatMap((t) => t.inputs), ...outputs]) reads.set(t.id, (reads.get(t.id) ?? 0) + 1);
  const only = (t: Tensor) => reads.get(t.id) === 1;
  /** `a` from the output and `b` from the maps, of the same q, k, scale and wrt, read by this sum alone. */
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
  const folded = new Map<number, Tensor>();
  for (const t of order) {
    const inputs = t.inputs.map((x) => folded.get(x.id)!);
    const [a, b] = inputs;
    const sameShape = a && b && a.shape.join() === t.shape.join() && b.shape.join() === t.shape.join();
    const fused = t.spec.op === 'add' && sameShape ? (pair(a, b) ?? pair(b, a)) : null;
    if (fused) {
      const spec = (a!.spec.op === 'attentionGrad' ? a! : b!).spec;
      folded.set(t.id, { ...t, spec, inputs: fused });
    } else {
      folded.set(t.id, inputs.every((y, i) => y === t.inputs[i]) ? t : { ...t, inputs });
    }
  }
  return outputs.map((t) => folded.get(t.id)!);
}
