// Data access for training jobs: runs, token checkpoints, losses, chosen indices and
// predictions. Synchronous on purpose: the jobs call it between training steps, from their
// own connection (open the project with openProjectDatabase in the job's thread).

import type { KeypointIndex, PredictedPointInput, PredictionWriteResult } from '../common/keypoints.js';
import type { JsonObject, LossPoint, ModelReference, ModelReferenceInput, RunStatus } from '../common/runs.js';
import type { TokenCheckpointInfo, TrainingRun } from '../common/runs.js';
import type { ProjectDatabase } from './database.js';
import { KeypointStore } from './keypointStore.js';
import { PartStore } from './partStore.js';
import { writeSettings } from './settingsStore.js';

interface RunRow {
  id: number;
  name: string | null;
  status: RunStatus;
  created_at: string;
  updated_at: string;
  settings: string;
  model_id: number | null;
  progress: string | null;
  error: string | null;
}

interface ModelRow {
  id: number;
  name: string;
  path: string;
  fingerprint: string | null;
  added_at: string;
}

export interface TokenCheckpoint extends TokenCheckpointInfo {
  /** float32 [N, D], little-endian as stored. */
  tokens: Float32Array;
  optimizerState: Buffer | null;
}

function toRun(row: RunRow): TrainingRun {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    settings: JSON.parse(row.settings) as JsonObject,
    modelId: row.model_id,
    progress: row.progress === null ? null : (JSON.parse(row.progress) as JsonObject),
    error: row.error,
  };
}

function toModel(row: ModelRow): ModelReference {
  return { id: row.id, name: row.name, path: row.path, fingerprint: row.fingerprint, addedAt: row.added_at };
}

