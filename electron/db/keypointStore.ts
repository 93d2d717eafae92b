// SQL for the indices a run chose (each standing for a part once matched) and what they
// predicted on each image. Hand corrections live apart, keyed by part (partStore.ts): writing
// predictions cannot reach them.

import type { Keypoint, KeypointIndex, PredictedPointInput, Prediction, Visibility } from '../common/keypoints.js';
import { readSettings } from './settingsStore.js';
import type { ProjectDatabase } from './database.js';

interface IndexRow {
  id: number;
  run_id: number;
  position: number;
  token: number;
  part_id: number | null;
}

interface PredictionRow {
  image_id: number;
  index_id: number;
  x: number;
  y: number;
  visibility: Visibility;
  score: number | null;
  updated_at: string;
}

function toIndex(row: IndexRow): KeypointIndex {
  return { id: row.id, runId: row.run_id, position: row.position, token: row.token, partId: row.part_id };
}

function toPrediction(row: PredictionRow): Prediction {
  return {
    imageId: row.image_id,
    indexId: row.index_id,
    x: row.x,
    y: row.y,
    visibility: row.visibility,
    score: row.score,
    updatedAt: row.updated_at,
  };
}

export class KeypointStore {
  constructor(private readonly db: ProjectDatabase) {}

  /**
   * The run whose predictions are shown: the chosen one if its indices stand for parts, else the
   * latest such run. A run whose indices are not matched yet never becomes current by itself.
   */
  currentRunId(): number | null {
    const { activeRunId } = readSettings(this.db);
    if (activeRunId !== null && this.isMatched(activeRunId)) return activeRunId;
    const row = this.db.sql
      .prepare(
        `SELECT max(run_id) AS id FROM indices x
         WHERE NOT EXISTS (SELECT 1 FROM indices y WHERE y.run_id = x.run_id AND y.part_id IS NULL)`,
      )
      .get() as { id: number | null };
    return row.id;
  }

  /** True when the run has indices and each stands for a part. */
  isMatched(runId: number): boolean {
    const row = this.db.sql
      .prepare('SELECT count(*) AS n, count(part_id) AS matched FROM indices WHERE run_id = ?')
      .get(runId) as { n: number; matched: number };
    return row.n > 0 && row.matched === row.n;
  }

  /** Records the K indices a run chose, in chosen order, not yet standing for parts; call inside a transaction. */
  insertIndices(runId: number, tokens: number[]): KeypointIndex[] {
    const statement = this.db.sql.prepare(
      'INSERT INTO indices (run_id, position, token, part_id) VALUES (?, ?, ?, NULL)',
    );
    tokens.forEach((token, k) => statement.run(runId, k, token));
    return this.indices(runId);
  }

  /** In chosen order. */
  indices(runId: number): KeypointIndex[] {
    const rows = this.db.sql
      .prepare('SELECT * FROM indices WHERE run_id = ? ORDER BY position')
      .all(runId) as IndexRow[];
    return rows.map(toIndex);
  }

  index(id: number): KeypointIndex | null {
    const row = this.db.sql.prepare('SELECT * FROM indices WHERE id = ?').get(id) as IndexRow | undefined;
    return row ? toIndex(row) : null;
  }

  /** Points each of a run's indices at its part (all at once: a run stands for parts whole); call inside a transaction. */
  assignParts(runId: number, partOf: Map<number, number>): void {
    this.db.sql.prepare('UPDATE indices SET part_id = NULL WHERE run_id = ?').run(runId);
    const statement = this.db.sql.prepare('UPDATE indices SET part_id = ? WHERE id = ? AND run_id = ?');
    for (const [indexId, partId] of partOf) statement.run(partId, indexId, runId);
  }

  /** The run's predictions on one image, as points of the parts its indices stand for. */
  forImage(imageId: number, runId: number): Keypoint[] {
    const rows = this.db.sql
      .prepare(
        `SELECT p.*, x.part_id FROM predictions p JOIN indices x ON x.id = p.index_id
         WHERE p.image_id = ? AND x.run_id = ? AND x.part_id IS NOT NULL`,
      )
      .all(imageId, runId) as Array<PredictionRow & { part_id: number }>;
    return rows.map((row) => ({
      imageId: row.image_id,
      partId: row.part_id,
      source: 'predicted',
      x: row.x,
      y: row.y,
      visibility: row.visibility,
      score: row.score,
      runId,
      updatedAt: row.updated_at,
    }));
  }

  /** Every prediction of a run's indices, image by image. */
  forRun(runId: number): Prediction[] {
    const rows = this.db.sql
      .prepare(
        `SELECT p.* FROM predictions p JOIN indices x ON x.id = p.index_id
         WHERE x.run_id = ? ORDER BY p.image_id, x.position`,
      )
      .all(runId) as PredictionRow[];
    return rows.map(toPrediction);
  }

  /**
   * Writes predictions of a run; call inside a transaction. Predictions have a table of their
   * own, so a hand correction is out of reach. Returns how many of the points sit under a
   * correction of the part their index stands for.
   */
  writePredicted(runId: number, points: PredictedPointInput[]): number {
    const statement = this.db.sql.prepare(
      `INSERT INTO predictions (image_id, index_id, x, y, visibility, score, updated_at)
       VALUES (@imageId, @indexId, @x, @y, @visibility, @score, @now)
       ON CONFLICT (image_id, index_id) DO UPDATE SET
         x = excluded.x, y = excluded.y, visibility = excluded.visibility, score = excluded.score,
         updated_at = excluded.updated_at`,
    );
    // Corrections are few next to predictions: one read of them beats a lookup per point.
    const corrected = new Set(
      (
        this.db.sql
          .prepare(
            `SELECT c.image_id, x.id FROM corrections c JOIN indices x ON x.part_id = c.part_id
             WHERE x.run_id = ?`,
          )
          .raw()
          .all(runId) as Array<[number, number]>
      ).map(([image, index]) => `${image}:${index}`),
    );
    const now = new Date().toISOString();
    let shadowed = 0;
    for (const p of points) {
      statement.run({ ...p, now });
      if (corrected.has(`${p.imageId}:${p.indexId}`)) shadowed++;
    }
    return shadowed;
  }

  predictedCount(runId: number | null): number {
    const row = this.db.sql
      .prepare('SELECT count(*) AS n FROM predictions p JOIN indices x ON x.id = p.index_id WHERE x.run_id = ?')
      .get(runId) as { n: number };
    return row.n;
  }
}
