// Engine benchmark: graph build, ONNX emission and session creation for a ~5,000-node graph, and
// forward / forward+backward time of a small MLP + conv + attention block. Absolute numbers,
// printed with the machine they came from.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { grad } from '../../native/graph/autodiff.js';
import { Graph, numel, type Tensor } from '../../native/graph/ir.js';
import * as o from '../../native/graph/ops.js';
import { emitModel } from '../../native/onnx/emit.js';
import type { Backend, HostTensor } from '../../native/runtime/backend.js';
import { OrtBackend } from '../../native/runtime/ort.js';
import { writeSafetensorsStreaming, openSafetensors, type TensorPlan } from '../../native/weights/safetensors.js';

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(1)} ms`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A deep residual MLP whose weights live in a real safetensors file, ~`nodes` IR nodes. */
function deepGraph(file: string, layers: number, dim: number): { outputs: Tensor[]; nodes: number } {
  const st = openSafetensors(file);
  const g = new Graph();
  const w = (name: string) => {
    const info = st.info(name);
    return g.weight({ file, byteOffset: info.byteOffset, storedAs: 'float16', name }, info.shape);
  };
  let h = g.input('x', [4, dim]);
  for (let i = 0; i < layers; i++) {
    h = g.scope(`layer${i}`, () => {
      const n = o.layerNorm(h, w(`l${i}.ln.w`), w(`l${i}.ln.b`), 1e-5);
      return o.add(h, o.linear(o.gelu(o.linear(n, w(`l${i}.fc1.w`), w(`l${i}.fc1.b`))), w(`l${i}.fc2.w`)));
    });
  }
  return { outputs: [h], nodes: g.nodes.length };
}

function writeDeepWeights(file: string, layers: number, dim: number): void {
  const plan: TensorPlan[] = [];
  for (let i = 0; i < layers; i++) {
    plan.push(
      { name: `l${i}.ln.w`, dtype: 'F16', shape: [dim] },
      { name: `l${i}.ln.b`, dtype: 'F16', shape: [dim] },
      { name: `l${i}.fc1.w`, dtype: 'F16', shape: [dim, dim] },
      { name: `l${i}.fc1.b`, dtype: 'F16', shape: [dim] },
      { name: `l${i}.fc2.w`, dtype: 'F16', shape: [dim, dim] },
    );
  }
  let seed = 1;
  writeSafetensorsStreaming(file, plan, (p) =>
    Float32Array.from(
      { length: numel(p.shape) },
      () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.1,
    ),
  );
}

/** MLP + conv + attention block; gradients go to the matmul weights and the conv's input (as for learned tokens). */
function block(g: Graph): { out: Tensor; params: Tensor[] } {
  const x = g.input('x', [1, 64, 128]);
  const img = g.input('img', [1, 32, 32, 32]);
  const p = (name: string, shape: number[]) => g.input(name, shape);
  const [wq, wk, wv, w1, w2] = [
    p('wq', [128, 128]),
    p('wk', [128, 128]),
    p('wv', [128, 128]),
    p('w1', [512, 128]),
    p('w2', [128, 512]),
  ];
  const wc = p('wc', [32, 32, 3, 3]);
  const params = [wq, wk, wv, w1, w2, img];
  const q = o.linear(x, wq);
  const att = o.softmax(o.mul(o.matmul(q, o.transpose(o.linear(x, wk), [0, 2, 1])), 1 / Math.sqrt(128)), -1);
  const h = o.add(x, o.matmul(att, o.linear(x, wv)));
  const mlp = o.add(h, o.linear(o.gelu(o.linear(h, w1)), w2));
  const conv = o.silu(o.conv2d(img, wc, { pad: 1 }));
  const out = o.add(o.mean(mlp, [1, 2]), o.mean(conv, [1, 2, 3]));
  return { out, params };
}

async function timeRuns(backend: Backend, outputs: Tensor[], feeds: Record<string, HostTensor>, runs: number) {
  const c = await backend.compile(outputs);
  await c.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await c.run(feeds);
    times.push(performance.now() - t0);
  }
  await c.release();
  return median(times);
}

export async function benchEngine(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `engine bench — ${cpu}, ${os.cpus().length} cores, ${os.platform()} ${os.arch()}, Node ${process.version}`,
  );
  const dir = mkdtempSync(join(os.tmpdir(), 'skp-bench-engine-'));
  try {
    const layers = 170;
    const dim = 64;
    const file = join(dir, 'deep.safetensors');
    writeDeepWeights(file, layers, dim);

    let t0 = performance.now();
    const deep = deepGraph(file, layers, dim);
    console.log(`  graph build (${deep.nodes} IR nodes): ${ms(t0)}`);
    t0 = performance.now();
    const emitted = emitModel(deep.outputs);
    console.log(`  ONNX emit (${(emitted.bytes.length / 1024).toFixed(0)} KiB): ${ms(t0)}`);
    for (const optimization of ['all', 'basic'] as const) {
      const backend = new OrtBackend({ cacheDir: join(dir, `cache-${optimization}`), optimization });
      t0 = performance.now();
      const c = await backend.compile(deep.outputs);
      console.log(`  compile, cold cache (emit + hard links + session, optimization '${optimization}'): ${ms(t0)}`);
      await c.release();
      t0 = performance.now();
      const again = await new OrtBackend({ cacheDir: join(dir, `cache-${optimization}`), optimization }).compile(
        deep.outputs,
      );
      console.log(`  compile, warm cache (session only, optimization '${optimization}'): ${ms(t0)}`);
      await again.release();
    }

    const g = new Graph();
    const { out, params } = block(g);
    const loss = o.sum(o.mul(out, out), [0], true);
    const grads = grad(o.reshape(loss, [1]), params);
    const feeds: Record<string, HostTensor> = {};
    let s = 7;
    for (const t of g.inputs.values()) {
      const data = Float32Array.from(
        { length: numel(t.shape) },
        () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2,
      );
      feeds[(t.spec as { name: string }).name] = { dtype: 'float32', shape: [...t.shape], data };
    }
    const backend = new OrtBackend({ cacheDir: join(dir, 'cache-block') });
    const fwd = await timeRuns(backend, [out], feeds, 20);
    const both = await timeRuns(backend, [loss, ...grads], feeds, 20);
    console.log(`  MLP+conv+attention block (64 tokens × 128, 32×32×32 conv), ${backend.info.label}:`);
    console.log(`    forward: ${fwd.toFixed(2)} ms, forward+backward: ${both.toFixed(2)} ms (median of 20)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
