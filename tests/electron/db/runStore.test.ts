import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProjectDatabase, openProjectDatabase, type ProjectDatabase } from '../../../electron/db/database.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { tempDir } from '../../support/projectHelpers.js';

let dir: string;
let db: ProjectDatabase;

beforeEach(() => {
  dir = tempDir();
  db = createProjectDatabase(path.join(dir, 'runs.skp'));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RunStore (what training jobs use)', () => {
  it('keeps a run with its settings, status, progress and error', () => {
    const runs = new RunStore(db);
    const model = runs.addModel({ name: 'SDXL', path: '/m/sdxl.safetensors', fingerprint: 'abc' });
    const run = runs.createRun({ settings: { tokens: 500, lr: 0.005 }, modelId: model.id, name: 'first' });
    expect(run).toMatchObject({ status: 'queued', settings: { tokens: 500, lr: 0.005 }, modelId: model.id });
    runs.setStatus(run.id, 'running');
    runs.setProgress(run.id, { step: 12, of: 200 });
    runs.setStatus(run.id, 'failed', 'out of GPU memory at step 12');
    expect(runs.run(run.id)).toMatchObject({
      status: 'failed',
      progress: { step: 12, of: 200 },
      error: 'out of GPU memory at step 12',
    });
    runs.setStatus(run.id, 'queued', 'ignored');
    expect(runs.run(run.id)!.error).toBeNull();
    expect(() => db.sql.prepare("UPDATE runs SET status = 'exploded'").run()).toThrow(/CHECK/);
  });

  it('stores token checkpoints as float32 blobs that survive reopening, and prunes old ones', () => {
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: {} });
    const tokens = Float32Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i) * 1e-3 + i);
    const state = Buffer.from([1, 2, 3, 4, 5]);
    for (const step of [10, 20, 30])
      runs.saveCheckpoint(
        run.id,
        step,
        tokens.map((t) => t + step),
        state,
      );
    db.close();
    db = openProjectDatabase(path.join(dir, 'runs.skp'));
    const reopened = new RunStore(db);
    const latest = reopened.checkpoint(run.id)!;
    expect(latest.step).toBe(30);
    expect(Array.from(latest.tokens)).toEqual(Array.from(tokens.map((t) => t + 30)));
    expect(latest.optimizerState).toEqual(state);
    expect(reopened.checkpoint(run.id, 10)!.tokens[0]).toBe(Math.fround(tokens[0]! + 10));
    expect(reopened.pruneCheckpoints(run.id, 1)).toBe(2);
    expect(reopened.checkpoints(run.id)).toMatchObject([{ step: 30, tokenBytes: 96, optimizerStateBytes: 5 }]);
  });

  it('appends losses and reads them after a step', () => {
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: {} });
    runs.appendLosses(run.id, [
      { step: 0, loss: 3, sharpening: 0.01, equivariance: 0.002 },
      { step: 1, loss: 2.5, sharpening: 0.009, equivariance: 0.0016 },
    ]);
    expect(runs.losses(run.id, 0)).toEqual([{ step: 1, loss: 2.5, sharpening: 0.009, equivariance: 0.0016 }]);
  });

  it('chooses indices once and only accepts predictions for its own indices', () => {
    const runs = new RunStore(db);
    const a = runs.createRun({ settings: {} });
    const b = runs.createRun({ settings: {} });
    runs.chooseIndices(a.id, [5, 9]);
    const [other] = runs.chooseIndices(b.id, [1]);
    expect(() => runs.chooseIndices(a.id, [1])).toThrow(/already chosen/);
    expect(() =>
      runs.writePredictions(a.id, [{ imageId: 1, indexId: other!.id, x: 0, y: 0, visibility: 2, score: 1 }]),
    ).toThrow(/does not belong to run/);
  });
});
