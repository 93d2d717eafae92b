// The ONNX Runtime runner: the on-disk model cache, shared sessions, feed checking, and the
// optimisation level keeping float32 results exact.
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, GraphError, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { defaultCacheDir, graphKey, prepareModel } from '../../../native/runtime/cache.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { compareWithReference, randomFeed } from '../../support/ortCompare.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-runtime-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const weightsFile = join(dir, 'w.bin');
writeFileSync(weightsFile, new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer));

/** Built afresh each call, so equal graphs are distinct objects. */
function smallGraph(scale = 2): Tensor[] {
  const g = new Graph();
  const x = g.input('x', [2, 2]);
  const w = g.weight({ file: weightsFile, byteOffset: 0, storedAs: 'float32', name: 'w' }, [2, 2]);
  return [o.mul(o.matmul(x, w), g.constant([scale], [1]))];
}
const xFeed = { x: { dtype: 'float32' as const, shape: [2, 2], data: Float32Array.from([1, 0, 0, 1]) } };

describe('model cache', () => {
  it('a second compile of the same graph reuses the emitted model', async () => {
    const cacheDir = join(dir, 'hit');
    const first = prepareModel(smallGraph(), { cacheDir });
    expect(first.fromCache).toBe(false);
    const written = statSync(first.modelPath).mtimeMs;
    const second = prepareModel(smallGraph(), { cacheDir });
    expect(second.fromCache).toBe(true);
    expect(second.modelPath).toBe(first.modelPath);
    expect(statSync(second.modelPath).mtimeMs).toBe(written);

    const compiled = await new OrtBackend({ cacheDir }).compile(smallGraph());
    const [y] = await compiled.run(xFeed);
    expect(Array.from(y!.data as Float32Array)).toEqual([2, 4, 6, 8]);
    await compiled.release();
  });

  it('hands each run its own output arrays: a later run leaves earlier results as they were', async () => {
    // The training loop keeps a batch's gradients without copying them (CompiledGraph.run).
    const compiled = await new OrtBackend({ cacheDir: join(dir, 'own') }).compile(smallGraph());
    const [first] = await compiled.run(xFeed);
    const [second] = await compiled.run({ x: { ...xFeed.x, data: Float32Array.from([0, 1, 1, 0]) } });
    expect(Array.from(first!.data as Float32Array)).toEqual([2, 4, 6, 8]);
    expect(Array.from(second!.data as Float32Array)).toEqual([6, 8, 2, 4]);
    await compiled.release();
  });

  it('keys on ops, constants and the weight file’s size and modification time', () => {
    const base = graphKey(smallGraph(), 'linked');
    expect(graphKey(smallGraph(), 'linked')).toBe(base);
    expect(graphKey(smallGraph(3), 'linked')).not.toBe(base);
    expect(graphKey(smallGraph(), 'inMemory')).not.toBe(base);
    const later = new Date(Date.now() + 60_000);
    utimesSync(weightsFile, later, later);
    expect(graphKey(smallGraph(), 'linked')).not.toBe(base);
  });

  it('lives under SKP_CACHE_DIR when set, else under the user cache folder', () => {
    const saved = process.env.SKP_CACHE_DIR;
    try {
      process.env.SKP_CACHE_DIR = join(dir, 'env');
      expect(defaultCacheDir()).toBe(join(dir, 'env'));
      delete process.env.SKP_CACHE_DIR;
      expect(defaultCacheDir()).toMatch(/\.cache[/\\]keypoint-workstation[/\\]graphs$/);
    } finally {
      if (saved === undefined) delete process.env.SKP_CACHE_DIR;
      else process.env.SKP_CACHE_DIR = saved;
    }
  });
});

