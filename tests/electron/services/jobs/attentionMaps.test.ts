// The attention maps kept for the heat-map overlay: shrinking by a box filter (mass stays where it
// was, also at ratios that are not whole numbers), bytes relative to each map's peak, the rows in a
// real project file, and migration 2 bringing them to a project of schema 1 with its hand
// corrections untouched.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AttentionMapStore } from '../../../../electron/db/attentionMapStore.js';
import { createProjectDatabase, openProjectDatabase } from '../../../../electron/db/database.js';
import { migrations } from '../../../../electron/db/migrations.js';
import { boxShrink, storedMaps } from '../../../../electron/services/jobs/shrinkMaps.js';
import { removeTempDirs, tempDir } from '../../../support/jobFixtures.js';

afterAll(removeTempDirs);

const sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0);

describe('shrinking maps', () => {
  it('averages 2×2 blocks when halving', () => {
    const map = Float32Array.from({ length: 4 * 4 }, (_, i) => i);
    expect(Array.from(boxShrink(map, 1, 4, 2))).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('splits a cell between the output cells it overlaps at 96 → 64, keeping the mean', () => {
    const map = new Float32Array(96 * 96);
    map[3 * 96 + 4] = 1;
    const small = boxShrink(map, 1, 96, 64);
    // Output cell o covers input [1.5 o, 1.5 o + 1.5): row 3 lies in cell 2; column 4 half in 2, half in 3.
    const lit = Array.from(small.entries()).filter(([, v]) => v > 0);
    expect(lit.map(([i]) => i)).toEqual([2 * 64 + 2, 2 * 64 + 3]);
    for (const [, v] of lit) expect(v).toBeCloseTo(2 / 9, 6);
    expect(sum(small) * 1.5 * 1.5).toBeCloseTo(sum(map), 5);
  });

  it('shrinks each of K maps on its own', () => {
    const maps = new Float32Array(2 * 8 * 8);
    maps.fill(1, 0, 64);
    maps.fill(3, 64);
    const small = boxShrink(maps, 2, 8, 4);
    expect(Array.from(small.subarray(0, 16)).every((v) => v === 1)).toBe(true);
    expect(Array.from(small.subarray(16)).every((v) => v === 3)).toBe(true);
  });

  it('refuses maps that are not K squares of the size given', () => {
    expect(() => boxShrink(new Float32Array(10), 1, 4, 2)).toThrow(/10 values are not 1 maps of 4×4/);
    expect(() => boxShrink(new Float32Array(16), 1, 4, 8)).toThrow(/cannot shrink 4×4 maps to 8×8/);
  });
});

describe('stored maps', () => {
  it('keep at most 64×64, in bytes of each map’s own peak, whose value is kept', () => {
    const size = 128;
    const maps = new Float32Array(3 * size * size);
    maps[(0 * size + 10) * size + 20] = 0.4; // a 2×2 block of which one cell is lit
    maps[(1 * size + 5) * size + 6] = 0.8;
    maps[(1 * size + 5) * size + 7] = 0.4;
    const stored = storedMaps(maps, 3, size);
    expect(stored.side).toBe(64);
    expect(stored.values).toHaveLength(3 * 64 * 64);
    expect(stored.peaks[0]).toBeCloseTo(0.1, 7);
    expect(stored.peaks[1]).toBeCloseTo(0.3, 7);
    expect(stored.peaks[2]).toBe(0);
    expect(stored.values[5 * 64 + 10]).toBe(255);
    expect(sum(stored.values.subarray(0, 4096))).toBe(255);
    expect(stored.values[4096 + 2 * 64 + 3]).toBe(255);
    expect(sum(stored.values.subarray(8192))).toBe(0);
  });

  it('keep small maps at their own size and round to the nearest byte', () => {
    const maps = Float32Array.from([1, 0.5, 0.25, -0.1]);
    const stored = storedMaps(maps, 1, 2);
    expect(stored.side).toBe(2);
    expect(Array.from(stored.values)).toEqual([255, 128, 64, 0]);
  });
});

describe('attention maps in a project', () => {
  it('arrive with migration 2 on a project of schema 1, whose hand corrections stay as they were', () => {
    const file = path.join(tempDir(), 'old.skp');
    const old = createProjectDatabase(file, migrations.slice(0, 1));
    old.sql.exec(`
      INSERT INTO images (id, path, width, height, format, bytes, sha256, added_at)
        VALUES (1, 'a.png', 60, 40, 'png', 10, '${'a'.repeat(64)}', '2024-01-01');
      INSERT INTO runs (id, status, created_at, updated_at, settings) VALUES (1, 'done', 'x', 'x', '{}');
      INSERT INTO indices (id, run_id, position, token, colour, display_order) VALUES (1, 1, 0, 5, '#e6194b', 0);
      INSERT INTO keypoints (image_id, index_id, source, x, y, visibility, updated_at)
        VALUES (1, 1, 'corrected', 12.5, 7.25, 1, '2024-01-02');
    `);
    const corrected = () => old.sql.prepare("SELECT * FROM keypoints WHERE source = 'corrected'").all();
    const before = corrected();
    old.close();

    const db = openProjectDatabase(file, migrations.slice(0, 2));
    try {
      expect(db.schemaVersion).toBe(2);
      expect(db.sql.prepare("SELECT * FROM keypoints WHERE source = 'corrected'").all()).toEqual(before);
      const store = new AttentionMapStore(db);
      expect(store.read(1, 1)).toBeNull();
      const maps = { side: 2, peaks: Float32Array.from([0.25]), values: Uint8Array.from([255, 0, 12, 3]) };
      db.write(() => store.write(1, 1, maps));
      expect(store.read(1, 1)).toEqual(maps);
      expect([...store.imagesWithMaps(1)]).toEqual([1]);
      expect(() => store.write(1, 1, { ...maps, values: new Uint8Array(3) })).toThrow(/3 bytes for 1 maps of 2×2/);
    } finally {
      db.close();
    }
  });
});
