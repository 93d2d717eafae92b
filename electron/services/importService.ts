// Importing labelled layouts users already have (COCO keypoints JSON, CUB-200-2011).

import { z } from 'zod';
import { Emitter } from '../common/events.js';
import type { ImportProgress } from '../common/images.js';
import path from 'node:path';
import type { ProjectInfo } from '../common/project.js';
import type { ImportService, ProjectService } from '../common/services.js';
import type {
  CocoImportRequest,
  CubImportRequest,
  LabelledImportResult,
  NewProjectImportRequest,
} from '../common/transfer.js';
import { pathSchema } from '../common/schemas.js';
import { removeProjectFiles } from '../db/database.js';
import { readCocoFile } from './import/coco.js';
import { readCubFolder } from './import/cub.js';
import { storeLabelledDataset } from './import/labelledDataset.js';
import type { ProjectContext } from './projectContext.js';
import { parseInput } from './validation.js';

const cocoRequest = z.strictObject({ file: pathSchema, imagesRoot: pathSchema.optional() });
const cubRequest = z.strictObject({ folder: pathSchema });

export class ImportServiceImpl implements ImportService {
  private readonly progress = new Emitter<ImportProgress>();
  readonly onImportProgress = this.progress.event;

  constructor(
    private readonly context: ProjectContext,
    private readonly project: ProjectService,
  ) {}

  async importCoco(request: CocoImportRequest): Promise<LabelledImportResult> {
    const valid = parseInput(cocoRequest, request, 'COCO import');
    const db = this.context.writable;
    const dataset = readCocoFile(valid.file, valid.imagesRoot);
    return storeLabelledDataset(db, dataset, (p) => this.progress.fire(p));
  }

  async importCub(request: CubImportRequest): Promise<LabelledImportResult> {
    const valid = parseInput(cubRequest, request, 'CUB import');
    const db = this.context.writable;
    const dataset = readCubFolder(valid.folder);
    return storeLabelledDataset(db, dataset, (p) => this.progress.fire(p));
  }

  async importAsNewProject(
    request: NewProjectImportRequest,
  ): Promise<{ info: ProjectInfo; imported: LabelledImportResult }> {
    const source = request.kind === 'coco' ? request.file : request.folder;
    const created = await this.project.create({
      path: request.path,
      name: path.basename(source, path.extname(source)),
    });
    try {
      const imported =
        request.kind === 'coco'
          ? await this.importCoco({ file: request.file, imagesRoot: request.imagesRoot })
          : await this.importCub({ folder: request.folder });
      return { info: await this.project.info(), imported };
    } catch (error) {
      // The project was made only to hold this dataset: a failed import leaves nothing behind.
      await this.project.close();
      removeProjectFiles(created.info.path);
      throw error;
    }
  }
}
