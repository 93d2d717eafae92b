// Reverse-mode autodiff over the IR: the vector-Jacobian rules of the op table (opset.ts) and one reverse walk.
// Gradients are graph nodes appended to the forward graph, so forward, loss and backward run
// as one graph. Only nodes on a path from `wrt` to the loss get backward nodes: the SDXL graph
// is huge and only the learned tokens need a gradient, never the weights.
import type { Tensor } from './ir.js';
import { GraphError, shapeStr, topoOrder } from './ir.js';
import { differentiableOps, opDef } from './opset.js';
import * as o from './ops.js';

export { differentiableOps } from './opset.js';

/**
 * Appends the gradient of the scalar `loss` with respect to each of `wrt` to the loss's graph
 * and returns those gradient tensors (zeros for a `wrt` the loss does not depend on).
 */
export function grad(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const graph = loss.graph;
  if (loss.dtype !== 'float32' || loss.shape.some((d) => d !== 1)) {
    throw new GraphError(`grad: the loss must be a float32 scalar, got ${shapeStr(loss.shape)}:${loss.dtype}`);
  }
  for (const w of wrt) {
    if (w.graph !== graph) throw new GraphError(`grad: wrt tensor #${w.id} belongs to another graph than the loss`);
    if (w.dtype !== 'float32')
      throw new GraphError(`grad: wrt tensor #${w.id} is ${w.dtype}; only float32 has a gradient`);
  }
  const order = topoOrder([loss]);
  const targets = new Set(wrt.map((w) => w.id));
  // Forward sweep: a node needs a gradient if it is a target or a differentiable function of one.
  const active = new Set<number>();
  for (const t of order) {
    const reached = t.dtype === 'float32' && differentiableOps.has(t.spec.op) && t.inputs.some((x) => active.has(x.id));
    if (targets.has(t.id) || reached) active.add(t.id);
  }
  const pending = new Map<number, Tensor[]>();
  const found = new Map<number, Tensor>();
  if (active.has(loss.id)) pending.set(loss.id, [graph.fill(1, loss.shape)]);
  for (let i = order.length - 1; i >= 0; i--) {
    const y = order[i]!;
    const parts = pending.get(y.id);
    if (!parts) continue;
    pending.delete(y.id);
    const g = parts.reduce((acc, p) => o.add(acc, p));
    if (targets.has(y.id)) found.set(y.id, g);
    const rule = opDef(y.spec.op).vjp;
    if (!rule || !y.inputs.some((x) => active.has(x.id))) continue;
    graph.scope(y.label ? `grad.${y.label}` : 'grad', () => {
      const grads = rule(g, y, y.inputs as unknown as readonly [Tensor, Tensor, Tensor], y.spec);
      y.inputs.forEach((x, k) => {
        const build = grads[k];
        if (!active.has(x.id) || !build) return;
        const gx = o.sumTo(build(), x.shape);
        if (gx.shape.length !== x.shape.length || gx.shape.some((d, j) => d !== x.shape[j])) {
          throw new GraphError(`grad: rule for ${y.spec.op} gave ${shapeStr(gx.shape)} for input ${shapeStr(x.shape)}`);
        }
        const parts = pending.get(x.id);
        if (parts) parts.push(gx);
        else pending.set(x.id, [gx]);
      });
    });
  }
  return wrt.map((w) => found.get(w.id) ?? graph.fill(0, w.shape));
}
