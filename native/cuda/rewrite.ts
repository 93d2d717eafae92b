// Rewrites the planner makes before lowering. Each gives an equivalent graph whose nodes keep their
// ids, so steps, errors and profiles still name the nodes the caller built.
import type { Tensor } from '../graph/ir.js';
import { topoOrder } from '../graph/ir.js';

/** A node's replacement given its inputs already rewritten, or null to keep it (over those inputs). */
export type Rewrite = (t: Tensor, inputs: Tensor[]) => Tensor | null;

/** The outputs of the graph with every rule applied, in one pass; the first rule that answers wins. */
export function rewriteGraph(outputs: readonly Tensor[], rules: readonly Rewrite[]): Tensor[] {
  const same = new Map<number, Tensor>();
  for (const t of topoOrder(outputs)) {
    const inputs = t.inputs.map((x) => same.get(x.id)!);
    let replaced: Tensor | null = null;
    for (const rule of rules) if ((replaced = rule(t, inputs))) break;
    same.set(t.id, replaced ?? (inputs.every((y, i) => y === t.inputs[i]) ? t : { ...t, inputs }));
  }
  return outputs.map((t) => same.get(t.id)!);
}
