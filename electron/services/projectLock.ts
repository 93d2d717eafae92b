// One process edits a project at a time. The process that opens a project for writing leaves a
// lock file beside it (`<project>.lock`: pid, host, since when) and removes it when it closes the
// project or exits. Another process finds it and is told who has the project; it may still open
// the project read-only. Windows of one process share their process's hold (api/openProjects.ts
// keeps them apart); job threads open their own connections under it. A lock left by a process
// that has gone from this host (killed, crashed) is stale and is taken over.
// The lock belongs to the file, not to the name it was opened by: it lies beside the real file
// (symlinks resolved) and this process counts its holds by device + inode. A file with other
// (hard-linked) names is never written at all (db/projectFile.ts), since no lock file sits beside
// every name.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ServiceError } from '../common/errors.js';
import { storageFailure } from '../db/storageErrors.js';

/** Who holds a project, as its lock file says. */
export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

const ownerSchema = z.object({ pid: z.number().int().positive(), host: z.string(), startedAt: z.string() });

/** The file itself: every symlink resolved (the name as given when nothing is there yet). */
function realFile(projectFile: string): string {
  const absolute = path.resolve(projectFile);
  try {
    return fs.realpathSync(absolute);
  } catch {
    return absolute;
  }
}

export const lockFileOf = (projectFile: string): string => `${realFile(projectFile)}.lock`;

/** The projects this process holds, by device + inode: how often, and which file. */
const held = new Map<string, { count: number; file: string }>();
const me = (): LockOwner => ({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() });

// A process that ends without closing its project (Ctrl-C, an uncaught error) lets it go here;
// only a kill it cannot see leaves a lock, which the next opener finds stale.
process.on('exit', () => {
  for (const { file } of held.values()) removeOwnLock(file);
});

function removeOwnLock(projectFile: string): void {
  const owner = readOwner(lockFileOf(projectFile));
  if (owner && owner !== 'unreadable' && isMe(owner)) fs.rmSync(lockFileOf(projectFile), { force: true });
}

const isMe = (owner: LockOwner) => owner.pid === process.pid && owner.host === os.hostname();

function readOwner(lockFile: string): LockOwner | 'unreadable' | null {
  let text: string;
  try {
    text = fs.readFileSync(lockFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return ownerSchema.parse(JSON.parse(text));
  } catch {
    return 'unreadable';
  }
}

/** Whether a process of this host still runs (one of another user's answers EPERM: it does). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process named in the project's lock file, when that is another process that may still run. */
export function otherHolder(projectFile: string): LockOwner | 'unreadable' | null {
  const owner = readOwner(lockFileOf(projectFile));
  if (owner === null || owner === 'unreadable') return owner;
  if (isMe(owner)) return null;
  if (owner.host === os.hostname() && !running(owner.pid)) return null;
  return owner;
}

/** What a second process is told; says how to look anyway and what to do about a lock left behind. */
export function lockedError(projectFile: string, owner: LockOwner | 'unreadable'): ServiceError {
  const file = path.resolve(projectFile);
  const lock = lockFileOf(file);
  if (owner === 'unreadable') {
    return new ServiceError(
      'locked',
      `${file} is locked by another window/process, but its lock file ${lock} cannot be read; ` +
        'if no other window has the project open, delete that file',
    );
  }
  return new ServiceError(
    'locked',
    `${file} is open in another window/process (pid ${owner.pid}, host ${owner.host}, since ${owner.startedAt}); ` +
      `close it there to change it here (if that process is not Keypoint Workstation, delete ${lock})`,
  );
}

/**
 * Writes the lock file whole or not at all (a reader never sees half of it). A folder this
 * process cannot write to takes no lock: the project in it cannot be written either.
 */
function createLockFile(lock: string): 'created' | 'exists' | 'unwritable' {
  const draft = `${lock}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(draft, JSON.stringify(me()));
    fs.linkSync(draft, lock);
    return 'created';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'unwritable';
    throw storageFailure(e, lock) ?? e;
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

/**
 * Takes the project for this process; returns the function that lets it go (once). Throws
 * a 'locked' ServiceError naming the other process when one has it.
 */
export function lockProject(projectFile: string): () => void {
  const file = realFile(projectFile);
  const lock = `${file}.lock`;
  const stat = fs.statSync(file);
  const identity = `${stat.dev}:${stat.ino}`;
  if (!held.has(identity)) {
    // After removing a stale lock, another process may take the project first: then it has it.
    for (let attempt = 0; ; attempt++) {
      const created = createLockFile(lock);
      if (created === 'unwritable') return () => undefined;
      if (created === 'created') break;
      const owner = otherHolder(file);
      if (owner !== null) throw lockedError(projectFile, owner);
      if (attempt > 0) throw lockedError(projectFile, readOwner(lock) ?? 'unreadable');
      fs.rmSync(lock, { force: true });
    }
  }
  const hold = held.get(identity) ?? { count: 0, file };
  hold.count++;
  held.set(identity, hold);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    hold.count--;
    if (hold.count === 0) {
      held.delete(identity);
      removeOwnLock(hold.file);
    }
  };
}
