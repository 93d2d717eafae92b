// Opening and creating project files: one SQLite database per project, WAL, foreign keys on,
// migrations applied on open. Every failure says which file and what is wrong with it, and
// leaves the file as it was.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ServiceError, badInput } from '../common/errors.js';
import { migrations, type Migration } from './migrations.js';
import { inspectProjectFile, notAProject, type ProjectFile } from './projectFile.js';
import { guardStorage, isStorageError, storageFailure } from './storageErrors.js';

// A project on a read-only disk can only be read through an `immutable=1` URI (SQLite cannot make
// the journal files WAL reading needs). better-sqlite3 reads this once, when its addon loads on
// the first connection; project paths are absolute, so none is mistaken for a URI.
process.env.SQLITE_USE_URI = '1';

/** 'SKPW' in `PRAGMA application_id`: tells our project files from other SQLite files. */
export const APPLICATION_ID = 0x534b5057;

export class ProjectDatabase {
  constructor(
    readonly sql: Database.Database,
    /** Absolute path of the project file. */
    readonly path: string,
    readonly schemaVersion: number,
    /** Set when the project must not be written, with the reason to show. */
    readonly readOnlyReason: string | null,
  ) {}

  get readOnly(): boolean {
    return this.readOnlyReason !== null;
  }

  /** The folder image paths are stored relative to. */
  get folder(): string {
    return path.dirname(this.path);
  }

  requireWritable(): void {
    if (this.readOnlyReason) throw new ServiceError('read-only', this.readOnlyReason);
  }

  /** Runs `work` as one transaction: all of its writes land, or none (a full disk included). */
  write<T>(work: () => T): T {
    this.requireWritable();
    return guardStorage(this.path, () => this.sql.transaction(work)());
  }

  close(): void {
    if (this.sql.open) this.sql.close();
  }
}

function configure(sql: Database.Database): void {
  sql.pragma('journal_mode = WAL');
  sql.pragma('synchronous = NORMAL');
  sql.pragma('foreign_keys = ON');
  // The jobs write checkpoints from another connection while the UI reads and writes.
  sql.pragma('busy_timeout = 5000');
}

/**
 * Applies pending migrations, all in one transaction. Foreign keys are off meanwhile because
 * a table rebuild (create, copy, drop, rename) would otherwise cascade the drop into other
 * tables; the foreign-key check before commit keeps the result consistent.
 */