describe('sessions', () => {
  it('identical graphs share one session until the last user releases it', async () => {
    const backend = new OrtBackend({ cacheDir: join(dir, 'shared') });
    const a = await backend.compile(smallGraph());
    const b = await backend.compile(smallGraph());
    expect(backend.openSessions).toBe(1);
    await a.release();
    expect(backend.openSessions).toBe(1);
    const [y] = await b.run(xFeed);
    expect(Array.from(y!.data as Float32Array)).toEqual([2, 4, 6, 8]);
    await b.release();
    expect(backend.openSessions).toBe(0);
    await expect(b.run(xFeed)).rejects.toThrow(/run after release/);
  });

  it('releases a session only after the runs in flight on it have finished, with their results', async () => {
    const backend = new OrtBackend({ cacheDir: join(dir, 'in-flight') });
    const g = new Graph();
    const x = g.input('x', [384, 384]);
    let y = x;
    for (let i = 0; i < 12; i++) y = o.tanh(o.matmul(y, x));
    const compiled = await backend.compile([y]);
    const data = Float32Array.from({ length: 384 * 384 }, (_, i) => Math.sin(i) / 20);
    const feeds = { x: { dtype: 'float32' as const, shape: [384, 384], data } };
    const [alone] = await compiled.run(feeds);
    const order: string[] = [];
    const running = compiled.run(feeds).then((out) => (order.push('run'), out));
    const releasing = compiled.release().then(() => order.push('release'));
    const [during] = await running;
    await releasing;
    expect(order).toEqual(['run', 'release']);
    expect(
      Buffer.from((during!.data as Float32Array).buffer).equals(Buffer.from((alone!.data as Float32Array).buffer)),
    ).toBe(true);
    expect(backend.openSessions).toBe(0);
    await expect(compiled.run(feeds)).rejects.toThrow(/run after release/);
  });

  it('rejects feeds that are missing or of the wrong dtype or shape, naming the input', async () => {
    const backend = new OrtBackend({ cacheDir: join(dir, 'feeds') });
    const c = await backend.compile(smallGraph(), { name: 'tiny' });
    expect(c.inputNames).toEqual(['x']);
    await expect(c.run({})).rejects.toThrow(/graph 'tiny' input 'x': no value fed \(expects \[2,2\]:float32\)/);
    await expect(c.run({ x: { ...xFeed.x, shape: [4] } })).rejects.toThrow(/fed shape \[4\], expects \[2,2\]/);
    await expect(c.run({ x: { dtype: 'int64', shape: [2, 2], data: new BigInt64Array(4) } })).rejects.toThrow(
      GraphError,
    );
    await c.release();
  });

  it('refuses fast precision, which it does not have, rather than compile in float32', async () => {
    const backend = new OrtBackend({ cacheDir: join(dir, 'fast') });
    expect(backend.info.fastPrecision).toBeUndefined();
    await expect(backend.compile(smallGraph(), { name: 'tiny', fast: true })).rejects.toThrow(
      /ONNX Runtime \(CPU\) has no fast precision \(it computes in float32\); it needs the native CUDA backend/,
    );
    expect(backend.openSessions).toBe(0);
  });

  it('a missing weight file fails at compile time, naming the node', async () => {
    const g = new Graph();
    const w = g.scope('text.proj', () =>
      g.weight({ file: join(dir, 'absent.bin'), byteOffset: 0, storedAs: 'float16', name: 'proj.weight' }, [2]),
    );
    const backend = new OrtBackend({ cacheDir: join(dir, 'absent') });
    await expect(backend.compile([o.neg(w)])).rejects.toThrow(
      /node 'text\.proj' weight#\d+ .*'proj\.weight': cannot read .*absent\.bin \(ENOENT\)/,
    );
  });
});

describe("graph optimisation level 'all'", () => {
  // Patterns ORT fuses at 'all' (LayerNorm, GELU, MatMul+Add, attention-like softmax chains):
  // the fused kernels must stay within 1e-5 of the float64 reference, like 'basic'.
  function block(): { outputs: Tensor[] } {
    const g = new Graph();
    const x = g.input('x', [1, 8, 16]);
    const w = (name: string, shape: number[]) => g.input(name, shape);
    const ln = o.layerNorm(x, w('g', [16]), w('b', [16]), 1e-5);
    const q = o.linear(ln, w('wq', [16, 16]));
    const k = o.linear(ln, w('wk', [16, 16]));
    const v = o.linear(ln, w('wv', [16, 16]));
    const att = o.softmax(o.mul(o.matmul(q, o.transpose(k, [0, 2, 1])), 0.25), -1);
    const h = o.add(x, o.matmul(att, v));
    const mlp = o.linear(o.gelu(o.linear(h, w('w1', [32, 16]), w('b1', [32]))), w('w2', [16, 32]));
    const img = o.reshape(o.add(h, mlp), [1, 8, 4, 4]);
    const conv = o.silu(
      o.groupNorm(o.conv2d(img, w('wc', [8, 8, 3, 3]), { pad: 1 }), 4, w('gn', [8]), w('bn', [8]), 1e-5),
    );
    return { outputs: [conv] };
  }
  const feeds = {
    x: randomFeed(1, [1, 8, 16]),
    g: randomFeed(2, [16], 0.5, 1.5),
    b: randomFeed(3, [16]),
    wq: randomFeed(4, [16, 16]),
    wk: randomFeed(5, [16, 16]),
    wv: randomFeed(6, [16, 16]),
    w1: randomFeed(7, [32, 16]),
    b1: randomFeed(8, [32]),
    w2: randomFeed(9, [16, 32]),
    wc: randomFeed(10, [8, 8, 3, 3]),
    gn: randomFeed(11, [8], 0.5, 1.5),
    bn: randomFeed(12, [8]),
  };

  for (const optimization of ['basic', 'all'] as const) {
    it(`${optimization}: an attention + MLP + conv block stays within 1e-5 of the reference`, async () => {
      const backend = new OrtBackend({ cacheDir: join(dir, 'opt'), optimization });
      const { errors } = await compareWithReference(backend, block().outputs, feeds);
      expect(errors[0]).toBeLessThanOrEqual(1e-5);
    });
  }
});
