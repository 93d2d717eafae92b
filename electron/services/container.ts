// The one composition root: wires the services together around one ProjectContext. The app's main
// process, the headless server, the CLI and the tests each call createServices() once, so a
// behaviour reached from the UI and from `skp` is the same object.

import type { Services } from '../common/services.js';
import { EvaluationService } from './evaluationService.js';
import { ExportServiceImpl } from './exportService.js';
import { GroundTruthServiceImpl } from './groundTruthService.js';
import { ImageFileService } from './imageFileService.js';
import { ImageServiceImpl } from './imageService.js';
import { ImportServiceImpl } from './importService.js';
import { JobServiceImpl } from './jobs/jobService.js';
import { KeypointServiceImpl } from './keypointService.js';
import { ModelService } from './modelService.js';
import { ProjectContext } from './projectContext.js';
import { ProjectServiceImpl } from './projectService.js';
import { ReportService } from './reportService.js';
import { TrainingService } from './trainingService.js';
import { QualityService } from './qualityService.js';

export interface ServiceHost extends Services {
  /** The open project, for code in the main process that needs the database itself (jobs). */
  context: ProjectContext;
  /** Training, keypoint and evaluation jobs, each in a worker thread. */
  jobs: JobServiceImpl;
  /** Reading image files for the views. */
  imageFiles: ImageFileService;
  models: ModelService;
  training: TrainingService;
  evaluation: EvaluationService;
  /** The label checks. */
  quality: QualityService;
  /** A run's HTML report. */
  reports: ReportService;
  /** Closes the open project. */
  dispose(): void;
}

export function createServices(): ServiceHost {
  const context = new ProjectContext();
  const images = new ImageServiceImpl(context);
  const project = new ProjectServiceImpl(context, images);
  const jobs = new JobServiceImpl(context);
  return {
    context,
    project,
    images,
    keypoints: new KeypointServiceImpl(context),
    groundTruth: new GroundTruthServiceImpl(context),
    imports: new ImportServiceImpl(context, project),
    exports: new ExportServiceImpl(context),
    jobs,
    imageFiles: new ImageFileService(),
    models: new ModelService(project),
    training: new TrainingService(context, jobs),
    evaluation: new EvaluationService(context, project, images, jobs),
    quality: new QualityService(context),
    reports: new ReportService(context),
    dispose: () => context.set(null),
  };
}
