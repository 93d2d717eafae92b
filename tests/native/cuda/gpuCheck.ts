// Checks the native CUDA backend on a real GPU: every op case of cases.ts (forward graphs
// and autodiff gradients) against the float64 interpreter, in float32 and TF32 precision,
// plus the clear failures promised for bad input. Every case also runs with elementwise programs
// interpreted and weights at their stored width (widened at each use), and must give the same
// bytes. Run where an NVIDIA GPU and the built addon are (the CI machine has neither):
//   node --import tsx tests/native/cuda/gpuCheck.ts [--json results.json] [--only substring] [--seed N]
// The cases' random inputs come from a seed it prints; --seed repeats a run's inputs.
// Exit status 0 when every check passes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate } from '../../../native/graph/interpret.js';
import { Graph } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { loadAddon } from '../../../native/cuda/addon.js';
import {
  CudaBackend,
  CudaError,
  cudaUnavailableReason,
  loadCudaBackend,
  type CudaPrecision,
} from '../../../native/cuda/index.js';
import { limitMemory } from '../../../native/cuda/memoryLimit.js';
import { buildCases, compare, referenceFeeds, type Comparison } from './cases.js';

/** Relative L2 error allowed: float32 rounding in float32 mode; TF32 rounds GEMM inputs to 10 mantissa bits. */
const BOUND: Record<CudaPrecision, number> = { float32: 2e-5, tf32: 5e-3 };

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = flag('--only');

interface CaseResult {
  name: string;
  precision: CudaPrecision;
  outputs: Comparison[];
  repeatIdentical: boolean;
  /** The same bytes with elementwise programs interpreted and weights at their stored width as with neither. */
  matchesInterpreter: boolean;
  ok: boolean;
  error?: string;
  ms: number;
}

/** A small graph of one fused elementwise program, run in a fresh process (--kernel-cache-child). */
async function kernelCacheChild(): Promise<number> {
  const backend = await loadCudaBackend();
  if (!backend) throw new Error(`native CUDA unavailable: ${cudaUnavailableReason()}`);
  const g = new Graph();
  const x = g.input('x', [1000]);
  const graph = await backend.compile([o.add(o.mul(o.exp(x), x), o.tanh(x))], { name: 'kernel cache' });
  const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
  const [y] = await graph.run({ x: { dtype: 'float32', shape: [1000], data } });
  console.log(JSON.stringify({ ...loadAddon().elementwiseKernels(), y: Array.from(y!.data as Float32Array) }));
  return 0;
}

/**
 * Compiled elementwise kernels kept between processes: a second process reads them instead of
 * compiling, a damaged file is compiled again, and every process gets the same numbers.
 */
function kernelCacheChecks(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'skp-kernel-cache-'));
  try {
    return kernelCacheSteps(dir);
  } catch (e) {
    return [`FAIL kept kernels: ${(e as Error).message}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function kernelCacheSteps(dir: string): string[] {
  const child = () => {
    const r = spawnSync(process.execPath, [process.argv[1]!, '--kernel-cache-child'], {
      env: { ...process.env, SKP_CACHE_DIR: dir },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`a process of the check failed: ${r.stderr.slice(-1500)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      compiledBatches: number;
      cachedBatches: number;
      y: number[];
    };
  };
  const first = child();
  const files = readdirSync(join(dir, 'cuda-kernels')).filter((f) => f.endsWith('.bin'));
  const second = child();
  // Each file: magic line, the text's length, the text (compiler, options, source), the machine code.
  for (const f of files) {
    const bytes = readFileSync(join(dir, 'cuda-kernels', f));
    const magic = 'SKP-EW-CUBIN-1\n'.length;
    bytes.fill(0x78, magic + 8 + Number(bytes.readBigUInt64LE(magic)));
    writeFileSync(join(dir, 'cuda-kernels', f), bytes);
  }
  const damaged = child();
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  return [
    `${first.compiledBatches > 0 && files.length > 0 ? 'ok  ' : 'FAIL'} the first process compiles and keeps its kernels (${first.compiledBatches} NVRTC runs, ${files.length} files)`,
    `${second.compiledBatches === 0 && second.cachedBatches > 0 && same(first.y, second.y) ? 'ok  ' : 'FAIL'} a later process reads them, same numbers (${second.compiledBatches} NVRTC runs, ${second.cachedBatches} read)`,
    `${damaged.compiledBatches > 0 && same(first.y, damaged.y) ? 'ok  ' : 'FAIL'} a damaged file is compiled again, same numbers (${damaged.compiledBatches} NVRTC runs)`,
  ];
}

