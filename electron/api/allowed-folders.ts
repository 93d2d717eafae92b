// The folders a session may touch: the ones the user opened (at `skp serve --allow`, in a system
// dialog, or as the project's image folder). Every path that arrives from the UI passes here before a
// service sees it, so the API cannot be used to read or write anywhere else on the machine.
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from './errors.js';

/** Real path of `p`, following links; for a path that does not exist yet, of its nearest existing parent. */
function realPathOf(p: string): string {
  const missing: string[] = [];
  let current = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...missing.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return path.resolve(p);
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

function isInside(child: string, folder: string): boolean {
  const rel = path.relative(folder, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
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
    const real = realPathOf(p);
    return this.folders.find((f) => isInside(real, f)) ?? null;
  }

  /** Resolves `p` and refuses it unless it lies inside an allowed folder; `what` names it in the error. */
  check(p: string, what: string): string {
    const real = realPathOf(p);
    if (!this.folders.some((f) => isInside(real, f))) {
      throw new ApiError('forbidden', `The ${what} ${p} is outside the folders you opened (${this.describe()}).`);
    }
    return real;
  }

  private describe(): string {
    return this.folders.length === 0 ? 'none yet' : this.folders.join(', ');
  }
}
