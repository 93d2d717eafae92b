// Numbered schema migrations, applied in order when a project opens. A project stores the
// number of the last one applied in `PRAGMA user_version`; an app that finds a larger number
// than it knows opens the project read-only (see database.ts).
//
// Rules for adding one: append, never edit a released migration; never lose a hand correction
// (they survive every upgrade: tests/electron/db/corrections.test.ts checks every migration, and
// tests/electron/db/partsMigration.test.ts checks migration 3, which moved them to `corrections`).

import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up(sql: Database.Database): void;
}

const initialSchema = `
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL -- JSON
);

CREATE TABLE images (
  id          INTEGER PRIMARY KEY,
  path        TEXT NOT NULL UNIQUE, -- relative to the project file's folder where possible, '/' separators
  width       INTEGER NOT NULL CHECK (width > 0),
  height      INTEGER NOT NULL CHECK (height > 0),
  format      TEXT NOT NULL CHECK (format IN ('jpeg', 'png', 'webp')),
  bytes       INTEGER NOT NULL CHECK (bytes > 0),
  sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
  orientation INTEGER NOT NULL DEFAULT 1 CHECK (orientation BETWEEN 1 AND 8),
  split       TEXT CHECK (split IN ('train', 'test')),
  added_at    TEXT NOT NULL
);
CREATE INDEX images_by_sha256 ON images (sha256);
CREATE INDEX images_by_split ON images (split);

CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  path        TEXT NOT NULL,
  fingerprint TEXT,
  added_at    TEXT NOT NULL
);

CREATE TABLE runs (
  id         INTEGER PRIMARY KEY,
  name       TEXT,
  status     TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  settings   TEXT NOT NULL, -- JSON object
  model_id   INTEGER REFERENCES models (id),
  progress   TEXT,          -- JSON object
  error      TEXT
);

CREATE TABLE token_checkpoints (
  run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step            INTEGER NOT NULL CHECK (step >= 0),
  tokens          BLOB NOT NULL,  -- float32 little-endian, [N, D]
  optimizer_state BLOB,           -- opaque to the database
  created_at      TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);

CREATE TABLE losses (
  run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step         INTEGER NOT NULL,
  loss         REAL NOT NULL,
  sharpening   REAL NOT NULL,
  equivariance REAL NOT NULL,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE indices (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs (id),
  position      INTEGER NOT NULL CHECK (position >= 0), -- k in the run's chosen list
  token         INTEGER NOT NULL CHECK (token >= 0),
  name          TEXT CHECK (name IS NULL OR length(trim(name)) > 0),
  colour        TEXT NOT NULL CHECK (colour GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
  hidden        INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
  display_order INTEGER NOT NULL,
  UNIQUE (run_id, position),
  UNIQUE (run_id, token)
);

CREATE TABLE skeleton_edges (
  from_index INTEGER NOT NULL REFERENCES indices (id),
  to_index   INTEGER NOT NULL REFERENCES indices (id),
  PRIMARY KEY (from_index, to_index),
  CHECK (from_index <> to_index)
) WITHOUT ROWID;

-- Predicted and corrected values of one index on one image are separate rows, so that
-- writing predictions cannot reach a correction: they differ in the primary key.
-- No ON DELETE CASCADE reaches this table: removing an image or index with hand
-- corrections must be an explicit decision, never a side effect.
-- x and y of a point with visibility 0 are kept (toggling back restores them); exports write 0, 0.
CREATE TABLE keypoints (
  image_id   INTEGER NOT NULL REFERENCES images (id),
  index_id   INTEGER NOT NULL REFERENCES indices (id),
  source     TEXT NOT NULL CHECK (source IN ('predicted', 'corrected')),
  x          REAL NOT NULL,
  y          REAL NOT NULL,
  visibility INTEGER NOT NULL CHECK (visibility IN (0, 1, 2)),
  score      REAL,
  run_id     INTEGER REFERENCES runs (id),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (image_id, index_id, source),
  CHECK (source = 'predicted' OR (score IS NULL AND run_id IS NULL))
) WITHOUT ROWID;
CREATE INDEX keypoints_by_index ON keypoints (index_id, source, image_id);

-- A correction keeps its source for ever.
CREATE TRIGGER corrected_keypoints_stay_corrected
BEFORE UPDATE OF source ON keypoints
WHEN OLD.source = 'corrected' AND NEW.source <> 'corrected'
BEGIN
  SELECT RAISE(ABORT, 'a hand-corrected keypoint cannot become a prediction');
END;

CREATE TABLE gt_parts (
  position INTEGER PRIMARY KEY CHECK (position >= 0),
  name     TEXT NOT NULL UNIQUE
);

CREATE TABLE gt_skeleton (
  from_part INTEGER NOT NULL REFERENCES gt_parts (position),
  to_part   INTEGER NOT NULL REFERENCES gt_parts (position),
  PRIMARY KEY (from_part, to_part)
) WITHOUT ROWID;

CREATE TABLE gt_instances (
  id       INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES images (id),
  category TEXT NOT NULL,
  bbox_x   REAL,
  bbox_y   REAL,
  bbox_w   REAL,
  bbox_h   REAL,
  area     REAL,
  iscrowd  INTEGER NOT NULL DEFAULT 0 CHECK (iscrowd IN (0, 1)),
  origin   TEXT NOT NULL,
  CHECK ((bbox_x IS NULL) = (bbox_w IS NULL))
);
CREATE INDEX gt_instances_by_image ON gt_instances (image_id);

CREATE TABLE gt_keypoints (
  instance_id INTEGER NOT NULL REFERENCES gt_instances (id) ON DELETE CASCADE,
  part        INTEGER NOT NULL REFERENCES gt_parts (position),
  x           REAL NOT NULL,
  y           REAL NOT NULL,
  visibility  INTEGER NOT NULL CHECK (visibility IN (0, 1, 2)),
  PRIMARY KEY (instance_id, part)
) WITHOUT ROWID;
`;