async function main(): Promise<number> {
  if (args.includes('--kernel-cache-child')) return kernelCacheChild();
  const backend = await loadCudaBackend({ poisonArena: true });
  if (!backend) {
    console.error(`native CUDA unavailable: ${cudaUnavailableReason()}`);
    return 1;
  }
  console.log(`${backend.info.label}\n  ${backend.info.reasons.join('\n  ')}`);
  const atStoredWidth = backend.withOptions({ float32Weights: false });
  const dir = mkdtempSync(join(tmpdir(), 'skp-gpu-check-'));
  const results: CaseResult[] = [];
  const given = flag('--seed');
  if (given !== undefined && !/^\d+$/.test(given)) {
    console.error(`--seed must be a whole number, not '${given}'`);
    return 2;
  }
  const seed = given === undefined ? Date.now() % 100000 : Number(given);
  console.log(`random seed ${seed}`);
  try {
    for (const precision of ['float32', 'tf32'] as const) {
      for (const c of buildCases(
        seed + (precision === 'tf32' ? 1 : 0),
        dir,
        only ? (n) => n.includes(only) : undefined,
        precision === 'tf32' ? 'unet' : undefined, // TF32 covers the UNet's layers only
      )) {
        const t0 = performance.now();
        const r: CaseResult = {
          name: c.name,
          precision,
          outputs: [],
          repeatIdentical: false,
          matchesInterpreter: false,
          ok: false,
          ms: 0,
        };
        try {
          const graph = await backend.compile(c.outputs, { name: c.name, precision });
          const got = await graph.run(c.feeds);
          // The second run replays the captured launch graph: it must give the same bytes.
          const again = await graph.run(c.feeds);
          await graph.release();
          // Weights: the run above holds them as the card's room says (on a large GPU, float32
          // copies); this one at their stored width, widened at each use. Widening is exact.
          const interpreted = await atStoredWidth.compile(c.outputs, {
            name: c.name,
            precision,
            interpretElementwise: true,
          });
          const byInterpreter = await interpreted.run(c.feeds);
          await interpreted.release();
          const want = evaluate(c.outputs, referenceFeeds(c.feeds));
          r.outputs = got.map((g, i) => compare(i, g, want[i]!));
          const bytesOf = (d: ArrayBufferView) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
          // scatterAdd sums with atomics: its order (and rounding) may differ run to run.
          r.repeatIdentical =
            c.name.includes('scatter') ||
            got.every((g, i) => Buffer.compare(bytesOf(g.data), bytesOf(again[i]!.data)) === 0);
          r.matchesInterpreter =
            c.name.includes('scatter') ||
            got.every((g, i) => Buffer.compare(bytesOf(g.data), bytesOf(byInterpreter[i]!.data)) === 0);
          r.ok =
            r.repeatIdentical &&
            r.matchesInterpreter &&
            r.outputs.every((x) => x.mismatches === 0 && x.relL2 < BOUND[precision]);
        } catch (e) {
          r.error = (e as Error).message;
        }
        r.ms = performance.now() - t0;
        results.push(r);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const failures = await badInputChecks(backend);
  if (backend.info.reasons.some((r) => r.startsWith('elementwise kernels: compiled')))
    failures.push(...kernelCacheChecks());
  const pad = (s: string, n: number) => s.padEnd(n).slice(0, n);
  console.log(
    `\n${pad('case', 48)} ${pad('precision', 9)} ${'max rel L2'.padStart(10)} ${'max |err|'.padStart(10)}  result`,
  );
  for (const r of results) {
    const rel = Math.max(0, ...r.outputs.filter((x) => x.dtype === 'float32').map((x) => x.relL2));
    const abs = Math.max(0, ...r.outputs.filter((x) => x.dtype === 'float32').map((x) => x.maxAbs));
    const exact = r.outputs.filter((x) => x.dtype !== 'float32').reduce((a, x) => a + x.mismatches, 0);
    const verdict = r.ok
      ? 'ok'
      : r.error
        ? `ERROR ${r.error}`
        : !r.repeatIdentical
          ? 'FAIL (runs differ)'
          : !r.matchesInterpreter
            ? 'FAIL (compiled elementwise differs from interpreted)'
            : `FAIL${exact ? ` (${exact} exact mismatches)` : ''}`;
    console.log(
      `${pad(r.name, 48)} ${pad(r.precision, 9)} ${rel.toExponential(2).padStart(10)} ${abs.toExponential(2).padStart(10)}  ${verdict}`,
    );
  }
  for (const f of failures) console.log(f);
  const json = flag('--json');
  if (json) writeFileSync(json, JSON.stringify({ device: backend.info, seed, results, badInput: failures }, null, 1));
  const bad = results.filter((r) => !r.ok).length + failures.filter((f) => f.startsWith('FAIL')).length;
  console.log(
    `\n${results.length - results.filter((r) => !r.ok).length}/${results.length} op cases pass; other checks: ${failures.filter((f) => !f.startsWith('FAIL')).length}/${failures.length}`,
  );
  return bad ? 1 : 0;
}

/** Each promised failure must come as a clear error, and the backend must still work after. */
async function badInputChecks(backend: NonNullable<Awaited<ReturnType<typeof loadCudaBackend>>>): Promise<string[]> {
  const out: string[] = [];
  const expectError = async (what: string, f: () => Promise<unknown>, pattern: RegExp) => {
    try {
      await f();
      out.push(`FAIL ${what}: no error`);
    } catch (e) {
      const msg = (e as Error).message;
      out.push(`${pattern.test(msg) && e instanceof CudaError ? 'ok  ' : 'FAIL'} ${what}: ${msg}`);
    }
  };
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  const idx = g.input('idx', [2, 3], 'int64');
  const graph = await backend.compile([o.gatherElements(o.exp(x), idx, 1)], { name: 'bad-input' });
  const feeds = {
    x: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array(6).fill(1) },
    idx: { dtype: 'int64' as const, shape: [2, 3], data: new BigInt64Array(6) },
  };
  await expectError('missing input', () => graph.run({ x: feeds.x }), /input 'idx': not fed/);
  await expectError(
    'wrong shape',
    () => graph.run({ ...feeds, x: { ...feeds.x, shape: [3, 2] } }),
    /input 'x': fed shape \[3,2\]/,
  );
  await expectError(
    'index out of range on the GPU',
    () => graph.run({ ...feeds, idx: { ...feeds.idx, data: BigInt64Array.from([0n, 1n, 7n, 0n, 0n, 0n]) } }),
    /gatherElements #\d+.*index 7 out of range/,
  );
  const fine = await graph.run(feeds);
  out.push(`${fine[0]!.data[0] === Math.fround(Math.E) ? 'ok  ' : 'FAIL'} runs again after those errors`);
  // Each run's outputs are arrays of its own (CompiledGraph.run): training keeps them uncopied.
  await graph.run({ ...feeds, x: { ...feeds.x, data: new Float32Array(6) } });
  out.push(
    `${fine[0]!.data[0] === Math.fround(Math.E) ? 'ok  ' : 'FAIL'} a later run leaves earlier outputs as they were`,
  );
  await graph.release();
  // A weight file rewritten in place (a model downloaded again) must not be served from the cache.
  const dir = mkdtempSync(join(tmpdir(), 'skp-gpu-weights-'));
  try {
    const file = join(dir, 'w.bin');
    const weighted = async (value: number, mtime: number) => {
      writeFileSync(file, Buffer.from(new Float32Array([value, value]).buffer));
      utimesSync(file, mtime, mtime);
      const wg = new Graph();
      const w = wg.weight({ file, byteOffset: 0, storedAs: 'float32', name: 'w' }, [2]);
      const cg = await backend.compile([o.add(w, wg.input('z', [2]))], { name: 'weights' });
      const [r] = await cg.run({ z: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });
      await cg.release();
      return r!.data[0];
    };
    const first = await weighted(1, 1_000_000);
    const second = await weighted(2, 2_000_000);
    out.push(
      `${first === 1 && second === 2 ? 'ok  ' : 'FAIL'} a rewritten weight file is read again (got ${first}, then ${second})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const huge = new Graph();
  const h = huge.input('h', [200000, 200000]);
  await expectError(
    'too little GPU memory (said before allocating)',
    () => backend.compile([o.exp(h)], { name: 'huge' }),
    /needs [\d.]+ GiB of GPU memory .* free of/,
  );
  // SKP_CUDA_MEMORY_LIMIT: 1 GiB beyond what is in use now; 2 GiB of activations must not fit, 0.25 GiB must.
  const addon = loadAddon();
  const now = addon.memInfo();
  const capped = new CudaBackend(limitMemory(addon, now.total - now.free + 2 ** 30), backend.device);
  const big = new Graph();
  await expectError(
    'a graph larger than SKP_CUDA_MEMORY_LIMIT allows',
    () => capped.compile([o.exp(big.input('b', [2 ** 28]))], { name: 'over the cap' }),
    /needs [\d.]+ GiB of GPU memory .* has [\d.]+ GiB free of [\d.]+ GiB/,
  );
  const small = new Graph();
  const fits = await capped.compile([o.exp(small.input('s', [2 ** 25]))], { name: 'under the cap' });
  const [r] = await fits.run({ s: { dtype: 'float32', shape: [2 ** 25], data: new Float32Array(2 ** 25) } });
  out.push(`${r!.data[2 ** 25 - 1] === 1 ? 'ok  ' : 'FAIL'} a graph under SKP_CUDA_MEMORY_LIMIT compiles and runs`);
  await fits.release();
  return out;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
