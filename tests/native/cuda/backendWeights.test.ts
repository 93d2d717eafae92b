// The CUDA backend's choice of how it holds a graph's weights, run on the CPU (the device is the
// instruction-set model): float32 copies where the graph with them takes at most
// FLOAT32_WEIGHTS_SHARE of the card or where an earlier graph made them, else the stored width.
// Either way the numbers are the same bytes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { CudaBackend, HEADROOM } from '../../../native/cuda/backend.js';
import { planGraph } from '../../../native/cuda/plan.js';
import { distinctFloat32Bytes, FLOAT32_WEIGHTS_SHARE } from '../../../native/cuda/weights.js';
import type { HostTensor } from '../../../native/runtime/backend.js';
import { seededRandom } from '../../support/random.js';
import { CaseKit } from './cases.js';
import { emulatedDevice } from './emulatedDevice.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-cuda-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const probe = { driverVersion: 13000, runtimeVersion: 13000, deviceCount: 1, name: 'instruction-set model' };

/** Two linear layers on float16 and bfloat16 weights; `extra` floats of other work beside them. */
function graphs(extra: number) {
  const k = new CaseKit(seededRandom(4), dir);
  const w1 = k.weight([32, 16], 'float16', 0.3);
  const w2 = k.weight([8, 32], 'bfloat16', 0.3);
  const b = k.weight([8], 'float16');
  const small = (x: Tensor) => o.linear(o.silu(o.linear(x, w1)), w2, b);
  const x = k.x([4, 16]);
  return {
    feeds: k.feeds,
    small: [small(x)],
    big: [small(x), o.exp(k.x([extra]))],
  };
}

const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

async function run(backend: CudaBackend, outputs: Tensor[], feeds: Record<string, HostTensor>) {
  const graph = await backend.compile(outputs);
  const out = await graph.run(feeds);
  await graph.release();
  return {
    float32Weights: graph.plan.weightsInFloat32,
    widens: graph.plan.kinds.filter((k) => k === 'widen').length,
    out,
  };
}

/** What the backend weighs: the graph with float32 copies, and its working room. */
const needWithCopies = (outputs: Tensor[]) => {
  const plan = planGraph(outputs);
  return plan.arenaBytes + plan.constantBytes + distinctFloat32Bytes(plan.weights) + HEADROOM;
};

describe('CUDA backend: how it holds the weights', () => {
  it('keeps float32 copies where the graph with them takes at most the share of the card, with the same bytes', async () => {
    const g = graphs(16);
    const roomy = await run(new CudaBackend(emulatedDevice(2 ** 40), probe), g.small, g.feeds);
    const stored = await run(
      new CudaBackend(emulatedDevice(2 ** 40), probe, { float32Weights: false }),
      g.small,
      g.feeds,
    );
    expect(roomy).toMatchObject({ float32Weights: true, widens: 0 });
    expect(stored.float32Weights).toBe(false);
    expect(stored.widens).toBeGreaterThan(0);
    roomy.out.forEach((t, i) => expect(bytes(t).equals(bytes(stored.out[i]!))).toBe(true));
  });

  it('keeps the stored width on a card where the copies would pass the share', async () => {
    const g = graphs(16);
    const card = needWithCopies(g.small) / FLOAT32_WEIGHTS_SHARE - 1;
    expect((await run(new CudaBackend(emulatedDevice(card), probe), g.small, g.feeds)).float32Weights).toBe(false);
    const atShare = needWithCopies(g.small) / FLOAT32_WEIGHTS_SHARE;
    expect((await run(new CudaBackend(emulatedDevice(atShare), probe), g.small, g.feeds)).float32Weights).toBe(true);
  });

  it('reads copies an earlier graph made even where its own size would not have them made', async () => {
    const g = graphs(2 ** 20);
    // A card where the small graph gets copies and the big one, alone, would not.
    const card = needWithCopies(g.small) / FLOAT32_WEIGHTS_SHARE;
    expect(needWithCopies(g.big)).toBeGreaterThan(FLOAT32_WEIGHTS_SHARE * card);
    expect((await run(new CudaBackend(emulatedDevice(card), probe), g.big, g.feeds)).float32Weights).toBe(false);
    const backend = new CudaBackend(emulatedDevice(card), probe);
    expect((await run(backend, g.small, g.feeds)).float32Weights).toBe(true);
    const big = await run(backend, g.big, g.feeds);
    expect(big.float32Weights).toBe(true);
    const reference = await run(
      new CudaBackend(emulatedDevice(2 ** 40), probe, { float32Weights: false }),
      g.big,
      g.feeds,
    );
    big.out.forEach((t, i) => expect(bytes(t).equals(bytes(reference.out[i]!))).toBe(true));
  });
});
