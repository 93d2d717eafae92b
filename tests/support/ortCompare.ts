// Runs a graph on ONNX Runtime (CPU) and on the float64 reference interpreter, and reports how
// far apart they are, so every backend test compares against an independent computation.
import { evaluate, type ReferenceValue } from '../../native/graph/interpret.js';
import { numel, type Tensor } from '../../native/graph/ir.js';
import type { Backend, HostTensor } from '../../native/runtime/backend.js';
import { seededRandom, uniform32 } from './random.js';

export interface FloatFeed {
  shape: number[];
  values: Float32Array;
}

export function randomFeed(seed: number, shape: number[], lo = -1, hi = 1): FloatFeed {
  return { shape, values: uniform32(seededRandom(seed), numel(shape), lo, hi) };
}

const hostFeeds = (feeds: Record<string, FloatFeed | HostTensor>): Record<string, HostTensor> =>
  Object.fromEntries(
    Object.entries(feeds).map(([n, f]) => [
      n,
      'values' in f ? { dtype: 'float32', shape: f.shape, data: f.values } : f,
    ]),
  );

const refFeeds = (feeds: Record<string, FloatFeed | HostTensor>) =>
  Object.fromEntries(Object.entries(feeds).map(([n, f]) => [n, 'values' in f ? Float64Array.from(f.values) : f.data]));

/**
 * Worst |ORT − reference| divided by the reference's largest magnitude (floats), or the count of
 * differing elements (int64, bool) — per output.
 */
export function mismatch(got: HostTensor, want: ReferenceValue): number {
  if (got.dtype !== want.dtype || got.shape.join() !== want.shape.join()) return Infinity;
  if (got.dtype !== 'float32') {
    let diff = 0;
    for (let i = 0; i < got.data.length; i++) if (got.data[i] !== want.data[i]) diff++;
    return diff;
  }
  let worst = 0;
  let scale = 0;
  const w = want.data as Float64Array;
  const g = got.data as Float32Array;
  for (let i = 0; i < w.length; i++) {
    scale = Math.max(scale, Math.abs(w[i]!));
    worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
  }
  if (Number.isNaN(worst)) return Infinity;
  return scale === 0 ? worst : worst / scale;
}

export async function compareWithReference(
  backend: Backend,
  outputs: Tensor[],
  feeds: Record<string, FloatFeed | HostTensor>,
  name = 'test',
): Promise<{ errors: number[]; got: HostTensor[] }> {
  const compiled = await backend.compile(outputs, { name });
  try {
    const got = await compiled.run(hostFeeds(feeds));
    const want = evaluate(outputs, refFeeds(feeds));
    return { errors: got.map((g, i) => mismatch(g, want[i]!)), got };
  } finally {
    await compiled.release();
  }
}
