// The GPU rows of `npm run bench`: the method on SDXL's full architecture on the native CUDA
// backend, float32 and fast (TF32 UNet), beside the PyTorch reference timed in the same run
// (when SKP_REFERENCE_DIR names a folder with tests/golden/reference's perf_ref.py, importable with
// the reference and diffusers on PYTHONPATH: tests/native/cuda/gpu-bench.sh sets this up), as ratios.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cudaUnavailableReason, loadCudaBackend } from '../../native/cuda/index.js';
import { benchSdxl, type SdxlRow } from './sdxlGpu.js';

interface ReferenceRun {
  trainMs: number;
  trainPeakGiB: number;
  inferMs: number;
  inferPeakGiB: number;
}

/** perf_ref.py at PyTorch's defaults (TF32 convolutions, float32 matmuls), as the issue's table. */
function timeReference(dir: string, size: number): ReferenceRun | string {
  const r = spawnSync('python3', [join(dir, 'perf_ref.py'), String(size), '500', '128'], {
    env: { ...process.env, PRECISION: 'torch-default', REPS: '3' },
    encoding: 'utf8',
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const train = /TRAIN .*?: ([\d.]+) ms\/iteration .*peak ([\d.]+) GiB/.exec(out);
  const infer = /INFER .*?: ([\d.]+) ms\/image, peak ([\d.]+) GiB/.exec(out);
  if (!train || !infer)
    return `the reference did not run (exit ${r.status}): ${out.trim().split('\n').slice(-3).join(' | ')}`;
  return { trainMs: +train[1]!, trainPeakGiB: +train[2]!, inferMs: +infer[1]!, inferPeakGiB: +infer[2]! };
}

export async function benchGpu(): Promise<void> {
  const backend = await loadCudaBackend();
  if (!backend) {
    console.log(`\nGPU rows skipped: ${cudaUnavailableReason()}`);
    return;
  }
  const sizes = (process.env.SKP_BENCH_GPU_SIZES ?? '512').split(',').map(Number);
  console.log(`\nGPU: ${backend.info.label}\n  ${backend.info.reasons.join('\n  ')}`);
  const rows = await benchSdxl(backend, sizes, ['float32', 'tf32'], null);
  const refDir = process.env.SKP_REFERENCE_DIR;
  for (const size of sizes) {
    const ref = refDir ? timeReference(refDir, size) : 'SKP_REFERENCE_DIR is not set';
    const cell = (precision: SdxlRow['precision'], what: SdxlRow['what']) =>
      rows.find((r) => r.size === size && r.precision === precision && r.what === what);
    const ms = (r: SdxlRow | undefined) => (r?.ms === undefined ? 'did not run' : `${r.ms.toFixed(0)} ms`);
    const peak = (r: SdxlRow | undefined) =>
      r?.peakBytes === undefined ? '–' : `${(r.peakBytes / 2 ** 30).toFixed(2)} GiB`;
    const ratio = (r: SdxlRow | undefined, refMs: number | undefined) =>
      r?.ms === undefined || refMs === undefined ? '–' : `${(r.ms / refMs).toFixed(2)}×`;
    const refRun = typeof ref === 'string' ? undefined : ref;
    console.log(`\n${size}², 500 tokens, R = 128 (reference: PyTorch defaults, same run)`);
    if (typeof ref === 'string') console.log(`  reference: ${ref}`);
    console.log('| | ours float32 | ours fast (TF32 UNet) | reference | float32 / reference | fast / reference |');
    console.log('|---|---|---|---|---|---|');
    // The reference encodes the image in every iteration; we encode each image once.
    for (const [what, refMs] of [
      ['training iteration', refRun?.trainMs],
      ['training iteration, first visit of its image', refRun?.trainMs],
      ['augmented inference', refRun?.inferMs],
    ] as const) {
      const f = cell('float32', what);
      const t = cell('tf32', what);
      console.log(
        `| ${what} | ${ms(f)} | ${ms(t)} | ${refMs === undefined ? '–' : `${refMs.toFixed(0)} ms`} | ${ratio(f, refMs)} | ${ratio(t, refMs)} |`,
      );
    }
    for (const [what, refGiB] of [
      ['training iteration', refRun?.trainPeakGiB],
      ['augmented inference', refRun?.inferPeakGiB],
    ] as const) {
      console.log(
        `| peak memory, ${what} (ours: whole GPU in use; reference: allocated by PyTorch) | ${peak(cell('float32', what))} | ${peak(cell('tf32', what))} | ${refGiB === undefined ? '–' : `${refGiB.toFixed(2)} GiB`} | | |`,
      );
    }
  }
}
