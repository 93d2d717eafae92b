// Hand corrections are sacred (UX.md): no later prediction run, import or migration may
// change or remove them. Each test corrects some points, does one of those things, and
// compares the corrected rows byte for byte.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openProjectDatabase } from '../../../electron/db/database.js';
import { migrations, type Migration } from '../../../electron/db/migrations.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { createServices } from '../../../electron/services/container.js';
import { snapshot, tempDir } from '../../support/projectHelpers.js';
import { trainedProject, type TrainedProject } from '../../support/trainedProject.js';

let dir: string;
let p: TrainedProject;

const correctedRows = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM corrections ORDER BY image_id, part_id').all();
  } finally {
    db.close();
  }
};

beforeEach(async () => {
  dir = tempDir();
  p = await trainedProject(dir);
  const [a, b, c] = p.parts;
  await p.services.keypoints.setCorrected(p.imageIds[0]!, [
    { partId: a!.id, x: 61.25, y: 12.5, visibility: 2 },
    { partId: b!.id, x: 70, y: 13, visibility: 1 },
  ]);
  await p.services.keypoints.setCorrected(p.imageIds[1]!, [{ partId: c!.id, x: 0, y: 0, visibility: 0 }]);
});
afterEach(() => {
  p.services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('hand corrections survive', () => {
  it('a later prediction run writing every point of every image', async () => {
    const before = correctedRows(p.file);
    expect(before).toHaveLength(3);
    const everything = p.imageIds.flatMap((imageId) =>
      p.indices.map((index) => ({ imageId, indexId: index.id, x: 1, y: 1, visibility: 2 as const, score: 0.1 })),
    );
    const viaService = await p.services.keypoints.setPredicted(p.runId, everything);
    expect(viaService.shadowedByCorrections).toBe(3);
    new RunStore(p.services.context.db).writePredictions(p.runId, everything);
    expect(correctedRows(p.file)).toEqual(before);
    const { points } = await p.services.keypoints.getKeypoints(p.imageIds[0]!);
    expect(points[0]!.effective).toMatchObject({ source: 'corrected', x: 61.25 });
    expect(points[0]!.predicted).toMatchObject({ x: 1, score: 0.1 });
  });

  it('a COCO import of ground truth for the same images', async () => {
    const before = correctedRows(p.file);
    const coco = {
      images: [{ id: 1, file_name: 'images/img0.png', width: 100, height: 80 }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [5, 5, 2, 6, 6, 1, 0, 0, 0] }],
      categories: [{ id: 1, name: 'bird', keypoints: ['a', 'b', 'c'] }],
    };
    fs.writeFileSync(path.join(dir, 'gt.json'), JSON.stringify(coco));
    const result = await p.services.imports.importCoco({ file: path.join(dir, 'gt.json') });
    expect(result.imagesMatched).toBe(1);
    expect(correctedRows(p.file)).toEqual(before);
  });

  it('a CUB import that covers the same images', async () => {
    const before = correctedRows(p.file);
    const cub = path.join(dir, 'cub');
    fs.mkdirSync(path.join(cub, 'parts'), { recursive: true });
    fs.cpSync(path.join(dir, 'images'), path.join(cub, 'images'), { recursive: true });
    fs.writeFileSync(path.join(cub, 'images.txt'), '1 img0.png\n');
    fs.writeFileSync(path.join(cub, 'parts', 'part_locs.txt'), '1 1 10 10 1\n');
    fs.writeFileSync(path.join(cub, 'train_test_split.txt'), '1 1\n');
    fs.writeFileSync(path.join(cub, 'bounding_boxes.txt'), '1 0 0 50 50\n');
    await p.services.imports.importCub({ folder: cub });
    expect(correctedRows(p.file)).toEqual(before);
  });

  it('reopening the project and every migration after the one that created corrections', async () => {
    const before = correctedRows(p.file);
    p.services.dispose();
    const again = createServices();
    await again.project.open(p.file);
    again.dispose();
    expect(correctedRows(p.file)).toEqual(before);

    // Each real migration after 3, applied to a project at the previous version that holds
    // corrections; migration 3 moved them from `keypoints` (tests/electron/db/partsMigration.test.ts).
    for (let version = 3; version < migrations.length; version++) {
      const file = path.join(dir, `at-v${version}.skp`);
      fs.copyFileSync(p.file, file);
      const db = openProjectDatabase(file, migrations.slice(0, version));
      db.close();
      const old = correctedRows(file);
      openProjectDatabase(file).close();
      expect(correctedRows(file), `migration ${version + 1}`).toEqual(old);
    }
  });

  it('a migration that rebuilds the images and keypoints tables (the risky kind)', async () => {
    const before = correctedRows(p.file);
    p.services.dispose();
    // The usual SQLite way to change a column: new table, copy, drop, rename. With foreign
    // keys on, dropping `images` would act as a DELETE on it; the runner must prevent that.
    const rebuild: Migration = {
      version: migrations.length + 1,
      name: 'rebuild images',
      up: (sql) => {
        const { sql: create } = sql
          .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'images'")
          .get() as { sql: string };
        sql.exec(`
          ${create.replace('CREATE TABLE images', 'CREATE TABLE images_new')};
          ALTER TABLE images_new ADD COLUMN note TEXT;
          INSERT INTO images_new SELECT *, NULL FROM images;
          DROP TABLE images;
          ALTER TABLE images_new RENAME TO images;
        `);
      },
    };
    const sql = new Database(p.file);
    migrate(sql, [...migrations, rebuild]);
    expect(sql.pragma('user_version', { simple: true })).toBe(migrations.length + 1);
    sql.close();
    expect(correctedRows(p.file)).toEqual(before);
  });

  it('a migration that would break references is rolled back whole', async () => {
    p.services.dispose();
    const before = snapshot(p.file);
    const careless: Migration = {
      version: migrations.length + 1,
      name: 'careless',
      up: (sql) => sql.exec('DELETE FROM images'),
    };
    const sql = new Database(p.file);
    expect(() => migrate(sql, [...migrations, careless])).toThrow(/broke \d+ references/);
    sql.close();
    expect(snapshot(p.file)).toEqual(before);
  });
});

describe('the database itself guards corrections', () => {
  it('a part or image with corrections cannot be deleted as a side effect', () => {
    const sql = p.services.context.db.sql;
    sql.prepare('DELETE FROM predictions').run();
    sql.prepare('UPDATE indices SET part_id = NULL').run();
    expect(() => sql.prepare('DELETE FROM parts WHERE id = ?').run(p.parts[0]!.id)).toThrow(/FOREIGN KEY/);
    expect(() => sql.prepare('DELETE FROM images WHERE id = ?').run(p.imageIds[0])).toThrow(/FOREIGN KEY/);
    expect(correctedRows(p.file)).toHaveLength(3);
  });
});
