// Backend choice: the order, the override, and a readable reason for every candidate passed over.
import { describe, expect, it } from 'vitest';
import { probeProvider, providerLabel, providerOrder } from '../../native/runtime/providers.js';
import { selectBackend } from '../../native/runtime/select.js';

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

  it('a requested provider that cannot run falls back to CPU and says why', async () => {
    if (process.platform === 'win32') return;
    const backend = await selectBackend({ prefer: 'dml' });
    expect(backend.info.id).toBe('ort-cpu');
    expect(backend.info.reasons).toEqual([
      `DirectML: only on Windows (this is ${process.platform})`,
      'CPU: chosen (always available)',
    ]);
  });
});
