// The ONNX bytes of the operator cases, the every-op graph and the method's real graphs must stay
// byte-identical to the pinned digests: emitter refactors may not change what ONNX Runtime is given.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph } from '../../../native/graph/ir.js';
import { emitModel } from '../../../native/onnx/emit.js';
import { pinnedDigests, sha256 } from '../../support/digests.js';
import { everyOpGraph } from './everyOpGraph.js';
import { methodGraphs } from '../../support/methodGraphs.js';
import { onnxOpCases } from './onnxCases.js';

const dir = mkdtempSync(join(tmpdir(), 'skp-onnx-digests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('emitted ONNX models are unchanged', () => {
  it('operator cases, the every-op graph and the method graphs, in both weight layouts', () => {
    const computed: Record<string, string> = {};
    const add = (name: string, outputs: Parameters<typeof emitModel>[0]) => {
      computed[`${name} / linked`] = sha256(emitModel(outputs).bytes);
      computed[`${name} / inMemory`] = sha256(emitModel(outputs, { weightLayout: 'inMemory' }).bytes);
    };
    for (const c of onnxOpCases) add(c.name, c.build(new Graph()).outputs);
    add('every op', everyOpGraph(dir));
    for (const m of methodGraphs()) add(`method: ${m.name}`, m.outputs);
    const pinned = pinnedDigests(new URL('./onnx-digests.json', import.meta.url).pathname, computed);
    expect(computed).toEqual(pinned);
  }, 120_000);
});
