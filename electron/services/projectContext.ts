// The one open project that every service works on. ProjectService opens and closes it;
// the other services only ask for it, so they never hold a stale database handle. The
// context also holds the project's lock (projectLock.ts) and lets it go with the project.

import { ServiceError } from '../common/errors.js';
import type { ProjectDatabase } from '../db/database.js';

export class ProjectContext {
  private database: ProjectDatabase | null = null;
  private releaseLock: () => void = () => undefined;

  /** The open project; throws when none is open. */
  get db(): ProjectDatabase {
    if (!this.database) throw new ServiceError('no-project', 'no project is open; open or create one first');
    return this.database;
  }

  /** The open project, checked to be writable. */
  get writable(): ProjectDatabase {
    const db = this.db;
    db.requireWritable();
    return db;
  }

  get isOpen(): boolean {
    return this.database !== null;
  }

  /** Replaces the open project, closing the previous one and letting go of its lock. */
  set(db: ProjectDatabase | null, releaseLock: () => void = () => undefined): void {
    if (this.database && this.database !== db) this.database.close();
    this.releaseLock();
    this.database = db;
    this.releaseLock = releaseLock;
  }
}
