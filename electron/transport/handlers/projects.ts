// Creating, opening, importing and closing the session's project, and its model.
import path from 'node:path';
import type { ProjectInfo } from '../../common/project.js';
import type { Handlers } from '../dispatcher.js';
import { ApiError } from '../../common/api/errors.js';
import type { SessionContext } from './context.js';

type ProjectMethods =
  | 'projects.recent'
  | 'projects.create'
  | 'projects.open'
  | 'projects.import'
  | 'projects.current'
  | 'projects.close'
  | 'model.set';

/** SQLite and the project lock write these next to a project file, through whatever links they are. */
const companionSuffixes = ['-wal', '-shm', '-journal', '.lock'];

export function projectHandlers(context: SessionContext): Pick<Handlers, ProjectMethods> {
  const { services, allowed, openProjects, recent, id } = context;

  /** The real path of a project file, refused unless it and the files SQLite keeps beside it lie inside. */
  function checkProject(projectPath: string): string {
    const file = allowed.check(projectPath, 'project file', 'file');
    for (const suffix of companionSuffixes) allowed.check(file + suffix, 'project file', 'file');
    return file;
  }

  /** Opens `projectPath` through `open`, keeping one window per project and remembering it. */
  async function switchTo<T>(projectPath: string, open: () => Promise<T>, infoOf: (result: T) => ProjectInfo) {
    const previous = openProjects.ownedBy(id);
    openProjects.claim(projectPath, id);
    let result: T;
    try {
      result = await open();
    } catch (error) {
      openProjects.release(id, previous);
      throw error;
    }
    const info = infoOf(result);
    openProjects.release(id, info.path);
    allowed.add(path.dirname(info.path));
    recent.remember(info.path, info.settings.name);
    return result;
  }

  return {
    'projects.recent': async () => recent.list(),

    'projects.create': async (request) => {
      const file = checkProject(request.path);
      const images = request.images === undefined ? undefined : allowed.check(request.images, 'image folder', 'folder');
      return switchTo(
        file,
        () => services.project.create({ path: file, images, name: request.name }),
        (r) => r.info,
      );
    },

    'projects.open': async (request) => {
      const file = checkProject(request.path);
      if (request.readOnly) {
        // Looking changes nothing: no window needs to let go of the project first.
        const info = await services.project.open(file, { readOnly: true });
        openProjects.release(id);
        allowed.add(path.dirname(info.path));
        recent.remember(info.path, info.settings.name);
        return info;
      }
      return switchTo(
        file,
        () => services.project.open(file),
        (info) => info,
      );
    },

    'projects.import': async (request) => {
      const file = checkProject(request.path);
      const source =
        request.kind === 'coco'
          ? allowed.check(request.file, 'COCO file', 'file')
          : allowed.check(request.folder, 'CUB folder', 'folder');
      const imagesRoot =
        request.kind === 'coco' && request.imagesRoot
          ? allowed.check(request.imagesRoot, 'image folder', 'folder')
          : undefined;
      const imported =
        request.kind === 'coco'
          ? { kind: request.kind, path: file, file: source, imagesRoot }
          : { kind: request.kind, path: file, folder: source };
      return switchTo(
        file,
        () => services.imports.importAsNewProject(imported),
        (r) => r.info,
      );
    },

    'projects.current': () => services.project.current(),

    'projects.close': async () => {
      await services.project.close();
      openProjects.release(id);
      return null;
    },

    'model.set': async (request) => {
      const model = allowed.check(request.path, 'model', 'file-or-folder');
      return services.models.setProjectModel(model);
    },
  };
}
