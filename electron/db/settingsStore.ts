// Project settings: one JSON value per key, read with defaults so that older projects and
// keys added later read the same way.

import { z } from 'zod';
import type { ProjectSettings, ProjectSettingsPatch } from '../common/project.js';
import { savedWorkersSchema } from '../common/schemas.js';
import type { ProjectDatabase } from './database.js';

const settingsSchema = z.object({
  name: z.string().default('Untitled project'),
  activeRunId: z.number().int().nullable().default(null),
  modelId: z.number().int().nullable().default(null),
  workers: savedWorkersSchema.nullable().default(null),
});

export function readSettings(db: ProjectDatabase): ProjectSettings {
  const rows = db.sql.prepare('SELECT key, value FROM settings').all() as Array<{ key: string; value: string }>;
  const raw: Record<string, unknown> = {};
  for (const row of rows) raw[row.key] = JSON.parse(row.value);
  return settingsSchema.parse(raw);
}

/** Writes the given keys; the caller wraps this in its transaction when it belongs with other writes. */
export function writeSettings(db: ProjectDatabase, patch: ProjectSettingsPatch): void {
  const upsert = db.sql.prepare(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) upsert.run(key, JSON.stringify(value));
  }
}