// Kept for the heat-map overlay: each run's K maps of an image, shrunk to at most 64×64 and
// stored as bytes relative to each map's peak (K × 64 × 64 bytes a row, not K × S × S floats).
// Derived data that a keypoints job can make again, so it goes with its image or run.
const attentionMaps = `
CREATE TABLE attention_maps (
  run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  side       INTEGER NOT NULL CHECK (side > 0),
  peaks      BLOB NOT NULL, -- float32 little-endian [K]: each map's largest value
  maps       BLOB NOT NULL, -- uint8 [K, side, side], row-major: value / peak × 255, rounded
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, image_id),
  CHECK (length(peaks) > 0 AND length(peaks) % 4 = 0 AND length(maps) = length(peaks) / 4 * side * side)
);
`;

// The user's semantics belong to the project, not to a run: names, colours, export visibility,
// order and skeleton move from a run's indices to parts, and a hand correction becomes "part P on
// image I". A run's index points at the part it stands for (NULL until the user has matched it).
const partsSchema = `
CREATE TABLE parts (
  id            INTEGER PRIMARY KEY,
  name          TEXT CHECK (name IS NULL OR length(trim(name)) > 0),
  colour        TEXT NOT NULL CHECK (colour GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
  hidden        INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
  display_order INTEGER NOT NULL
);

CREATE TABLE part_edges (
  from_part INTEGER NOT NULL REFERENCES parts (id),
  to_part   INTEGER NOT NULL REFERENCES parts (id),
  PRIMARY KEY (from_part, to_part),
  CHECK (from_part <> to_part)
) WITHOUT ROWID;

-- No ON DELETE CASCADE reaches this table: removing an image or part with hand corrections
-- must be an explicit decision, never a side effect.
-- x and y of a point with visibility 0 are kept (toggling back restores them); exports write 0, 0.
CREATE TABLE corrections (
  image_id   INTEGER NOT NULL REFERENCES images (id),
  part_id    INTEGER NOT NULL REFERENCES parts (id),
  x          REAL NOT NULL,
  y          REAL NOT NULL,
  visibility INTEGER NOT NULL CHECK (visibility IN (0, 1, 2)),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (image_id, part_id)
) WITHOUT ROWID;
CREATE INDEX corrections_by_part ON corrections (part_id, image_id);

CREATE TABLE indices_new (
  id       INTEGER PRIMARY KEY,
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  position INTEGER NOT NULL CHECK (position >= 0), -- k in the run's chosen list
  token    INTEGER NOT NULL CHECK (token >= 0),
  part_id  INTEGER REFERENCES parts (id),
  UNIQUE (run_id, position),
  UNIQUE (run_id, token),
  UNIQUE (run_id, part_id)
);

-- What runs predicted, one row per index and image; hand corrections live in corrections.
CREATE TABLE predictions (
  image_id   INTEGER NOT NULL REFERENCES images (id),
  index_id   INTEGER NOT NULL REFERENCES indices (id),
  x          REAL NOT NULL,
  y          REAL NOT NULL,
  visibility INTEGER NOT NULL CHECK (visibility IN (0, 1, 2)),
  score      REAL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (image_id, index_id)
) WITHOUT ROWID;
CREATE INDEX predictions_by_index ON predictions (index_id, image_id);
`;