function blobOf(data: Float32Array | Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class RunStore {
  private readonly keypoints: KeypointStore;

  constructor(private readonly db: ProjectDatabase) {
    this.keypoints = new KeypointStore(db);
  }

  addModel(model: ModelReferenceInput): ModelReference {
    this.db.requireWritable();
    const info = this.db.sql
      .prepare('INSERT INTO models (name, path, fingerprint, added_at) VALUES (?, ?, ?, ?)')
      .run(model.name, model.path, model.fingerprint ?? null, new Date().toISOString());
    return this.model(Number(info.lastInsertRowid)) as ModelReference;
  }

  model(id: number): ModelReference | null {
    const row = this.db.sql.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
    return row ? toModel(row) : null;
  }

  createRun(request: { settings: JsonObject; modelId?: number | null; name?: string | null }): TrainingRun {
    this.db.requireWritable();
    const now = new Date().toISOString();
    const info = this.db.sql
      .prepare(
        `INSERT INTO runs (name, status, created_at, updated_at, settings, model_id, progress, error)
         VALUES (?, 'queued', ?, ?, ?, ?, NULL, NULL)`,
      )
      .run(request.name ?? null, now, now, JSON.stringify(request.settings), request.modelId ?? null);
    return this.run(Number(info.lastInsertRowid)) as TrainingRun;
  }

  run(id: number): TrainingRun | null {
    const row = this.db.sql.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  /** Newest first. */
  runs(): TrainingRun[] {
    return (this.db.sql.prepare('SELECT * FROM runs ORDER BY id DESC').all() as RunRow[]).map(toRun);
  }

  /** `error` is kept only for 'failed' and cleared otherwise. */
  setStatus(id: number, status: RunStatus, error: string | null = null): void {
    this.db.requireWritable();
    this.db.sql
      .prepare('UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(status, status === 'failed' ? error : null, new Date().toISOString(), id);
  }

  setProgress(id: number, progress: JsonObject): void {
    this.db.requireWritable();
    this.db.sql
      .prepare('UPDATE runs SET progress = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(progress), new Date().toISOString(), id);
  }

  /** Saves tokens (and optimiser state) at a step, replacing a checkpoint of the same step. */
  saveCheckpoint(
    runId: number,
    step: number,
    tokens: Float32Array,
    optimizerState: Uint8Array | Float32Array | null,
  ): void {
    this.db.requireWritable();
    this.db.sql
      .prepare(
        `INSERT OR REPLACE INTO token_checkpoints (run_id, step, tokens, optimizer_state, created_at)
         VALUES (?, ?, ?, ?, ?)`,
      )
      .run(runId, step, blobOf(tokens), optimizerState ? blobOf(optimizerState) : null, new Date().toISOString());
  }

  checkpoints(runId: number): TokenCheckpointInfo[] {
    return this.db.sql
      .prepare(
        `SELECT run_id AS runId, step, created_at AS createdAt, length(tokens) AS tokenBytes,
           coalesce(length(optimizer_state), 0) AS optimizerStateBytes
         FROM token_checkpoints WHERE run_id = ? ORDER BY step`,
      )
      .all(runId) as TokenCheckpointInfo[];
  }

  /** The checkpoint at `step`, or the latest one. */
  checkpoint(runId: number, step?: number): TokenCheckpoint | null {
    const row = (
      step === undefined
        ? this.db.sql.prepare('SELECT * FROM token_checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1').get(runId)
        : this.db.sql.prepare('SELECT * FROM token_checkpoints WHERE run_id = ? AND step = ?').get(runId, step)
    ) as
      { run_id: number; step: number; tokens: Buffer; optimizer_state: Buffer | null; created_at: string } | undefined;
    if (!row) return null;
    // Copy into an aligned buffer: SQLite blobs carry no alignment guarantee for Float32Array.
    const tokens = new Float32Array(row.tokens.byteLength / 4);
    new Uint8Array(tokens.buffer).set(row.tokens);
    return {
      runId: row.run_id,
      step: row.step,
      createdAt: row.created_at,
      tokenBytes: row.tokens.byteLength,
      optimizerStateBytes: row.optimizer_state?.byteLength ?? 0,
      tokens,
      optimizerState: row.optimizer_state,
    };
  }

  /** Keeps the newest `keep` checkpoints of a run. */
  pruneCheckpoints(runId: number, keep: number): number {
    this.db.requireWritable();
    return this.db.sql
      .prepare(
        `DELETE FROM token_checkpoints WHERE run_id = ? AND step NOT IN
           (SELECT step FROM token_checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT ?)`,
      )
      .run(runId, runId, keep).changes;
  }

  appendLosses(runId: number, points: LossPoint[]): void {
    const statement = this.db.sql.prepare(
      'INSERT OR REPLACE INTO losses (run_id, step, loss, sharpening, equivariance) VALUES (?, ?, ?, ?, ?)',
    );
    this.db.write(() => {
      for (const p of points) statement.run(runId, p.step, p.loss, p.sharpening, p.equivariance);
    });
  }

  lastLoss(runId: number): LossPoint | null {
    const row = this.db.sql
      .prepare('SELECT step, loss, sharpening, equivariance FROM losses WHERE run_id = ? ORDER BY step DESC LIMIT 1')
      .get(runId) as LossPoint | undefined;
    return row ?? null;
  }

  losses(runId: number, afterStep = -1): LossPoint[] {
    return this.db.sql
      .prepare('SELECT step, loss, sharpening, equivariance FROM losses WHERE run_id = ? AND step > ? ORDER BY step')
      .all(runId, afterStep) as LossPoint[];
  }

  /**
   * Records the K token indices a run chose (in chosen order). A run chooses once. In a project
   * without parts yet, each index becomes a new part and the run becomes the active one: nothing
   * of the user's can change. Otherwise the indices wait until the user accepts a match to parts.
   */
  chooseIndices(runId: number, tokens: number[]): KeypointIndex[] {
    return this.db.write(() => {
      if (this.keypoints.indices(runId).length > 0) throw new Error(`run ${runId} has already chosen its indices`);
      const indices = this.keypoints.insertIndices(runId, tokens);
      const parts = new PartStore(this.db);
      if (parts.parts().length > 0) return indices;
      this.keypoints.assignParts(runId, new Map(indices.map((index) => [index.id, parts.addPart().id])));
      writeSettings(this.db, { activeRunId: runId });
      return this.keypoints.indices(runId);
    });
  }

  indices(runId: number): KeypointIndex[] {
    return this.keypoints.indices(runId);
  }

  /** Stores predictions of the run's indices in one transaction; hand corrections are out of its reach. */
  writePredictions(runId: number, points: PredictedPointInput[]): PredictionWriteResult {
    const own = new Set(this.keypoints.indices(runId).map((i) => i.id));
    const foreign = points.find((p) => !own.has(p.indexId));
    if (foreign) throw new Error(`index ${foreign.indexId} does not belong to run ${runId}`);
    const shadowed = this.db.write(() => this.keypoints.writePredicted(runId, points));
    return { written: points.length, shadowedByCorrections: shadowed };
  }
}
