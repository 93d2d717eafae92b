// Backend choice: the order, the override, and a readable reason for every candidate passed over.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../native/runtime/backend.js';
import { probeProvider, providerLabel, providerOrder } from '../../../native/runtime/providers.js';
import { BackendUnavailableError, selectBackend } from '../../../native/runtime/select.js';

const providersSource = fileURLToPath(new URL('../../../native/runtime/providers.ts', import.meta.url));
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('backend selection', () => {
  it('CPU always probes as working', async () => {
    expect(await probeProvider('cpu')).toEqual({ ok: true });
  });

  it('providers of another platform are refused with the platform named', async () => {
    if (process.platform !== 'win32') {
      expect(await probeProvider('dml')).toEqual({
        ok: false,
        reason: `DirectML: only on Windows (this is ${process.platform})`,
      });
    }
    if (process.platform !== 'darwin') {
      expect(await probeProvider('coreml')).toEqual({
        ok: false,
        reason: `CoreML: only on macOS (this is ${process.platform})`,
      });
    }
  });

  it("'auto' tries native CUDA, then CUDA → DirectML → CoreML → WebGPU → CPU, with a reason for each one passed over", async () => {
    const backend = await selectBackend({ prefer: 'auto' });
    const reasons = backend.info.reasons;
    expect(reasons[reasons.length - 1]).toMatch(/: chosen \(/);
    if (backend.info.id === 'cuda') return;
    expect(reasons[0]).toMatch(/^Native CUDA: /);
    const chosen = providerOrder.indexOf(backend.info.id.replace(/^ort-/, '') as (typeof providerOrder)[number]);
    expect(chosen).toBeGreaterThanOrEqual(0);
    const passedOver = providerOrder.slice(0, chosen).map((p) => providerLabel[p]);
    expect(reasons.slice(1, -1).map((r) => r.split(':')[0])).toEqual(passedOver);
    expect(reasons[reasons.length - 1]).toMatch(new RegExp(`^${backend.info.label.match(/\((.*)\)/)![1]}: chosen`));
  });

  it("'cpu' gives ONNX Runtime on the CPU and does not look for CUDA", async () => {
    const backend = await selectBackend({ prefer: 'cpu' });
    expect(backend.info).toMatchObject({
      id: 'ort-cpu',
      label: 'ONNX Runtime (CPU)',
      reasons: ['CPU: chosen (asked for)'],
    });
  });

  it('a requested provider that cannot run is an error naming why, never the CPU', async () => {
    if (process.platform === 'win32') return;
    const error = await selectBackend({ prefer: 'dml' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).reasons).toEqual([
      `DirectML: only on Windows (this is ${process.platform})`,
    ]);
    expect((error as Error).message).toBe(
      `dml cannot run here: DirectML: only on Windows (this is ${process.platform})`,
    );
  });

  it("'cuda' is our CUDA backend or ONNX Runtime's, else an error with the reason for each", async () => {
    const chosen = await selectBackend({ prefer: 'cuda' }).catch((e: unknown) => e);
    if (chosen instanceof BackendUnavailableError) {
      expect(chosen.reasons).toHaveLength(2);
      expect(chosen.reasons[0]).toMatch(/^Native CUDA: ./);
      expect(chosen.reasons[1]).toMatch(/^CUDA: ./);
    } else {
      expect(['cuda', 'ort-cuda']).toContain((chosen as Backend).info.id);
    }
  });

  it('probing WebGPU writes nothing to the terminal; what its library said goes into the reason', () => {
    const probe = `import { probeProvider } from ${JSON.stringify(pathToFileURL(providersSource).href)};
      process.stdout.write(JSON.stringify(await probeProvider('webgpu')));`;
    const r = spawnSync(process.execPath, ['--import', tsxLoader, '--input-type=module', '-e', probe], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout) as { ok: boolean; reason?: string };
    if (!result.ok) expect(result.reason).toMatch(/^WebGPU: \S/);
  });
});
