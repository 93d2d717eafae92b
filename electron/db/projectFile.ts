// What the file system says about a project file before SQLite opens it: which file it really
// is (symlinks resolved, and its device + inode), whether it is whole, and whether this process
// may write it. SQLite keeps its journal (-wal, -shm) beside the name it was given, so a file
// written under two names, or one whose folder cannot take a journal, gets damaged or fails
// half-way; such a file is opened read-only with the reason instead.

import fs from 'node:fs';
import path from 'node:path';
import { ServiceError, badInput } from '../common/errors.js';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** An SQLite file starts with a 100-byte header. */
const HEADER_BYTES = 100;

export interface ProjectFile {
  /** The name the user gave, made absolute: shown in messages, and image paths are relative to its folder. */
  path: string;
  /** The file itself, every symlink resolved: what SQLite opens and the lock is kept beside. */
  realPath: string;
  /** Device and inode: the same file under any name. */
  identity: string;
  /** Set when the file must not be written here, with the reason to show. */
  readOnlyReason: string | null;
}

export function notAProject(file: string, why: string): ServiceError {
  return new ServiceError('not-a-project', `${file} is not a Keypoint Workstation project: ${why}`);
}

/** What a thing that is not a regular file is, in the user's words. */
export function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isFile()) return 'a file';
  return 'not a regular file';
}

function readHeader(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    return header.subarray(0, fs.readSync(fd, header, 0, header.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Why an SQLite file is shorter than it says it is, or null. The page count in the header is
 * only valid while the change counter matches the "version valid for" field (bytes 24 and 92).
 */
function truncation(header: Buffer, size: number): string | null {
  if (header.length < HEADER_BYTES) return `it is cut short (${size} bytes; an SQLite file has at least 512)`;
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return null;
  if (size % pageSize !== 0) return `it is cut short (${size} bytes is not a whole number of ${pageSize}-byte pages)`;
  const pages = header.readUInt32BE(28);
  const countValid = header.readUInt32BE(24) === header.readUInt32BE(92);
  if (countValid && pages * pageSize > size) {
    return `it is cut short (${size} bytes; its header says ${pages * pageSize})`;
  }
  return null;
}

function writeProblem(target: string, what: string): string | null {
  try {
    fs.accessSync(target, fs.constants.W_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${what} is on a read-only file system`;
    if (code === 'EACCES' || code === 'EPERM')
      return `${what} cannot be written (its permissions or attributes forbid it)`;
    throw e;
  }
}

/** Why this process must not write `file` (whose stat is `stat`), or null. */
function readOnlyCause(file: string, realPath: string, stat: fs.Stats): string | null {
  if (stat.nlink > 1) {
    const others = stat.nlink - 1;
    return (
      `${file} has ${others} other name${others === 1 ? '' : 's'} (hard link${others === 1 ? '' : 's'}, ` +
      'as `ln`, `cp -al` or `rsync --link-dest` make); SQLite keeps one journal per name, so writing it ' +
      'under two names would damage it. It is open read-only: make a real copy (cp, not ln) and open the copy to change it'
    );
  }
  const folder = path.dirname(realPath);
  const problem =
    writeProblem(realPath, 'the file') ??
    writeProblem(folder, `its folder ${folder}, where SQLite keeps the project's journal,`);
  return problem && `${file} is open read-only: ${problem}`;
}

/** Checks that `file` is an SQLite file, whole, and says under which name and how it can be opened. */
export function inspectProjectFile(file: string): ProjectFile {
  const absolute = path.resolve(file);
  let realPath: string;
  try {
    realPath = fs.realpathSync(absolute);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw badInput(`no project at ${absolute}`);
    if (code === 'ELOOP') throw badInput(`${absolute} is a link that leads back to itself (a symlink loop)`);
    throw badInput(`cannot open ${absolute} (${code ?? (e as Error).message})`);
  }
  const stat = fs.statSync(realPath);
  if (stat.isDirectory()) throw badInput(`${absolute} is a folder, not a project file`);
  if (!stat.isFile()) throw notAProject(absolute, `it is ${kindOf(stat)}, not a regular file`);
  if (stat.size === 0) throw notAProject(absolute, 'the file is empty (0 bytes)');
  const header = readHeader(realPath);
  if (!header.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw notAProject(absolute, 'it is not an SQLite database');
  }
  // Pages not yet copied back from the journal may make a sound file look short.
  const journal = fs.statSync(`${realPath}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const cut = journal > 0 && header.length === HEADER_BYTES ? null : truncation(header, stat.size);
  if (cut) throw new ServiceError('not-a-project', `${absolute} is damaged: ${cut}; open a backup copy`);
  return {
    path: absolute,
    realPath,
    identity: `${stat.dev}:${stat.ino}`,
    readOnlyReason: readOnlyCause(absolute, realPath, stat),
  };
}
