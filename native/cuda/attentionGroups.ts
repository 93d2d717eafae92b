// Attention ops over the same queries and keys each compute the layer's probabilities: a
// controlled layer's output (attention) and maps (attentionHeadMean); autodiff's dq and dk
// (attentionGrad) and dv (attentionValuesGrad), which also share the probabilities' gradient;
// and the maps' dq and dk alone (attentionHeadMeanGrad) where the layer's output feeds nothing.
// The planner lowers such siblings together, at one step, so each chunk of probabilities is
// computed once for all of them (lower/attention.ts, attentionGroup).
import type { Tensor } from '../graph/ir.js';

/** What siblings share, by family: q, k and the scale, and the gradient they start from. */
function familyOf(t: Tensor): string | null {
  const s = t.spec;
  const shared = (scale: number, ...more: (string | number)[]) =>
    [t.inputs[0]!.id, t.inputs[1]!.id, scale, ...more].join();
  if (s.op === 'attention' || s.op === 'attentionHeadMean') return shared(s.scale, 'forward');
  // The output's gradient: attentionGrad's fourth input, attentionValuesGrad's third.
  if (s.op === 'attentionGrad') return shared(s.scale, 'output', t.inputs[3]!.id);
  if (s.op === 'attentionValuesGrad') return shared(s.scale, 'output', t.inputs[2]!.id);
  if (s.op === 'attentionHeadMeanGrad') return shared(s.scale, 'maps', t.inputs[2]!.id);
  return null;
}

const roleOf = (t: Tensor): string => {
  const s = t.spec;
  return s.op === 'attentionGrad' || s.op === 'attentionHeadMeanGrad' ? s.wrt : s.op;
};

/** The attention ops of `order` by family, each in step order. */
function familiesOf(order: readonly Tensor[]): Tensor[][] {
  const families = new Map<string, Tensor[]>();
  for (const t of order) {
    const key = familyOf(t);
    if (key !== null) families.set(key, [...(families.get(key) ?? []), t]);
  }
  return [...families.values()];
}

/** attentionGrads for dq and dk must agree on v and on the maps' gradient to share dS. */
function agree(byRole: Map<string, Tensor>): void {
  const [q, k] = [byRole.get('q'), byRole.get('k')];
  if (q?.spec.op !== 'attentionGrad' || k?.spec.op !== 'attentionGrad') return;
  if (q.inputs[2] !== k.inputs[2] || q.inputs[4] !== k.inputs[4]) byRole.delete('k');
}

/**
 * Groups of two or more siblings in step order, by the first (the lead), whose step lowers them all:
 * each member's inputs are ready by then, and its readers, which come after it, find its result written.
 */
export function attentionGroups(order: readonly Tensor[]): Map<number, Tensor[]> {
  const step = new Map(order.map((t, i) => [t.id, i]));
  const groups = new Map<number, Tensor[]>();
  for (const family of familiesOf(order)) {
    // One node per role.
    const byRole = new Map<string, Tensor>();
    for (const t of family) if (!byRole.has(roleOf(t))) byRole.set(roleOf(t), t);
    agree(byRole);
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

/**
 * `order` with what each sibling reads computed before the first of them, so that they form one
 * group: a topological order may come to a layer's maps before the projection of its values, or
 * to dv before the maps' gradient that dq and dk also read. What moves up is the part of those
 * inputs' computation that came after the first sibling; a sibling whose inputs depend on
 * another sibling stays out.
 */
export function inputsBeforeSiblings(order: readonly Tensor[]): Tensor[] {
  let out = [...order];
  for (const family of familiesOf(order)) {
    if (family.length < 2) continue;
    const members = new Set(family.map((t) => t.id));
    for (const sibling of family.slice(1)) {
      const step = new Map(out.map((t, i) => [t.id, i]));
      const first = Math.min(...family.map((t) => step.get(t.id)!));
      const moved = new Set<number>();
      const stack = [...sibling.inputs];
      let dependsOnSibling = false;
      while (stack.length > 0 && !dependsOnSibling) {
        const x = stack.pop()!;
        if (moved.has(x.id) || step.get(x.id)! < first) continue;
        dependsOnSibling = members.has(x.id);
        moved.add(x.id);
        stack.push(...x.inputs);
      }
      if (dependsOnSibling || moved.size === 0) continue;
      const later = out.slice(first);
      out = [...out.slice(0, first), ...later.filter((t) => moved.has(t.id)), ...later.filter((t) => !moved.has(t.id))];
    }
  }
  return out;
}
