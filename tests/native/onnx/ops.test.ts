// Every IR op, emitted to ONNX and run in a real ONNX Runtime CPU session, against the float64
// reference interpreter on random inputs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, type OpName } from '../../../native/graph/ir.js';
import { opNames } from '../../../native/graph/opset.js';
import { OrtBackend } from '../../../native/runtime/ort.js';
import { onnxOpCases } from './onnxCases.js';
import { compareWithReference } from '../../support/ortCompare.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'skp-onnx-ops-'));
const backend = new OrtBackend({ cacheDir, intraOpNumThreads: 1 });
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

// Weights are covered with real safetensors files in tests/native/runtime/weights.test.ts.
const coveredElsewhere = new Set<OpName>(['weight']);

describe('every IR op on ONNX Runtime (CPU) matches the float64 interpreter', () => {
  for (const c of onnxOpCases) {
    it(c.name, async () => {
      const g = new Graph();
      const { outputs, feeds } = c.build(g);
      const { errors } = await compareWithReference(backend, outputs, feeds, c.name);
      errors.forEach((e, i) => expect(e, `${c.name}: output ${i} (${outputs[i]!.spec.op})`).toBeLessThanOrEqual(1e-5));
    });
  }

  it('the cases above exercise every op of the op table', () => {
    const seen = new Set(
      onnxOpCases.flatMap((c) => {
        const g = new Graph();
        c.build(g);
        return g.nodes.map((t) => t.spec.op);
      }),
    );
    const missing = opNames.filter((op) => !seen.has(op) && !coveredElsewhere.has(op));
    expect(missing).toEqual([]);
  });
});
