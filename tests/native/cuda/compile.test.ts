// CI has nvcc but no GPU and no cuBLAS: it must still build the addon (cuBLAS loaded at run
// time) and the result must load in Node and say clearly why it cannot run here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ADDON_FUNCTIONS, loadAddon } from '../../../native/cuda/addon.js';

const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
const haveNvcc = nvcc.status === 0;
if (!haveNvcc)
  console.warn(
    'tests/native/cuda/compile.test.ts skipped: nvcc is not installed (the CUDA addon cannot be built here)',
  );

const out = mkdtempSync(join(tmpdir(), 'skp-cuda-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.skipIf(!haveNvcc)('CUDA addon build', () => {
  it('compiles for one architecture and loads with every function the backend calls', () => {
    const script = new URL('../../../native/cuda/build.sh', import.meta.url).pathname;
    // One architecture keeps this under a minute on two cores; releases build all of build.sh's list.
    execFileSync(script, ['--out', out, '--arch', '90', '--cublas', 'dlopen', '--jobs', '2'], { stdio: 'pipe' });
    const file = join(out, 'skp_cuda.node');
    expect(existsSync(file)).toBe(true);
    const addon = loadAddon(file);
    expect(Object.keys(addon).sort()).toEqual([...ADDON_FUNCTIONS].sort());
    const info = addon.buildInfo();
    expect(info).toMatchObject({ cublas: 'dlopen', archs: 'sm_90+compute_90' });
    expect(info.cudaRuntime).toBeGreaterThanOrEqual(13000);
    const probe = addon.probe();
    // Where no GPU is present the probe names the reason instead of throwing.
    if (probe.deviceCount === 0) expect(probe.problem).toMatch(/driver|GPU|CUDA/);
    else expect(probe.name).toBeTruthy();
  }, 180_000);

  it('makes loadCudaBackend return null with a reason when no GPU can run it', async () => {
    const file = join(out, 'skp_cuda.node');
    const probe = loadAddon(file).probe();
    if (!probe.problem) return; // a GPU machine: gpuCheck.ts covers it
    const script = `
      const m = await import(${JSON.stringify(new URL('../../../native/cuda/index.ts', import.meta.url).href)});
      const b = await m.loadCudaBackend();
      console.log(JSON.stringify({ backend: b === null, reason: m.cudaUnavailableReason() }));`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, SKP_CUDA_ADDON: file },
    });
    const got = JSON.parse(res.stdout.trim().split('\n').pop()!) as { backend: boolean; reason: string };
    expect(got.backend).toBe(true);
    expect(got.reason).toBe(probe.problem);
  }, 60_000);
});
