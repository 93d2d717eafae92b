// Migration 3 moves the user's semantics from a run's indices to the project's parts. A project
// made with schema 2 — two runs, names, colours, hidden, order, skeleton, predictions, hand
// corrections on both runs' indices, ground truth, attention maps — is migrated, and every value
// it held is compared with what the new schema holds, byte for byte.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProjectDatabase, openProjectDatabase, type ProjectDatabase } from '../../../electron/db/database.js';
import { GroundTruthStore } from '../../../electron/db/groundTruthStore.js';
import { ImageStore } from '../../../electron/db/imageStore.js';
import { migrations } from '../../../electron/db/migrations.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { writeSettings } from '../../../electron/db/settingsStore.js';
import { AttentionMapStore } from '../../../electron/db/attentionMapStore.js';
import { createServices } from '../../../electron/services/container.js';
import { expectError, tempDir, writeImage } from '../../support/projectHelpers.js';

let dir: string;
let file: string;

type Row = Record<string, unknown>;

/** Every row of `table`, in a fixed order, read without the app's code. */
function rows(projectFile: string, table: string, order: string): Row[] {
  const sql = new Database(projectFile, { readonly: true });
  try {
    return sql.prepare(`SELECT * FROM "${table}" ORDER BY ${order}`).all() as Row[];
  } finally {
    sql.close();
  }
}

/** The tables migration 3 leaves alone, with their order. */
const untouched: Record<string, string> = {
  settings: 'key',
  images: 'id',
  models: 'id',
  runs: 'id',
  token_checkpoints: 'run_id, step',
  losses: 'run_id, step',
  gt_parts: 'position',
  gt_skeleton: 'from_part, to_part',
  gt_instances: 'id',
  gt_keypoints: 'instance_id, part',
  attention_maps: 'run_id, image_id',
};

/** Indices as schema 2 wrote them (KeypointStore.insertIndices of that version). */
function chooseIndices(db: ProjectDatabase, runId: number, tokens: number[], colours: string[]): number[] {
  const insert = db.sql.prepare(
    `INSERT INTO indices (run_id, position, token, name, colour, hidden, display_order)
     VALUES (?, ?, ?, NULL, ?, 0, ?)`,
  );
  return tokens.map((token, k) => Number(insert.run(runId, k, token, colours[k], k).lastInsertRowid));
}

