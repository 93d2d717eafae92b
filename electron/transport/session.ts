// One UI session: a desktop window, or everyone using one `skp serve`. It owns the services of its
// open project and turns API calls into service calls (handlers/), with every path checked first.
import crypto from 'node:crypto';
import { createDispatcher, type Dispatch, type Handlers } from './dispatcher.js';
import { EventHub } from './events.js';
import type { SessionContext, SessionOptions } from './handlers/context.js';
import { fileHandlers } from './handlers/files.js';
import { projectHandlers } from './handlers/projects.js';
import { imageHandlers } from './handlers/images.js';
import { keypointHandlers } from './handlers/keypoints.js';
import { jobHandlers } from './handlers/jobs.js';

export interface Session {
  id: string;
  dispatch: Dispatch;
  events: EventHub;
  /** Closes the project (everything is already saved) and lets another window open it. */
  dispose(): Promise<void>;
}

export function createSession(options: SessionOptions): Session {
  const context: SessionContext = { ...options, id: crypto.randomUUID(), events: new EventHub() };
  const handlers: Handlers = {
    ...fileHandlers(context),
    ...projectHandlers(context),
    ...imageHandlers(context),
    ...keypointHandlers(context),
    ...jobHandlers(context),
  };
  const subscriptions = [
    options.services.project.onDidChangeProject((project) => context.events.emit('project.changed', { project })),
    options.services.images.onImportProgress((progress) => context.events.emit('import.progress', progress)),
    options.services.imports.onImportProgress((progress) => context.events.emit('import.progress', progress)),
    options.services.jobs.onProgress((progress) => context.events.emit('job.progress', progress)),
    options.services.jobs.onStateChange((change) => {
      context.events.emit('job.state', change);
      // A finished job changed what the project holds (runs, indices, keypoints): show it.
      if (change.state === 'done' || change.state === 'failed' || change.state === 'cancelled') {
        options.services.project
          .current()
          .then((project) => {
            context.events.emit('project.changed', { project });
            if (change.kind === 'keypoints') context.events.emit('project.edited', { part: 'keypoints' });
          })
          // A refresh that fails (e.g. the project was closed meanwhile) is not worth the process.
          .catch((error: unknown) => console.error(error));
      }
    }),
  ];
  return {
    id: context.id,
    dispatch: createDispatcher(handlers),
    events: context.events,
    async dispose() {
      for (const s of subscriptions) s.dispose();
      await options.services.project.close();
      options.openProjects.release(context.id);
    },
  };
}
