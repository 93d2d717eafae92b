// The emitted model itself: only ops from the checked list, readable node names, the graph
// interface, the in-memory weight layout, and errors that name the node instead of crashing ORT.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, GraphError, type OpSpec, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { emitModel } from '../../../native/onnx/emit.js';
import { inspectModel } from '../../../native/onnx/inspect.js';
import { OPSET, supportedOps } from '../../../native/onnx/supportedOps.js';
import { evaluate } from '../../../native/graph/interpret.js';
import { everyOpGraph, weightFile } from './everyOpGraph.js';
import { seededRandom, uniform32 } from '../../support/random.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-onnx-emit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ONNX emitter', () => {
  it('emits only ops on the CPU+CUDA supported list, at the chosen opset', () => {
    const model = inspectModel(emitModel(everyOpGraph(dir)).bytes);
    expect(model.opset).toBe(OPSET);
    const outside = model.nodes.map((n) => n.opType).filter((op) => !Object.hasOwn(supportedOps, op));
    expect(outside).toEqual([]);
    // The walk saw a real model, not an empty decode.
    expect(new Set(model.nodes.map((n) => n.opType))).toContain('ScatterElements');
  });

  it('that every-op model loads in ONNX Runtime and agrees with the interpreter', async () => {
    const outputs = everyOpGraph(dir);
    const m = emitModel(outputs, { weightLayout: 'inMemory' });
    const raw = readFileSync(join(dir, 'all.bin'));
    const externalData = m.chunks.map((c) => ({
      path: c.location,
      data: Buffer.concat(c.pieces.map((p) => raw.subarray(p.offset, p.offset + p.length))),
    }));
    const x = uniform32(seededRandom(3), 32);
    const session = await ort.InferenceSession.create(m.bytes, { externalData });
    const result = await session.run({ x: new ort.Tensor('float32', x, [1, 2, 4, 4]) });
    await session.release();
    const got = result[m.outputs[0]!.name]!.data as Float32Array;
    const want = evaluate(outputs, { x })[0]!.data as Float64Array;
    expect(want.every(Number.isFinite)).toBe(true);
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(want[i]!)));
  });

  it('names nodes after their IR label, op and id', () => {
    const model = inspectModel(emitModel(everyOpGraph(dir)).bytes);
    expect(model.nodes.every((n) => /^block\/\w+#\d+/.test(n.name))).toBe(true);
    expect(model.nodes.some((n) => n.opType === 'Cast' && n.name.endsWith('/upcast'))).toBe(true);
  });

  it('names apart the nodes of an op that maps to several', () => {
    const g = new Graph();
    const q = g.input('q', [1, 2, 3, 4]);
    const k = g.input('k', [1, 2, 5, 4]);
    const grads = g.scope('attn', () =>
      o.attentionGrad(q, k, g.input('v', [1, 2, 5, 4]), g.input('g', [1, 2, 3, 4]), 0.5, 'k'),
    );
    const names = inspectModel(emitModel([grads]).bytes).nodes.map((n) => n.name);
    expect(names.length).toBeGreaterThan(8);
    expect(new Set(names).size).toBe(names.length);
    expect(names[0]).toMatch(/^attn\/attentionGrad#\d+$/);
  });

  it('takes as graph inputs only IR inputs the outputs need, in declaration order', () => {
    const g = new Graph();
    const b = g.input('b', [2]);
    g.input('unused', [2]);
    const a = g.input('a', [2]);
    const m = emitModel([o.add(a, b), b]);
    expect(m.inputs.map((p) => p.name)).toEqual(['b', 'a']);
    expect(m.outputs.map((p) => p.shape)).toEqual([[2], [2]]);
  });

  it('turns fill into ConstantOfShape instead of storing the zeros', () => {
    const g = new Graph();
    const bytes = emitModel([g.fill(0, [1024, 1024])]).bytes;
    expect(bytes.length).toBeLessThan(4096);
    expect(inspectModel(bytes).nodes.map((n) => n.opType)).toContain('ConstantOfShape');
  });

  it('packs in-memory weights into chunks no larger than asked, each range read once', async () => {
    const file = weightFile(
      dir,
      'chunks.bin',
      Array.from({ length: 40 }, (_, i) => i),
      12,
    );
    const g = new Graph();
    const ref = (i: number) => ({ file, byteOffset: 12 + i * 40, storedAs: 'float32' as const, name: `t${i}` });
    const ws = [0, 1, 2, 3].map((i) => g.weight(ref(i), [10]));
    const again = g.weight(ref(1), [10]);
    const out = o.add(o.add(o.add(ws[0]!, ws[1]!), o.add(ws[2]!, ws[3]!)), again);
    const m = emitModel([out], { weightLayout: 'inMemory', chunkBytes: 100 });
    expect(m.chunks.map((c) => c.byteLength)).toEqual([80, 80]);
    expect(m.chunks.flatMap((c) => c.pieces.map((p) => p.offset))).toEqual([12, 52, 92, 132]);

    const raw = readFileSync(file);
    const externalData = m.chunks.map((c) => ({
      path: c.location,
      data: Buffer.concat(c.pieces.map((p) => raw.subarray(p.offset, p.offset + p.length))),
    }));
    const session = await ort.InferenceSession.create(m.bytes, { externalData });
    const result = await session.run({});
    await session.release();
    const want = Array.from({ length: 10 }, (_, j) => j + (10 + j) * 2 + (20 + j) + (30 + j));
    expect(Array.from(result[m.outputs[0]!.name]!.data as Float32Array)).toEqual(want);
  });
});

describe('emitter errors name the node', () => {
  it('a weight file shorter than the tensor', () => {
    const file = weightFile(dir, 'short.bin', [1, 2, 3]);
    const g = new Graph();
    const w = g.scope('unet.conv_in', () =>
      g.weight({ file, byteOffset: 4, storedAs: 'float32', name: 'conv_in.weight' }, [3]),
    );
    expect(() => emitModel([o.neg(w)])).toThrow(GraphError);
    expect(() => emitModel([o.neg(w)])).toThrow(
      /node 'unet\.conv_in' weight#\d+ .*\[3\]:float32.*'conv_in\.weight' needs bytes 4\.\.16 of .*short\.bin, but the file has 12 bytes/,
    );
  });

  it('a missing weight file', () => {
    const g = new Graph();
    const w = g.weight({ file: join(dir, 'nope.bin'), byteOffset: 0, storedAs: 'float32', name: 'gone' }, [3]);
    expect(() => emitModel([w])).toThrow(/weight#\d+.*'gone': cannot read .*nope\.bin \(ENOENT\)/);
  });

  it('a stored dtype the runtime cannot take', () => {
    const file = weightFile(dir, 'int8.bin', [1, 2, 3, 4]);
    const g = new Graph();
    const ref = { file, byteOffset: 0, storedAs: 'int8', name: 'q' } as unknown as Parameters<Graph['weight']>[0];
    const w = g.scope('vae.q', () => g.weight(ref, [4]));
    expect(() => emitModel([w])).toThrow(/node 'vae\.q' weight#\d+.*stored as 'int8', which the runtime cannot take/);
  });

  it('an op on a dtype both providers do not implement (Where on bool branches)', () => {
    const g = new Graph();
    const c = g.input('c', [2], 'bool');
    const r = g.scope('mask', () => o.where(c, c, c));
    expect(() => emitModel([r])).toThrow(/node 'mask' where#\d+ .*ONNX Where on bool is not implemented by both/);
  });

  it('an op the emitter does not know', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const odd: Tensor = { ...x, id: 99, spec: { op: 'fancy' } as unknown as OpSpec, inputs: [x], label: 'head.odd' };
    expect(() => emitModel([odd])).toThrow(
      /node 'head\.odd' fancy#99 \(inputs \[2\]:float32 → \[2\]:float32\): no ONNX mapping for op 'fancy'/,
    );
  });

  it('input names that would collide with internal value names', () => {
    const g = new Graph();
    expect(() => emitModel([g.input('%t0', [1])])).toThrow(/may not start with '%'/);
  });
});
