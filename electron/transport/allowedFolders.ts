// The folders a session may touch: the ones the user opened (at `skp serve --allow`, in a system
// dialog, or as the project's folder). Every path that arrives from the UI passes here before a
// service sees it, so the API cannot be used to read or write anywhere else on the machine. Paths
// are compared by their real location: a link inside an allowed folder that points outside is outside.
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../common/api/errors.js';

/** What a path must be when it exists: a folder, a regular file, or either. A FIFO, device or socket
 * is never one of them: reading it would wait for a writer and freeze whoever reads. */
export type PathKind = 'file' | 'folder' | 'file-or-folder';

/** As many links as Linux follows before it gives up with ELOOP. */
const maxLinks = 40;

function linkTarget(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/**
 * Real path of `p`, following links. For a path that does not exist yet, of its nearest existing
 * parent; a dangling link is followed too, since writing through it creates its target.
 */
function realPathOf(p: string): string {
  const missing: string[] = [];
  let current = path.resolve(p);
  let links = 0;
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...missing.reverse());
    } catch {
      const target = linkTarget(current);
      if (target !== null) {
        if (++links > maxLinks) throw new ApiError('bad-input', `${p}: too many symbolic links (a loop?).`);
        current = path.resolve(path.dirname(current), target);
        continue;
      }
      const parent = path.dirname(current);
      if (parent === current) return path.resolve(p);
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

function isInside(child: string, folder: string): boolean {
  const rel = path.relative(folder, child);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel));
}

function kindProblem(real: string, kind: PathKind): string | null {
  const stat = fs.statSync(real, { throwIfNoEntry: false });
  if (stat === undefined) return null;
  if (kind !== 'folder' && stat.isFile()) return null;
  if (kind !== 'file' && stat.isDirectory()) return null;
  return kind === 'folder'
    ? 'is not a folder'
    : kind === 'file'
      ? 'is not a regular file'
      : 'is neither a file nor a folder';
}

export class AllowedFolders {
  private readonly folders: string[] = [];

  constructor(folders: Iterable<string> = []) {
    for (const f of folders) this.add(f);
  }

  add(folder: string): void {
    const real = realPathOf(folder);
    if (!this.folders.some((f) => isInside(real, f))) this.folders.push(real);
  }

  list(): string[] {
    return [...this.folders];
  }

  /** The folder of `p` that lies at the top of an allowed folder, or null when `p` is outside them all. */
  rootOf(p: string): string | null {
    if (p.includes('\0')) return null;
    const real = realPathOf(p);
    return this.folders.find((f) => isInside(real, f)) ?? null;
  }

  /** The real path of `p` when it lies inside an allowed folder, else null. */
  realPathInside(p: string): string | null {
    if (p.includes('\0')) return null;
    const real = realPathOf(p);
    return this.folders.some((f) => isInside(real, f)) ? real : null;
  }

  /**
   * Resolves `p` and refuses it unless it lies inside an allowed folder; `what` names it in the error.
   * With `kind`, an existing path must also be of that kind. Returns the real path: use that one, so
   * that what was checked is what is opened.
   */
  check(p: string, what: string, kind?: PathKind): string {
    if (p.includes('\0')) throw new ApiError('bad-input', `The ${what} path contains a NUL character.`);
    const real = realPathOf(p);
    if (!this.folders.some((f) => isInside(real, f))) {
      throw new ApiError('forbidden', `The ${what} ${p} is outside the folders you opened (${this.describe()}).`);
    }
    const problem = kind === undefined ? null : kindProblem(real, kind);
    if (problem !== null) throw new ApiError('bad-input', `The ${what} ${p} ${problem}.`);
    return real;
  }

  private describe(): string {
    return this.folders.length === 0 ? 'none yet' : this.folders.join(', ');
  }
}
