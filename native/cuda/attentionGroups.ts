// Autodiff gives one attention three gradient nodes, dq and dk (attentionGrad) and dv
// (attentionValuesGrad), and each would recompute the layer's probabilities, and dq and dk the
// probabilities' gradient too. The planner lowers such siblings together, at one step, so each
// chunk of probabilities is computed once for all of them (lower/attention.ts, attentionBackward).
import type { Tensor } from '../graph/ir.js';

/** The output's gradient a sibling reads: attentionGrad's fourth input, attentionValuesGrad's third. */
const outputGrad = (t: Tensor): Tensor => t.inputs[t.spec.op === 'attentionGrad' ? 3 : 2]!;

/** What siblings share: q, k, the output's gradient and the scale (attentionGrad: v and the maps' gradient too). */
const familyOf = (t: Tensor): string | null => {
  if (t.spec.op !== 'attentionGrad' && t.spec.op !== 'attentionValuesGrad') return null;
  return [t.inputs[0]!.id, t.inputs[1]!.id, outputGrad(t).id, t.spec.scale].join();
};

const roleOf = (t: Tensor): string => (t.spec.op === 'attentionGrad' ? t.spec.wrt : 'v');

/**
 * Groups of two or more siblings in step order, by the first (the lead), whose step lowers them all:
 * each member's inputs are ready by then, and its readers, which come after it, find its result written.
 */
export function attentionBackwardGroups(order: readonly Tensor[]): Map<number, Tensor[]> {
  const step = new Map(order.map((t, i) => [t.id, i]));
  const families = new Map<string, Tensor[]>();
  for (const t of order) {
    const key = familyOf(t);
    if (key !== null) families.set(key, [...(families.get(key) ?? []), t]);
  }
  const groups = new Map<number, Tensor[]>();
  for (const family of families.values()) {
    // One node per role, and the attentionGrads must agree on v and on the maps' gradient.
    const byRole = new Map<string, Tensor>();
    for (const t of family) if (!byRole.has(roleOf(t))) byRole.set(roleOf(t), t);
    const [q, k] = [byRole.get('q'), byRole.get('k')];
    if (q && k && (q.inputs[2] !== k.inputs[2] || q.inputs[4] !== k.inputs[4])) byRole.delete('k');
    const members = [...byRole.values()];
    const readyAt = (t: Tensor, s: number) => t.inputs.every((x) => (step.get(x.id) ?? -1) < s);
    let best: Tensor[] = [];
    for (const lead of members) {
      const s = step.get(lead.id)!;
      const group = members.filter((t) => step.get(t.id)! >= s && readyAt(t, s));
      if (group.length > best.length) best = group;
    }
    // Members are in step order, so the lead comes first.
    if (best.length >= 2) groups.set(best[0]!.id, best);
  }
  return groups;
}
