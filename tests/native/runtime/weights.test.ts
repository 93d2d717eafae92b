// Weights from a real .safetensors file (float32, float16, bfloat16) reach ONNX Runtime through
// hard links into the model folder (no copy) and through the in-memory fallback.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { inspectModel } from '../../../native/onnx/inspect.js';
import { prepareModel } from '../../../native/runtime/cache.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { openSafetensors, writeSafetensors } from '../../../native/weights/safetensors.js';
import { compareWithReference, randomFeed } from '../../support/ortCompare.js';
import { seededRandom, uniform32 } from '../../support/random.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-runtime-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, 'model.safetensors');
const r = seededRandom(42);
writeSafetensors(file, {
  'mlp.fc1.weight': { dtype: 'F32', shape: [6, 4], data: uniform32(r, 24) },
  'mlp.fc1.bias': { dtype: 'F16', shape: [6], data: uniform32(r, 6) },
  'mlp.fc2.weight': { dtype: 'BF16', shape: [3, 6], data: uniform32(r, 18) },
  'conv.weight': { dtype: 'F16', shape: [2, 3, 3, 3], data: uniform32(r, 54) },
});
const st = openSafetensors(file);
const storedAs = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

function weight(g: Graph, name: string): Tensor {
  const info = st.info(name);
  const kind = storedAs[info.dtype as keyof typeof storedAs];
  return g.scope(name, () => g.weight({ file, byteOffset: info.byteOffset, storedAs: kind, name }, info.shape));
}

function network(): { outputs: Tensor[] } {
  const g = new Graph();
  const x = g.input('x', [5, 4]);
  const img = g.input('img', [1, 3, 5, 5]);
  const h = o.gelu(o.linear(x, weight(g, 'mlp.fc1.weight'), weight(g, 'mlp.fc1.bias')));
  const y = o.linear(h, weight(g, 'mlp.fc2.weight'));
  const c = o.conv2d(img, weight(g, 'conv.weight'), { pad: 1 });
  return { outputs: [y, c] };
}
const feeds = { x: randomFeed(1, [5, 4]), img: randomFeed(2, [1, 3, 5, 5]) };

describe('weights from a .safetensors file', () => {
  it('hard-links the file next to the model and points initializers straight into it', async () => {
    const cacheDir = join(dir, 'linked');
    const { outputs } = network();
    const { errors } = await compareWithReference(new OrtBackend({ cacheDir, weightAccess: 'link' }), outputs, feeds);
    errors.forEach((e) => expect(e).toBeLessThanOrEqual(1e-5));

    const prepared = prepareModel(outputs, { cacheDir, access: 'link' });
    expect(prepared.layout).toBe('linked');
    const linked = join(cacheDir, prepared.key, 'w0.bin');
    expect(statSync(linked).ino).toBe(statSync(file).ino);
    const inits = inspectModel(readFileSync(prepared.modelPath)).initializers.filter((i) => i.external);
    expect(inits.map((i) => Number(i.external!.offset)).sort((a, b) => a - b)).toEqual(
      st
        .names()
        .map((n) => st.info(n).byteOffset)
        .sort((a, b) => a - b),
    );
    expect(new Set(inits.map((i) => i.external!.location))).toEqual(new Set(['w0.bin']));
    // float16 and bfloat16 stay in their stored type (TensorProto 10 and 16) and are cast after loading.
    expect(new Set(inits.map((i) => i.dataType))).toEqual(new Set([1, 10, 16]));
  });

  it('reads the byte ranges into memory when linking is not possible', async () => {
    const cacheDir = join(dir, 'memory');
    const { outputs } = network();
    const { errors } = await compareWithReference(new OrtBackend({ cacheDir, weightAccess: 'memory' }), outputs, feeds);
    errors.forEach((e) => expect(e).toBeLessThanOrEqual(1e-5));

    const prepared = prepareModel(outputs, { cacheDir, access: 'memory' });
    expect(prepared.layout).toBe('inMemory');
    expect(prepared.inMemory!.externalData.map((d) => d.path)).toEqual(['m0.bin']);
    const total = st.names().reduce((n, name) => n + st.info(name).byteLength, 0);
    expect(prepared.inMemory!.externalData[0]!.data.length).toBe(total);
    expect(readdirSync(join(cacheDir, prepared.key)).sort()).toEqual(['meta.json', 'model.onnx']);
  });

  // /dev/shm is a separate tmpfs on Linux: a real cross-filesystem case where linkSync fails with EXDEV.
  const otherFs = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdir()).dev;
  it.skipIf(!otherFs)("'auto' falls back to memory when the weights sit on another filesystem", async () => {
    const shm = mkdtempSync('/dev/shm/skp-weights-');
    try {
      const moved = join(shm, 'w.bin');
      copyFileSync(file, moved);
      const g = new Graph();
      const info = st.info('mlp.fc1.weight');
      const w = g.weight({ file: moved, byteOffset: info.byteOffset, storedAs: 'float32', name: 'fc1' }, info.shape);
      const prepared = prepareModel([o.neg(w)], { cacheDir: join(dir, 'auto') });
      expect(prepared.layout).toBe('inMemory');
      expect(readdirSync(join(dir, 'auto'))).toEqual([prepared.key]);
      const { errors } = await compareWithReference(new OrtBackend({ cacheDir: join(dir, 'auto') }), [o.neg(w)], {});
      expect(errors[0]).toBeLessThanOrEqual(1e-6);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
