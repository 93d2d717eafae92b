// A full or failing disk, as SQLite and Node report it (SQLITE_FULL, SQLITE_IOERR_*, ENOSPC),
// turned into one message that says where and that nothing was changed. The callers make that
// true: a write transaction is rolled back, an opening leaves the file as it was.

import path from 'node:path';
import { ServiceError } from '../common/errors.js';

const FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

const codeOf = (error: unknown): string | null => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
};

/** Whether `error` is the disk's: full, or failing. */
export function isStorageError(error: unknown): boolean {
  const code = codeOf(error);
  return code !== null && (FULL.has(code) || code.startsWith('SQLITE_IOERR') || code === 'EIO');
}

/** The error to show for `error` met while reading or writing `file`, or null when it is not the disk's. */
export function storageFailure(error: unknown, file: string): ServiceError | null {
  const code = codeOf(error);
  if (error instanceof ServiceError || code === null || !isStorageError(error)) return null;
  if (FULL.has(code)) return new ServiceError('storage', `disk full at ${path.dirname(file)}: nothing was changed`);
  return new ServiceError(
    'storage',
    `cannot read or write ${file}: the disk is full or failing (${code}): nothing was changed`,
  );
}

/** Runs `work`; a full or failing disk becomes storageFailure's message. */
export function guardStorage<T>(file: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    throw storageFailure(e, file) ?? e;
  }
}
