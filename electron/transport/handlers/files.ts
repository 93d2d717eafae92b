// The app itself and the user's folders: what this session may touch, browsing it, picking from it.
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../common/api/errors.js';
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';
import type { FolderEntry } from '../../common/api/types.js';

export function fileHandlers(context: SessionContext): Pick<Handlers, 'app.info' | 'files.list' | 'files.pick'> {
  const { allowed } = context;
  return {
    'app.info': async () => ({
      version: context.version,
      transport: context.transport,
      serverId: context.serverId,
      nativeDialogs: context.pick !== undefined,
      allowedFolders: allowed.list(),
    }),

    'files.list': async ({ path: requested }) => {
      const first = allowed.list()[0];
      if (requested === undefined && first === undefined) {
        throw new ApiError('forbidden', 'No folder is open to browse: start `skp serve --allow <folder>`.');
      }
      const folder = allowed.check(requested ?? (first as string), 'path', 'folder');
      const root = allowed.rootOf(folder);
      const dirents = await fs.promises.readdir(folder, { withFileTypes: true });
      const entries: FolderEntry[] = dirents
        .filter((d) => !d.name.startsWith('.') && (d.isDirectory() || d.isFile()))
        .map(
          (d) =>
            ({ name: d.name, path: path.join(folder, d.name), kind: d.isDirectory() ? 'folder' : 'file' }) as const,
        )
        .sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'folder' ? -1 : 1));
      return { path: folder, parent: folder === root ? null : path.dirname(folder), entries };
    },

    'files.pick': async ({ kind, title }) => {
      if (!context.pick) throw new ApiError('unavailable', 'There is no system file dialog in the browser.');
      const picked = await context.pick(kind, title);
      if (picked === null) return null;
      // The user chose this in the system dialog: that is what opening a folder means.
      const isFolder = kind === 'folder' || fs.statSync(picked, { throwIfNoEntry: false })?.isDirectory();
      allowed.add(isFolder ? picked : path.dirname(picked));
      return picked;
    },
  };
}