export function migrate(sql: Database.Database, list: readonly Migration[] = migrations): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration "${m.name}" has version ${m.version}, expected ${i + 1}`);
  });
  const from = sql.pragma('user_version', { simple: true }) as number;
  const pending = list.slice(from);
  if (pending.length === 0) return;
  sql.pragma('foreign_keys = OFF');
  try {
    sql.transaction(() => {
      for (const m of pending) m.up(sql);
      const broken = sql.pragma('foreign_key_check') as unknown[];
      if (broken.length > 0) throw new Error(`migration to version ${list.length} broke ${broken.length} references`);
      sql.pragma(`user_version = ${list.length}`);
    })();
  } finally {
    sql.pragma('foreign_keys = ON');
  }
}

/** Creates a new, empty project file. Refuses to overwrite anything. */
export function createProjectDatabase(file: string, list: readonly Migration[] = migrations): ProjectDatabase {
  const absolute = path.resolve(file);
  const folder = path.dirname(absolute);
  // A link, even one that leads nowhere, would have SQLite write wherever it points.
  if (fs.lstatSync(absolute, { throwIfNoEntry: false })) {
    throw badInput(`${absolute} already exists; choose a new project file name`);
  }
  if (!fs.existsSync(folder)) throw badInput(`cannot create ${absolute}: folder ${folder} does not exist`);
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
    throw badInput(`cannot create ${absolute}: folder ${folder} ${why}`);
  }
  let sql: Database.Database | null = null;
  try {
    sql = new Database(absolute);
    sql.pragma(`application_id = ${APPLICATION_ID}`);
    configure(sql);
    migrate(sql, list);
  } catch (e) {
    sql?.close();
    removeProjectFiles(absolute);
    throw storageFailure(e, absolute) ?? e;
  }
  return new ProjectDatabase(sql, absolute, list.length, null);
}

/** Deletes a project file and its WAL companions (used to undo a failed creation). */
export function removeProjectFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}

/**
 * A read-only connection. Reading a WAL-mode file needs its journal files; where they cannot be
 * made (a read-only disk or folder, a full disk) the file is read as it lies on disk, which is all of it
 * unless it was left with changes still in its -wal.
 */
function openForReading(project: ProjectFile): Database.Database {
  try {
    const sql = new Database(project.realPath, { readonly: true, fileMustExist: true });
    try {
      sql.pragma('application_id', { simple: true });
      return sql;
    } catch (e) {
      sql.close();
      throw e;
    }
  } catch (e) {
    // Only where nothing can be written: elsewhere another process may be changing the file.
    const code = (e as { code?: string }).code ?? '';
    const unwritable =
      project.readOnlyReason !== null && (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_READONLY'));
    if (!unwritable && !isStorageError(e)) throw e;
    const journal = `${project.realPath}-wal`;
    if ((fs.statSync(journal, { throwIfNoEntry: false })?.size ?? 0) > 0) {
      throw new ServiceError(
        'read-only',
        `${project.path} cannot be read here: it was not closed cleanly, some of its changes are still in ` +
          `${journal}, and SQLite cannot read that where it cannot write; copy both files to a writable folder and open the copy`,
      );
    }
    return new Database(`${pathToFileURL(project.realPath).href}?immutable=1`, { readonly: true });
  }
}

/**
 * Opens an existing project. A project written by a newer app opens read-only, with the
 * reason in `readOnlyReason`; anything that is not our project is refused. Given a
 * `readOnlyReason` (another process has it open, or the user asked only to look), or when the
 * file cannot be written here (projectFile.ts: other names, a read-only disk or folder), it opens
 * read-only with that reason and writes nothing, not even a migration: a project that needs one
 * is refused.
 */
export function openProjectDatabase(
  file: string,
  list: readonly Migration[] = migrations,
  readOnlyReason?: string,
): ProjectDatabase {
  const project = inspectProjectFile(file);
  const absolute = project.path;
  const reason = readOnlyReason ?? project.readOnlyReason ?? undefined;

  let sql: Database.Database | null = null;
  try {
    sql = openForReading(project);
    const applicationId = sql.pragma('application_id', { simple: true }) as number;
    if (applicationId !== APPLICATION_ID) {
      throw notAProject(absolute, 'it is an SQLite database of another application');
    }
    const version = sql.pragma('user_version', { simple: true }) as number;
    const problems = sql.pragma('quick_check(5)', { simple: false }) as Array<{ quick_check: string }>;
    if (problems.length !== 1 || problems[0]?.quick_check !== 'ok') {
      throw new ServiceError(
        'not-a-project',
        `${absolute} is damaged: ${problems.map((p) => p.quick_check).join('; ')}`,
      );
    }
    if (version > list.length) {
      const newer =
        `${absolute} was written by a newer version of Keypoint Workstation (schema ${version}; ` +
        `this version knows up to ${list.length}); it is open read-only — update the app to change it`;
      sql.pragma('query_only = ON');
      return new ProjectDatabase(sql, absolute, version, newer);
    }
    if (reason !== undefined) {
      if (version < list.length) {
        throw new ServiceError(
          'read-only',
          `${absolute} needs an upgrade of its schema (${version} → ${list.length}) before this version can read it, ` +
            `and it cannot be changed here: ${reason}`,
        );
      }
      sql.pragma('busy_timeout = 5000');
      sql.pragma('query_only = ON');
      return new ProjectDatabase(sql, absolute, version, reason);
    }
    sql.close();
    sql = new Database(project.realPath, { fileMustExist: true });
    configure(sql);
    migrate(sql, list);
    return new ProjectDatabase(sql, absolute, list.length, null);
  } catch (e) {
    sql?.close();
    if (e instanceof ServiceError) throw e;
    const storage = storageFailure(e, absolute);
    if (storage) throw storage;
    const code = (e as { code?: string }).code ?? '';
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      throw new ServiceError('not-a-project', `${absolute} is damaged: ${(e as Error).message}`);
    }
    if (code === 'SQLITE_CANTOPEN') throw badInput(`cannot open ${absolute}: ${(e as Error).message}`);
    if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
      throw new ServiceError('read-only', `cannot write ${absolute} (${(e as Error).message}); open it read-only`);
    }
    throw e;
  }
}
