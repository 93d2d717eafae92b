// SQL for the attention maps kept for the heat-map overlay: one row per run and image holding
// the run's K maps, shrunk and stored as bytes relative to each map's peak (see migration 2).

import type { ProjectDatabase } from './database.js';

/** A run's K attention maps of one image, as stored. */
export interface StoredAttentionMaps {
  /** Side of each (square) map. */
  side: number;
  /** Each map's largest value, K entries in the run's index positions. */
  peaks: Float32Array;
  /** [K, side, side] row-major: value / peak × 255, rounded (0 everywhere when the peak is 0). */
  values: Uint8Array;
}

interface MapRow {
  side: number;
  peaks: Buffer;
  maps: Buffer;
}

export class AttentionMapStore {
  constructor(private readonly db: ProjectDatabase) {}

  /** Stores the maps of one image; call inside the transaction that writes its predictions. */
  write(runId: number, imageId: number, maps: StoredAttentionMaps): void {
    if (maps.values.length !== maps.peaks.length * maps.side * maps.side) {
      throw new RangeError(
        `attention maps of image ${imageId}: ${maps.values.length} bytes for ${maps.peaks.length} maps of ${maps.side}×${maps.side}`,
      );
    }
    this.db.requireWritable();
    this.db.sql
      .prepare(
        `INSERT OR REPLACE INTO attention_maps (run_id, image_id, side, peaks, maps, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        imageId,
        maps.side,
        Buffer.from(maps.peaks.buffer, maps.peaks.byteOffset, maps.peaks.byteLength),
        Buffer.from(maps.values.buffer, maps.values.byteOffset, maps.values.byteLength),
        new Date().toISOString(),
      );
  }

  /** Ids of the images that have the run's maps. */
  imagesWithMaps(runId: number): Set<number> {
    const rows = this.db.sql.prepare('SELECT image_id FROM attention_maps WHERE run_id = ?').raw().all(runId) as Array<
      [number]
    >;
    return new Set(rows.map(([id]) => id));
  }

  read(runId: number, imageId: number): StoredAttentionMaps | null {
    const row = this.db.sql
      .prepare('SELECT side, peaks, maps FROM attention_maps WHERE run_id = ? AND image_id = ?')
      .get(runId, imageId) as MapRow | undefined;
    if (!row) return null;
    // Copy into an aligned buffer: SQLite blobs carry no alignment guarantee for Float32Array.
    const peaks = new Float32Array(row.peaks.byteLength / 4);
    new Uint8Array(peaks.buffer).set(row.peaks);
    return { side: row.side, peaks, values: new Uint8Array(row.maps) };
  }
}
