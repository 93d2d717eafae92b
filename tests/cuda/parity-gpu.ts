// The golden reference case on the native CUDA backend, in both precisions: every quantity
// of `skp parity` (latents, maps, losses, gradient, AdamW steps, indices, keypoints) with the
// backend's time per quantity group. For the lent GPU machine (run where the addon loads):
//   node --import tsx tests/cuda/parity-gpu.ts <case-dir>
import { performance } from 'node:perf_hooks';
import { runParity } from '../../native/parity/run.js';
import { CudaBackend, cudaUnavailableReason, loadCudaBackend } from '../../native/cuda/index.js';
import { loadAddon } from '../../native/cuda/addon.js';

async function main(): Promise<number> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: parity-gpu.ts <case-dir>');
  const first = await loadCudaBackend();
  if (!first) throw new Error(`native CUDA unavailable: ${cudaUnavailableReason()}`);
  console.log(`${first.info.label}: ${first.info.reasons.join('; ')}`);
  let failed = 0;
  for (const precision of ['float32', 'tf32'] as const) {
    const backend = new CudaBackend(loadAddon(), first.device, { precision });
    const t0 = performance.now();
    const lines = await runParity(dir, { backend });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const bad = lines.filter((l) => !l.pass);
    failed += precision === 'float32' ? bad.length : 0;
    console.log(
      `\n${precision}: ${lines.length - bad.length}/${lines.length} quantities pass (${secs} s including compiles)`,
    );
    for (const l of lines) {
      const err = Number.isInteger(l.error) ? String(l.error) : l.error.toExponential(2);
      console.log(
        `  ${l.pass ? 'pass' : 'FAIL'} ${l.quantity.padEnd(44)} ${l.measure.padEnd(24)} ${err.padStart(9)} (tol ${l.tolerance})${l.detail && !l.pass ? ` ${l.detail}` : ''}`,
      );
    }
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
