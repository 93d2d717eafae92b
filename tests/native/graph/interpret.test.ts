import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, GraphError } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';
import { erf, evaluate } from '../../../native/graph/interpret.js';

const f64 = (xs: number[]) => Float64Array.from(xs);
const i64 = (xs: number[]) => BigInt64Array.from(xs.map(BigInt));
const one = (t: Parameters<typeof evaluate>[0][number], feeds: Parameters<typeof evaluate>[1] = {}) =>
  evaluate([t], feeds)[0]!;
const nums = (data: ArrayLike<number | bigint>) => Array.from(data, Number);

describe('reference interpreter', () => {
  it('broadcasts binary ops the numpy way', () => {
    const g = new Graph();
    const a = g.input('a', [2, 1, 3]);
    const b = g.input('b', [4, 1]);
    const r = one(o.sub(a, b), { a: f64([0, 1, 2, 10, 11, 12]), b: f64([100, 200, 300, 400]) });
    expect(r.shape).toEqual([2, 4, 3]);
    const want: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) want.push(10 * i + k - 100 * (j + 1));
    expect(nums(r.data)).toEqual(want);
  });

  it('broadcasts where over condition and both branches', () => {
    const g = new Graph();
    const c = o.greater(g.input('c', [3, 1]), 0);
    const r = one(o.where(c, g.input('x', [1, 2]), g.scalar(-1)), { c: f64([1, -1, 1]), x: f64([5, 6]) });
    expect(r.shape).toEqual([3, 2]);
    expect(nums(r.data)).toEqual([5, 6, -1, -1, 5, 6]);
  });

  it('compares int64 and bool tensors with equal', () => {
    const g = new Graph();
    const r = one(o.equal(g.constantInt([1, 2, 3], [3]), g.constantInt([2], [1])));
    expect(r.dtype).toBe('bool');
    expect(nums(r.data)).toEqual([0, 1, 0]);
  });

  it('puts convTranspose2d input pixels at iy·stride − pad and outputPad only extends the end', () => {
    const g = new Graph();
    const x = g.constant([1, 2, 3, 4], [1, 1, 2, 2]);
    const w = g.fill(1, [1, 1, 3, 3]);
    const r = one(o.convTranspose2d(x, w, { stride: 2, pad: 1, outputPad: 1 }));
    expect(r.shape).toEqual([1, 1, 4, 4]);
    expect(nums(r.data)).toEqual([1, 3, 2, 2, 4, 10, 6, 6, 3, 7, 4, 4, 3, 7, 4, 4]);
    const beyond = one(o.convTranspose2d(x, w, { stride: 2, pad: 0, outputPad: 1 }));
    expect(beyond.shape).toEqual([1, 1, 6, 6]);
    const rows = Array.from({ length: 6 }, (_, i) => nums(beyond.data.subarray(i * 6, i * 6 + 6)));
    expect(rows[0]).toEqual([1, 1, 3, 2, 2, 0]);
    expect(rows[2]).toEqual([4, 4, 10, 6, 6, 0]);
    expect(rows[5]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('makes convTranspose2d the adjoint of conv2d with the same weight (stride 2, pad 1, 2 channels)', () => {
    const g = new Graph();
    const x = g.input('x', [1, 2, 5, 5]);
    const y = g.input('y', [1, 3, 3, 3]);
    const w = g.input('w', [3, 2, 3, 3]);
    const cx = o.conv2d(x, w, { stride: 2, pad: 1 });
    const ty = o.convTranspose2d(y, w, { stride: 2, pad: 1, outputPad: 0 });
    expect(ty.shape).toEqual([1, 2, 5, 5]);
    const rand = (n: number, seed: number) =>
      f64(Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 12.9898)));
    const feeds = { x: rand(50, 1), y: rand(27, 2), w: rand(54, 3) };
    const [cv, tv] = evaluate([cx, ty], feeds);
    const dot = (p: ArrayLike<number>, q: ArrayLike<number>) => Array.from(p).reduce((s, v, i) => s + v * q[i]!, 0);
    expect(dot(cv!.data as Float64Array, feeds.y)).toBeCloseTo(dot(feeds.x, tv!.data as Float64Array), 12);
  });

  it('computes conv2d with stride and padding', () => {
    const g = new Graph();
    const x = g.constant([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const r = one(o.conv2d(x, g.fill(1, [1, 1, 2, 2]), { stride: 2, pad: 1 }));
    expect(r.shape).toEqual([1, 1, 2, 2]);
    expect(nums(r.data)).toEqual([1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9]);
  });

  it('sorts topKIndices best first with ties to the lower index, on an inner axis too', () => {
    const g = new Graph();
    const x = g.input('x', [5, 2]);
    const feeds = { x: f64([3, 0, 1, 0, 3, 0, 2, 1, 1, 0]) };
    const top = one(o.topKIndices(x, 5, 0, true), feeds);
    expect(top.dtype).toBe('int64');
    expect(top.shape).toEqual([5, 2]);
    const col = (v: typeof top, c: number) => nums(v.data).filter((_, i) => i % 2 === c);
    expect(col(top, 0)).toEqual([0, 2, 3, 1, 4]);
    expect(col(top, 1)).toEqual([3, 0, 1, 2, 4]);
    const low = one(o.topKIndices(x, 2, 0, false), feeds);
    expect(col(low, 0)).toEqual([1, 4]);
    expect(col(low, 1)).toEqual([0, 1]);
  });

  it('returns the first maximal index from argMax', () => {
    const g = new Graph();
    const r = one(o.argMax(g.constant([1, 5, 5, 2, 7, 7, 7, 0], [2, 4]), 1, true));
    expect(r.shape).toEqual([2, 1]);
    expect(nums(r.data)).toEqual([1, 0]);
    expect(nums(one(o.argMax(g.constant([4, 4, 1, 9], [2, 2]), 0)).data)).toEqual([0, 1]);
  });

  it('reduces over several axes with and without keepDims', () => {
    const g = new Graph();
    const x = g.constant(
      Array.from({ length: 24 }, (_, i) => i),
      [2, 3, 4],
    );
    const s = one(o.sum(x, [0, 2], true));
    expect(s.shape).toEqual([1, 3, 1]);
    expect(nums(s.data)).toEqual(
      [0, 1, 2].map((j) => [0, 1].reduce((a, i) => a + [0, 1, 2, 3].reduce((b, k) => b + 12 * i + 4 * j + k, 0), 0)),
    );
    const m = one(o.mean(x, [-1]));
    expect(m.shape).toEqual([2, 3]);
    expect(nums(m.data)).toEqual([1.5, 5.5, 9.5, 13.5, 17.5, 21.5]);
    expect(nums(one(o.reduceMax(x, [1])).data)).toEqual([8, 9, 10, 11, 20, 21, 22, 23]);
  });

  it('normalises softmax along the given axis and survives large logits', () => {
    const g = new Graph();
    const r = one(o.softmax(g.constant([1000, 0, 0, 0], [2, 2]), 0));
    expect(nums(r.data)).toEqual([1, 0.5, 0, 0.5]);
  });

  it('multiplies batched matrices with broadcast batch dimensions', () => {
    const g = new Graph();
    const a = g.input('a', [2, 1, 2, 3]);
    const b = g.input('b', [3, 3, 2]);
    const av = f64(Array.from({ length: 12 }, (_, i) => i - 5));
    const bv = f64(Array.from({ length: 18 }, (_, i) => (i * 7) % 5));
    const r = one(o.matmul(a, b), { a: av, b: bv });
    expect(r.shape).toEqual([2, 3, 2, 2]);
    const want: number[] = [];
    for (let p = 0; p < 2; p++)
      for (let q = 0; q < 3; q++)
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 2; j++) {
            let s = 0;
            for (let k = 0; k < 3; k++) s += av[p * 6 + i * 3 + k]! * bv[q * 6 + k * 2 + j]!;
            want.push(s);
          }
    expect(nums(r.data)).toEqual(want);
  });

  it('gathers and scatter-adds elements ONNX-style, negative and repeated indices included', () => {
    const g = new Graph();
    const x = g.constant([1, 2, 3, 4, 5, 6], [2, 3]);
    const idx = g.constantInt([2, -3, 2, 1], [2, 2]);
    expect(nums(one(o.gatherElements(x, idx, 1)).data)).toEqual([3, 1, 6, 5]);
    const rows = g.constantInt([1, 0, 1], [1, 3]);
    expect(nums(one(o.gatherElements(x, rows, 0)).data)).toEqual([4, 2, 6]);
    const s = one(o.scatterAddElements(g.fill(0, [2, 3]), idx, g.constant([10, 20, 30, 40], [2, 2]), 1));
    expect(nums(s.data)).toEqual([20, 0, 10, 0, 40, 30]);
    const bad = o.gatherElements(x, g.constantInt([3], [1, 1]), 1);
    expect(() => one(bad)).toThrow(/index 3 out of range for axis of size 3/);
    const wide = o.gatherElements(x, g.constantInt([0, 0, 0, 0], [1, 4]), 0);
    expect(() => one(wide)).toThrow(/indices \[1,4\] exceed data \[2,3\] off axis 0/);
  });

  it('moves data with transpose, concat, slice, expand and reshape', () => {
    const g = new Graph();
    const x = g.constant([0, 1, 2, 3, 4, 5], [1, 2, 3]);
    expect(nums(one(o.transpose(x, [2, 0, 1])).data)).toEqual([0, 3, 1, 4, 2, 5]);
    const c = one(o.concat([x, o.slice(x, 2, 1, 3)], 2));
    expect(c.shape).toEqual([1, 2, 5]);
    expect(nums(c.data)).toEqual([0, 1, 2, 1, 2, 3, 4, 5, 4, 5]);
    expect(nums(one(o.expand(o.reshape(x, [2, 1, 3]), [2, 2, 3])).data)).toEqual([0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
  });

  it('casts like ONNX: float→int64 truncates toward zero, non-zero → true', () => {
    const g = new Graph();
    const x = g.constant([-1.7, 2.9, 0, 0.25], [4]);
    expect(one(o.cast(x, 'int64')).data).toEqual(i64([-1, 2, 0, 0]));
    expect(nums(one(o.cast(x, 'bool')).data)).toEqual([1, 1, 0, 1]);
    expect(nums(one(o.cast(o.cast(x, 'bool'), 'float32')).data)).toEqual([1, 1, 0, 1]);
  });

  it('computes erf and the unary ops to double precision', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 15);
    expect(erf(3.5)).toBeCloseTo(0.9999992569016276, 14);
    expect(erf(0)).toBe(0);
    const g = new Graph();
    const x = g.input('x', [3]);
    const feeds = { x: f64([-800, 0, 3]) };
    expect(nums(one(o.sigmoid(x), feeds).data)).toEqual([0, 0.5, 1 / (1 + Math.exp(-3))]);
    expect(nums(one(o.floor(x), { x: f64([-0.5, 0, 2.5]) }).data)).toEqual([-1, 0, 2]);
  });

  it('reads float32, float16 and bfloat16 weights from their file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'interp-'));
    const file = join(dir, 'w.bin');
    const buf = Buffer.alloc(8 + 8 + 4 + 4);
    buf.writeFloatLE(1.5, 8);
    buf.writeFloatLE(-2.25, 12);
    buf.writeUInt16LE(0x3c00, 16); // 1.0 in float16
    buf.writeUInt16LE(0xc500, 18); // -5.0 in float16
    buf.writeUInt16LE(0x3fc0, 20); // 1.5 in bfloat16
    buf.writeUInt16LE(0x0001, 22); // smallest bfloat16 subnormal
    writeFileSync(file, buf);
    const g = new Graph();
    const w32 = g.weight({ file, byteOffset: 8, storedAs: 'float32', name: 'a' }, [2]);
    const w16 = g.weight({ file, byteOffset: 16, storedAs: 'float16', name: 'b' }, [2]);
    const wbf = g.weight({ file, byteOffset: 20, storedAs: 'bfloat16', name: 'c' }, [2]);
    const [a, b, c] = evaluate([w32, w16, wbf], {});
    expect(nums(a!.data)).toEqual([1.5, -2.25]);
    expect(nums(b!.data)).toEqual([1, -5]);
    expect(nums(c!.data)).toEqual([1.5, 2 ** -133]);
    const past = g.weight({ file, byteOffset: 20, storedAs: 'float32', name: 'late' }, [2]);
    expect(() => evaluate([past], {})).toThrow(/weight 'late'.*ends after 4 of 8 bytes/);
  });

  it('names the input when a feed is missing or of the wrong kind', () => {
    const g = new Graph();
    const x = g.input('pixels', [2]);
    expect(() => evaluate([o.neg(x)], {})).toThrow(GraphError);
    expect(() => evaluate([o.neg(x)], {})).toThrow(/input 'pixels' was not fed/);
    expect(() => evaluate([o.neg(x)], { pixels: i64([1, 2]) })).toThrow(
      /'pixels' \(float32\) must be fed a Float64Array/,
    );
    expect(() => evaluate([o.neg(x)], { pixels: f64([1]) })).toThrow(/'pixels' has 1 values/);
    expect(one(o.neg(x), { pixels: Float32Array.from([1, 2]) }).data).toEqual(f64([-1, -2]));
  });
});
