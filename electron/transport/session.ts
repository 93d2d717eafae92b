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
import { engineHandlers } from './handlers/engine.js';

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
    ...engineHandlers(context),
  };
  const subscriptions = [
    options.services.project.onDidChangeProject((project) => context.events.emit('project.changed', { project })),
    options.services.images.onImportProgress((progress) => context.events.emit('import.progress', progress)),
    options.services.imports.onImportProgress((progress) => context.events.emit('import.progress', progress)),
    ...options.engine.forwardEvents(context.events),
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