/** A keypoints row as schema 2 wrote them (writePredicted / writeCorrected of that version). */
function writePoint(
  db: ProjectDatabase,
  point: { image: number; index: number; x: number; y: number; v: number; run?: number; score?: number },
  updatedAt: string,
) {
  db.sql
    .prepare(
      `INSERT INTO keypoints (image_id, index_id, source, x, y, visibility, score, run_id, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      point.image,
      point.index,
      point.run === undefined ? 'corrected' : 'predicted',
      point.x,
      point.y,
      point.v,
      point.score ?? null,
      point.run ?? null,
      updatedAt,
    );
}

/** The bug of issue 11 as saved: run 1 named and corrected, run 2 found keypoints and took over. */
async function schema2Project(): Promise<void> {
  const images = [0, 1, 2].map((i) => path.join(dir, 'images', `bird_${i}.png`));
  for (const [i, image] of images.entries()) await writeImage(image, 120, 90, 'png', i + 1);
  const db = createProjectDatabase(file, migrations.slice(0, 2));
  try {
    db.write(() => {
      writeSettings(db, { name: 'birds' });
      const imageIds = new ImageStore(db).insert(
        images.map((image, i) => ({
          file: image,
          width: 120,
          height: 90,
          format: 'png' as const,
          bytes: 1000 + i,
          sha256: String(i).repeat(64),
          orientation: 1,
          split: i === 2 ? ('test' as const) : ('train' as const),
        })),
      );
      const runs = new RunStore(db);
      const model = runs.addModel({ name: 'sdxl', path: '/models/sdxl' });
      writeSettings(db, { modelId: model.id });
      const [run1, run2] = [1, 2].map((n) => {
        const run = runs.createRun({ settings: { steps: 10 * n, tokens: 500 }, modelId: model.id, name: `run ${n}` });
        runs.saveCheckpoint(run.id, 10 * n, new Float32Array([n, 0.5, -n]), new Uint8Array([n, 7]));
        runs.setStatus(run.id, 'done');
        return run.id;
      });
      runs.appendLosses(run1!, [{ step: 1, loss: 0.75, sharpening: 0.5, equivariance: 0.25 }]);
      runs.appendLosses(run2!, [{ step: 1, loss: 0.625, sharpening: 0.375, equivariance: 0.125 }]);

      const first = chooseIndices(db, run1!, [7, 3, 42], ['#f3c300', '#875692', '#f38400']);
      const rename = db.sql.prepare(
        'UPDATE indices SET name = ?, colour = ?, hidden = ?, display_order = ? WHERE id = ?',
      );
      rename.run('beak', '#ff0000', 0, 1, first[0]);
      rename.run('tail', '#00ff00', 1, 0, first[1]);
      rename.run(null, '#f38400', 0, 2, first[2]);
      const second = chooseIndices(db, run2!, [11, 7, 5], ['#f3c300', '#875692', '#f38400']);
      // Named again after the reset, the same name as run 1's.
      rename.run('beak', '#f3c300', 0, 0, second[0]);
      const edge = db.sql.prepare('INSERT INTO skeleton_edges (from_index, to_index) VALUES (?, ?)');
      edge.run(first[0], first[1]);
      edge.run(first[2], first[0]);
      edge.run(second[1], second[2]);
      writeSettings(db, { activeRunId: run2! });

      for (const [run, indices] of [
        [run1!, first],
        [run2!, second],
      ] as const) {
        for (const [i, image] of imageIds.entries()) {
          for (const [k, index] of indices.entries()) {
            const point = { image, index, x: 10.125 + 20 * k + i, y: 30.5 + k, v: 2, run, score: 0.9 - 0.1 * k };
            writePoint(db, point, `2026-01-0${run}T00:00:0${i}.000Z`);
          }
        }
      }
      writePoint(db, { image: imageIds[0]!, index: first[0]!, x: 61.25, y: 12.5, v: 2 }, '2026-01-03T10:00:00.123Z');
      writePoint(db, { image: imageIds[1]!, index: first[1]!, x: 1 / 3, y: 0.1, v: 1 }, '2026-01-03T10:00:01.000Z');
      writePoint(db, { image: imageIds[2]!, index: first[2]!, x: 5, y: 6, v: 0 }, '2026-01-03T10:00:02.000Z');
      writePoint(db, { image: imageIds[0]!, index: second[2]!, x: 99.5, y: 88.25, v: 2 }, '2026-01-04T10:00:00.000Z');

      const gt = new GroundTruthStore(db);
      gt.setSchema({
        parts: [
          { position: 0, name: 'beak' },
          { position: 1, name: 'tail' },
        ],
        skeleton: [[0, 1]],
      });
      gt.insert([
        {
          imageId: imageIds[0]!,
          category: 'bird',
          bbox: { x: 1, y: 2, width: 50, height: 40 },
          area: 2000,
          iscrowd: false,
          origin: 'coco:gt.json#1',
          points: [
            { part: 0, x: 60, y: 12, visibility: 2 },
            { part: 1, x: 30, y: 31, visibility: 1 },
          ],
        },
      ]);
      const maps = new AttentionMapStore(db);
      for (const run of [run1!, run2!]) {
        maps.write(run, imageIds[0]!, {
          side: 2,
          peaks: new Float32Array([0.5, 0.25, 0.125]),
          values: new Uint8Array(12).map((_, i) => i * 20 + run),
        });
      }
    });
  } finally {
    db.close();
  }
}

beforeEach(async () => {
  dir = tempDir();
  file = path.join(dir, 'birds.skp');
  await schema2Project();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('migration 3: indices to parts', () => {
  it('keeps every value a schema-2 project held', () => {
    const before = Object.fromEntries(Object.entries(untouched).map(([t, order]) => [t, rows(file, t, order)]));
    const indices = rows(file, 'indices', 'id');
    const edges = rows(file, 'skeleton_edges', 'from_index, to_index');
    const corrected = rows(file, 'keypoints', 'image_id, index_id').filter((r) => r.source === 'corrected');
    const predicted = rows(file, 'keypoints', 'image_id, index_id').filter((r) => r.source === 'predicted');
    expect([indices.length, edges.length, corrected.length, predicted.length]).toEqual([6, 3, 4, 18]);

    openProjectDatabase(file).close();

    for (const [table, order] of Object.entries(untouched))
      expect(rows(file, table, order), table).toEqual(before[table]);
    const parts = rows(file, 'parts', 'id');
    // Each index is a part of the same id, with its name, colour and hidden flag.
    expect(parts.map(({ display_order: _, ...part }) => part)).toEqual(
      indices.map((i) => ({ id: i.id, name: i.name, colour: i.colour, hidden: i.hidden })),
    );
    // One order for all: the current run (2) first, each run's own order kept.
    const order = new Map(parts.map((p) => [p.id, p.display_order as number]));
    const byOldOrder = (run: number) =>
      indices
        .filter((i) => i.run_id === run)
        .sort((a, b) => (a.display_order as number) - (b.display_order as number))
        .map((i) => order.get(i.id));
    expect(byOldOrder(2)).toEqual([0, 1, 2]);
    expect(byOldOrder(1)).toEqual([3, 4, 5]);
    expect(rows(file, 'indices', 'id')).toEqual(
      indices.map((i) => ({ id: i.id, run_id: i.run_id, position: i.position, token: i.token, part_id: i.id })),
    );
    expect(rows(file, 'part_edges', 'from_part, to_part')).toEqual(
      edges.map((e) => ({ from_part: e.from_index, to_part: e.to_index })),
    );
    expect(rows(file, 'corrections', 'image_id, part_id')).toEqual(
      corrected.map((c) => ({
        image_id: c.image_id,
        part_id: c.index_id,
        x: c.x,
        y: c.y,
        visibility: c.visibility,
        updated_at: c.updated_at,
      })),
    );
    expect(rows(file, 'predictions', 'image_id, index_id')).toEqual(
      predicted.map((p) => ({
        image_id: p.image_id,
        index_id: p.index_id,
        x: p.x,
        y: p.y,
        visibility: p.visibility,
        score: p.score,
        updated_at: p.updated_at,
      })),
    );
    // The run a prediction came from is its index's run, as schema 2 stored alongside.
    const runOf = new Map(indices.map((i) => [i.id, i.run_id]));
    for (const p of predicted) expect(runOf.get(p.index_id)).toBe(p.run_id);
    const sql = new Database(file, { readonly: true });
    expect(sql.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(sql.pragma('foreign_key_check')).toEqual([]);
    sql.close();
  });

  it('shows names and every correction of both runs, and exports only once the names are told apart', async () => {
    const services = createServices();
    try {
      const info = await services.project.open(file);
      expect(info.currentRunId).toBe(2);
      expect(info.counts).toMatchObject({ parts: 6, correctedKeypoints: 4, imagesWithCorrections: 3 });
      expect(info.parts.map((p) => p.displayName)).toEqual([
        'beak',
        'keypoint_5',
        'keypoint_6',
        'tail',
        'beak',
        'keypoint_3',
      ]);
      const [image0] = (await services.images.list({ sort: 'path' })).items;
      const { points } = await services.keypoints.getKeypoints(image0!.id);
      const beak1 = points.find((p) => p.partId === 1)!;
      expect(beak1.effective).toMatchObject({ source: 'corrected', x: 61.25, y: 12.5, visibility: 2 });
      expect(beak1.predicted).toBeNull();
      expect(points.find((p) => p.partId === 6)!.effective).toMatchObject({ source: 'corrected', x: 99.5 });
      expect(points.find((p) => p.partId === 4)!.effective).toMatchObject({ source: 'predicted', x: 10.125, y: 30.5 });

      const out = path.join(dir, 'out.json');
      await expectError(() => services.exports.exportCoco({ file: out }), 'both named "beak"');
      await services.keypoints.updatePart(4, { name: 'beak (run 2)' });
      // Tail is hidden from the export, but the skeleton joins it to beak: never dropped silently.
      await expectError(() => services.exports.exportCoco({ file: out }), 'beak–tail', 'show tail');
      await services.keypoints.updatePart(2, { hidden: false });
      const done = await services.exports.exportCoco({ file: out });
      expect(done.keypointNames).toEqual(['beak (run 2)', 'keypoint_5', 'keypoint_6', 'tail', 'beak', 'keypoint_3']);
    } finally {
      services.dispose();
    }
  });
});
