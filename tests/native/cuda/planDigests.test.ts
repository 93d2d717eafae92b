// The CUDA programs of every plan case and of the method's real graphs, in both precisions, must
// stay byte-identical to the pinned digests: lowering refactors may not change what runs on the GPU.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../../native/graph/ir.js';
import type { ExecutionPlan, Place } from '../../../native/cuda/plan.js';
import { planGraph } from '../../../native/cuda/plan.js';
import type { DeviceLoc } from '../../../native/cuda/program.js';
import { bytesOf, pinnedDigests, sha256 } from '../../support/digests.js';
import { methodGraphs } from '../../support/methodGraphs.js';
import { buildCases } from './cases.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-cuda-digests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Allocation 0 is the arena, 1 the constants, 2… the weights in the plan's order. */
const resolverOf =
  (plan: ExecutionPlan) =>
  (p: Place): DeviceLoc => {
    const h = p.home;
    if (h.kind === 'arena') return { alloc: 0, offset: h.slot.offset + p.offset };
    if (h.kind === 'constant') return { alloc: 1, offset: h.offset + p.offset };
    return { alloc: 2 + plan.weights.indexOf(h.tensor), offset: p.offset };
  };

/** The program in both precisions and the memory layout the backend is given. */
function digestsOf(name: string, outputs: Tensor[], scratchLimitBytes?: number): Record<string, string> {
  const plan = planGraph(outputs, { scratchLimitBytes });
  const at = resolverOf(plan);
  const layout = JSON.stringify({
    arenaBytes: plan.arenaBytes,
    constantBytes: plan.constantBytes,
    constants: plan.constants.map((c) => [c.offset, sha256(bytesOf(c.data))]),
    inputs: plan.inputs.map((x) => [x.name, at(x.place), x.bytes]),
    outputs: plan.outputs.map((x) => [at(x.place), x.bytes]),
    weights: plan.weights.map((w) => w.id),
    steps: plan.steps.map((t) => t.id),
    kinds: plan.kinds,
    stats: plan.stats,
  });
  return {
    [`${name} / float32`]: sha256(bytesOf(plan.encode(at, 'float32'))),
    [`${name} / tf32`]: sha256(bytesOf(plan.encode(at, 'tf32'))),
    [`${name} / layout`]: sha256(layout),
  };
}

describe('CUDA programs are unchanged', () => {
  it('every plan case and every method graph, in float32 and TF32', () => {
    const computed: Record<string, string> = {};
    for (const c of buildCases(7, dir)) Object.assign(computed, digestsOf(c.name, c.outputs, c.scratchLimitBytes));
    for (const m of methodGraphs()) Object.assign(computed, digestsOf(`method: ${m.name}`, m.outputs));
    const pinned = pinnedDigests(new URL('./plan-digests.json', import.meta.url).pathname, computed);
    expect(computed).toEqual(pinned);
  }, 120_000);
});