/**
 * Every index becomes a part with the same id (so nothing needs renumbering) and keeps its name,
 * colour and hidden flag; each run's display order survives within the new single order, the
 * current run's parts first. Corrections and skeleton edges keep their ids, now naming parts.
 */
function moveToParts(sql: Database.Database): void {
  sql.exec(partsSchema);
  const active = sql.prepare("SELECT value FROM settings WHERE key = 'activeRunId'").get() as
    { value: string } | undefined;
  const chosen = active ? (JSON.parse(active.value) as number | null) : null;
  const hasIndices = chosen !== null && sql.prepare('SELECT 1 FROM indices WHERE run_id = ?').get(chosen);
  const current = hasIndices
    ? chosen
    : (sql.prepare('SELECT max(run_id) AS id FROM indices').get() as { id: number | null }).id;
  sql
    .prepare(
      `INSERT INTO parts (id, name, colour, hidden, display_order)
       SELECT id, name, colour, hidden,
         row_number() OVER (ORDER BY run_id = @current DESC, run_id, display_order, position) - 1
       FROM indices`,
    )
    .run({ current });
  sql.exec(`
    INSERT INTO part_edges (from_part, to_part) SELECT from_index, to_index FROM skeleton_edges;
    INSERT INTO corrections (image_id, part_id, x, y, visibility, updated_at)
      SELECT image_id, index_id, x, y, visibility, updated_at FROM keypoints WHERE source = 'corrected';
    INSERT INTO indices_new (id, run_id, position, token, part_id)
      SELECT id, run_id, position, token, id FROM indices;
    INSERT INTO predictions (image_id, index_id, x, y, visibility, score, updated_at)
      SELECT image_id, index_id, x, y, visibility, score, updated_at FROM keypoints WHERE source = 'predicted';
    DROP TABLE skeleton_edges;
    DROP TABLE keypoints;
    DROP TABLE indices;
    ALTER TABLE indices_new RENAME TO indices;
  `);
}

// Which images the user has looked at and marked reviewed. A row of its own, not a column of
// `images`, so marking touches nothing else; it goes with its image.
const imageReviews = `
CREATE TABLE image_reviews (
  image_id    INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
  reviewed_at TEXT NOT NULL
);
`;

export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial schema', up: (sql) => sql.exec(initialSchema) },
  { version: 2, name: 'attention maps', up: (sql) => sql.exec(attentionMaps) },
  { version: 3, name: 'parts', up: moveToParts },
  { version: 4, name: 'image reviews', up: (sql) => sql.exec(imageReviews) },
];

/** The schema version this app writes. */
export const LATEST_SCHEMA_VERSION = migrations.length;
