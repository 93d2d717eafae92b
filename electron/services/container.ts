// Wires the services together: one ProjectContext shared by all of them. The app's main
// process, the headless server, the CLI and the tests each call createServices() once.

import type { Services } from '../common/services.js';
import { ExportServiceImpl } from './exportService.js';
import { GroundTruthServiceImpl } from './groundTruthService.js';
import { ImageServiceImpl } from './imageService.js';
import { ImportServiceImpl } from './importService.js';
import { KeypointServiceImpl } from './keypointService.js';
import { ProjectContext } from './projectContext.js';
import { ProjectServiceImpl } from './projectService.js';

export interface ServiceHost extends Services {
  /** The open project, for code in the main process that needs the database itself (jobs). */
  context: ProjectContext;
  /** Closes the open project. */
  dispose(): void;
}

export function createServices(): ServiceHost {
  const context = new ProjectContext();
  const images = new ImageServiceImpl(context);
  return {
    context,
    project: new ProjectServiceImpl(context, images),
    images,
    keypoints: new KeypointServiceImpl(context),
    groundTruth: new GroundTruthServiceImpl(context),
    imports: new ImportServiceImpl(context),
    exports: new ExportServiceImpl(context),
    dispose: () => context.set(null),
  };
}
