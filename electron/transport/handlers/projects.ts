// Creating, opening, importing and closing the session's project, and its model.
import path from 'node:path';
import { removeProjectFiles } from '../../db/database.js';
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
      return switchTo(
        file,
        async () => {
          const created = await services.project.create({
            path: file,
            name: path.basename(source, path.extname(source)),
          });
          try {
            const imported =
              request.kind === 'coco'
                ? await services.imports.importCoco({ file: source, imagesRoot })
                : await services.imports.importCub({ folder: source });
            return { info: await services.project.info(), imported };
          } catch (error) {
            // The project was made only to hold this dataset: a failed import leaves nothing behind.
            await services.project.close();
            removeProjectFiles(created.info.path);
            throw error;
          }
        },
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
      // Checked now, as `skp model check` does, not first at Start; a read-only project says so first.
      if (!(await services.project.info()).readOnly) {
        const check = await services.models.check(model);
        if (!check.ok) throw new ApiError('bad-input', `${model} cannot be used: ${check.problems.join('; ')}`);
      }
      return services.project.setModel({ name: path.basename(model), path: model });
    },
  };
}
