// Writing exports to disk. The file appears whole or not at all: it is written next to the
// target under a temporary name and renamed into place.

import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { badInput, conflict } from '../common/errors.js';
import { storageFailure } from '../db/storageErrors.js';
import type { ExportService } from '../common/services.js';
import type { CocoDocument } from '../common/coco.js';
import type { CocoExportRequest, CocoExportResult, CsvExportRequest, CsvExportResult } from '../common/transfer.js';
import { groundTruthDocument, keypointsDocument } from './export/cocoDocument.js';
import { csvFromCoco } from './export/csvDocument.js';
import type { ProjectContext } from './projectContext.js';
import { parseInput } from './validation.js';
import { cocoExportOptionsSchema, pathSchema } from '../common/schemas.js';

const requestSchema = z.strictObject({
  file: pathSchema,
  ...cocoExportOptionsSchema.shape,
  overwrite: z.boolean().optional(),
});
const csvRequestSchema = requestSchema.omit({ withScores: true });

/** Checks that `file` can be written before any work is done. */
export function checkOutputFile(file: string): string {
  const absolute = path.resolve(file);
  const folder = path.dirname(absolute);
  if (!fs.existsSync(folder)) throw badInput(`cannot write ${absolute}: folder ${folder} does not exist`);
  if (!fs.statSync(folder).isDirectory()) throw badInput(`cannot write ${absolute}: ${folder} is not a folder`);
  if (fs.statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) {
    throw badInput(`cannot write ${absolute}: it is a folder`);
  }
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch {
    throw badInput(`cannot write ${absolute}: folder ${folder} is not writable`);
  }
  return absolute;
}

/** Writes `text` to `file` atomically (temporary file in the same folder, then rename). */
export function writeFileAtomically(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temporary, text);
    fs.renameSync(temporary, file);
  } catch (e) {
    fs.rmSync(temporary, { force: true });
    throw storageFailure(e, file) ?? badInput(`cannot write ${file}: ${(e as Error).message}`);
  }
}

export class ExportServiceImpl implements ExportService {
  constructor(private readonly context: ProjectContext) {}

  async exportCoco(request: CocoExportRequest): Promise<CocoExportResult> {
    const started = performance.now();
    const valid = parseInput(requestSchema, request, 'COCO export');
    const { file, document } = this.document(valid);
    const text = JSON.stringify(document) + '\n';
    writeFileAtomically(file, text);
    return {
      file,
      images: document.images.length,
      annotations: document.annotations.length,
      keypointNames: document.categories[0]?.keypoints ?? [],
      bytes: Buffer.byteLength(text),
      seconds: (performance.now() - started) / 1000,
    };
  }

  async exportCsv(request: CsvExportRequest): Promise<CsvExportResult> {
    const started = performance.now();
    const valid = parseInput(csvRequestSchema, request, 'CSV export');
    // The app's keypoints carry their sources and scores; the ground truth has none.
    const { file, document } = this.document({ ...valid, withScores: !valid.groundTruth });
    const table = csvFromCoco(document);
    writeFileAtomically(file, table.text);
    return {
      file,
      images: new Set(document.annotations.map((a) => a.image_id)).size,
      rows: table.rows,
      keypointNames: document.categories[0]?.keypoints ?? [],
      bytes: Buffer.byteLength(table.text),
      seconds: (performance.now() - started) / 1000,
    };
  }

  /** The COCO document an export of either format writes, once its file is known to be writable. */
  private document(valid: z.infer<typeof requestSchema>): { file: string; document: CocoDocument } {
    if (valid.overwrite === false && fs.statSync(path.resolve(valid.file), { throwIfNoEntry: false })?.isFile()) {
      throw conflict(`${path.resolve(valid.file)} already exists; export again with overwrite to replace it`);
    }
    const file = checkOutputFile(valid.file);
    const build = valid.groundTruth ? groundTruthDocument : keypointsDocument;
    return { file, document: build(this.context.db, valid, path.dirname(file)) };
  }
}
