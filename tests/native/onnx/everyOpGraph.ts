// A graph that uses every IR op at least once, shared by the emitter's checks (emit.test.ts)
// and the emitted-bytes digests (digests.test.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, type Tensor } from '../../../native/graph/ir.js';
import * as o from '../../../native/graph/ops.js';

/** A raw float32 weight file: `values` at byte `offset`. */
export function weightFile(dir: string, name: string, values: number[], offset = 0): string {
  const file = join(dir, name);
  const bytes = new Uint8Array(offset + values.length * 4);
  new Float32Array(bytes.buffer, offset).set(values);
  writeFileSync(file, bytes);
  return file;
}

/** A graph that uses every IR op at least once, including float16 and bfloat16 weights. */
export function everyOpGraph(dir: string): Tensor[] {
  const g = new Graph();
  const file = weightFile(
    dir,
    'all.bin',
    Array.from({ length: 16 }, (_, i) => i / 16),
  );
  return g.scope('block', () => {
    const x = g.input('x', [1, 2, 4, 4]);
    const w32 = g.weight({ file, byteOffset: 0, storedAs: 'float32', name: 'w32' }, [2, 2, 1, 1]);
    const w16 = g.weight({ file, byteOffset: 16, storedAs: 'float16', name: 'w16' }, [2, 2, 1, 1]);
    const wbf = g.weight({ file, byteOffset: 32, storedAs: 'bfloat16', name: 'wbf' }, [2, 2, 1, 1]);
    let h = o.conv2d(x, o.add(w32, o.mul(w16, wbf)));
    h = o.convTranspose2d(h, g.fill(0.1, [2, 2, 2, 2]), { stride: 2 });
    h = o.add(h, g.constant([1, 2], [1, 2, 1, 1]));
    const u = [o.neg, o.exp, o.erf, o.sigmoid, o.tanh, o.floor, o.abs].reduce((acc, f) => o.add(acc, f(h)), h);
    const p = o.sqrt(o.log(o.add(o.abs(u), 2)));
    const b = o.div(o.pow(o.add(o.abs(p), 1), o.sub(p, 1)), o.maximum(o.minimum(p, 3), 1));
    const flat = o.reshape(b, [2, -1]);
    const m = o.matmul(o.transpose(flat, [1, 0]), o.softmax(flat, 1));
    const red = o.add(o.sum(m, [1], true), o.add(o.mean(m, [1], true), o.reduceMax(m, [1], true)));
    const mask = o.greater(red, o.stopGradient(o.expand(g.scalar(0), [1, 1])));
    const sel = o.where(o.less(red, 100), red, o.cast(mask, 'float32'));
    const idx = o.topKIndices(o.transpose(sel, [1, 0]), 3, 1, true);
    const am = o.argMax(m, 1, true);
    const eq = o.cast(o.equal(am, o.slice(o.concat([am, am], 1), 1, 0, 1)), 'float32');
    const gat = o.gatherElements(o.transpose(m, [1, 0]), idx, 1);
    const sc = o.scatterAddElements(g.fill(0, [1, 64]), idx, gat, 1);
    return [o.add(o.sum(sc, [1]), o.sum(eq, [0]))];
  });
}
