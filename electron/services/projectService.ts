// Creating, opening and describing projects. Opening for writing takes the project's lock
// (projectLock.ts), so that two processes never edit one project.

import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { badInput, ServiceError } from '../common/errors.js';
import { Emitter } from '../common/events.js';
import { projectNameSchema } from '../common/names.js';
import { idSchema, pathSchema, savedWorkersSchema } from '../common/schemas.js';
import type { CreateProjectRequest, CreateProjectResult, OpenProjectOptions } from '../common/project.js';
import type { ProjectInfo, RunSummary } from '../common/project.js';
import type { ProjectSettings, ProjectSettingsPatch } from '../common/project.js';
import type { ModelReference, ModelReferenceInput } from '../common/runs.js';
import type { ProjectService } from '../common/services.js';
import {
  createProjectDatabase,
  openProjectDatabase,
  removeProjectFiles,
  type ProjectDatabase,
} from '../db/database.js';
import { inspectProjectFile } from '../db/projectFile.js';
import { GroundTruthStore } from '../db/groundTruthStore.js';
import { ImageStore } from '../db/imageStore.js';
import { KeypointStore } from '../db/keypointStore.js';
import { PartStore } from '../db/partStore.js';
import { RunStore } from '../db/runStore.js';
import { readSettings, writeSettings } from '../db/settingsStore.js';
import { checkWorkers } from './distributed/gpus.js';
import type { ImageServiceImpl } from './imageService.js';
import type { ProjectContext } from './projectContext.js';
import { lockProject, lockedError, otherHolder } from './projectLock.js';
import { parseInput } from './validation.js';

const createSchema = z.strictObject({
  path: pathSchema,
  images: pathSchema.optional(),
  name: projectNameSchema.optional(),
});

const openOptionsSchema = z.strictObject({ readOnly: z.union([z.boolean(), z.literal('if-locked')]).optional() });

const settingsPatchSchema = z.strictObject({
  name: projectNameSchema.optional(),
  activeRunId: idSchema.nullable().optional(),
  modelId: idSchema.nullable().optional(),
  workers: savedWorkersSchema.nullable().optional(),
});

const modelSchema = z.strictObject({
  name: z.string().trim().min(1),
  path: pathSchema,
  fingerprint: z.string().nullable().optional(),
});

function fileBytes(file: string): number {
  return ['', '-wal'].reduce(
    (sum, suffix) => sum + (fs.statSync(file + suffix, { throwIfNoEntry: false })?.size ?? 0),
    0,
  );
}

/** Everything `skp info` and the app's project header show. */
export function describeProject(db: ProjectDatabase): ProjectInfo {
  const settings = readSettings(db);
  const runStore = new RunStore(db);
  const keypoints = new KeypointStore(db);
  const currentRunId = keypoints.currentRunId();
  const indices = currentRunId === null ? [] : keypoints.indices(currentRunId);
  const partStore = new PartStore(db);
  const parts = partStore.parts();
  const runs: RunSummary[] = runStore.runs().map((run) => ({
    id: run.id,
    name: run.name,
    status: run.status,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    settings: run.settings,
    indexCount: keypoints.indices(run.id).length,
    lastStep: runStore.checkpoints(run.id).at(-1)?.step ?? null,
    finalLoss: runStore.lastLoss(run.id)?.loss ?? null,
    matched: keypoints.isMatched(run.id),
  }));
  const gt = new GroundTruthStore(db).summary();
  const corrections = partStore.counts();
  return {
    path: db.path,
    schemaVersion: db.schemaVersion,
    readOnly: db.readOnly,
    readOnlyReason: db.readOnlyReason,
    settings,
    counts: {
      ...new ImageStore(db).count(),
      imagesWithGroundTruth: gt.images,
      groundTruthParts: gt.parts.length,
      runs: runs.length,
      parts: parts.length,
      indices: indices.length,
      predictedKeypoints: keypoints.predictedCount(currentRunId),
      correctedKeypoints: corrections.corrected,
      imagesWithCorrections: corrections.imagesWithCorrections,
    },
    model: settings.modelId === null ? null : runStore.model(settings.modelId),
    runs,
    currentRunId,
    parts,
    indices,
    fileBytes: fileBytes(db.path),
  };
}

export class ProjectServiceImpl implements ProjectService {
  private readonly changed = new Emitter<ProjectInfo | null>();
  readonly onDidChangeProject = this.changed.event;

  constructor(
    private readonly context: ProjectContext,
    private readonly images: ImageServiceImpl,
  ) {}

  async create(request: CreateProjectRequest): Promise<CreateProjectResult> {
    const valid = parseInput(createSchema, request, 'new project');
    const file = path.resolve(valid.path);
    if (valid.images !== undefined) {
      const folder = path.resolve(valid.images);
      if (!fs.existsSync(folder)) throw badInput(`image folder ${folder} does not exist`);
      if (!fs.statSync(folder).isDirectory())
        throw badInput(`${folder} is a file; give the folder that holds the images`);
    }
    const db = createProjectDatabase(file);
    let release: () => void = () => undefined;
    try {
      release = lockProject(file);
      db.write(() => writeSettings(db, { name: valid.name ?? path.basename(file, path.extname(file)) }));
      const imported = valid.images === undefined ? null : await this.images.importInto(db, valid.images);
      this.context.set(db, release);
      const info = describeProject(db);
      this.changed.fire(info);
      return { info, imported };
    } catch (e) {
      // A project that failed to come into being should not be left half-made on disk.
      db.close();
      release();
      removeProjectFiles(file);
      throw e;
    }
  }

  async open(file: string, options: OpenProjectOptions = {}): Promise<ProjectInfo> {
    const absolute = path.resolve(parseInput(z.string().min(1), file, 'project path'));
    const { readOnly } = parseInput(openOptionsSchema, options, 'open options');
    const { db, release } = readOnly === true ? this.openReadOnly(absolute) : this.openForWriting(absolute, readOnly);
    this.context.set(db, release);
    const info = describeProject(db);
    this.changed.fire(info);
    return info;
  }

  private openForWriting(file: string, readOnly: 'if-locked' | false | undefined) {
    // A missing file is openProjectDatabase's to explain, and one that cannot be written here
    // (other names, a read-only disk or folder) opens read-only with the reason: neither takes a lock.
    if (!fs.existsSync(file) || inspectProjectFile(file).readOnlyReason !== null) {
      return { db: openProjectDatabase(file), release: () => undefined };
    }
    const diskFull = `${file} is open read-only: its disk is full (writing needs room for a lock file and a journal)`;
    let release: () => void;
    try {
      release = lockProject(file);
    } catch (e) {
      // Reading needs no lock: a project held elsewhere, or on a full disk, is read as saved.
      const held = e instanceof ServiceError && (e.code === 'locked' || e.code === 'storage');
      if (readOnly !== 'if-locked' || !held) throw e;
      const reason = e.code === 'locked' ? `${e.message}. It is open here read-only` : diskFull;
      return { db: openProjectDatabase(file, undefined, reason), release: () => undefined };
    }
    try {
      return { db: openProjectDatabase(file), release };
    } catch (e) {
      release();
      if (readOnly !== 'if-locked' || !(e instanceof ServiceError) || e.code !== 'storage') throw e;
      return { db: openProjectDatabase(file, undefined, diskFull), release: () => undefined };
    }
  }

  private openReadOnly(file: string) {
    const holder = fs.existsSync(file) ? otherHolder(file) : null;
    const reason =
      holder === null
        ? `${file} is open read-only, as asked: open it again to change it`
        : `${lockedError(file, holder).message}. It is open here read-only`;
    return { db: openProjectDatabase(file, undefined, reason), release: () => undefined };
  }

  async close(): Promise<void> {
    if (!this.context.isOpen) return;
    this.context.set(null);
    this.changed.fire(null);
  }

  async current(): Promise<ProjectInfo | null> {
    return this.context.isOpen ? describeProject(this.context.db) : null;
  }

  async info(): Promise<ProjectInfo> {
    return describeProject(this.context.db);
  }

  async updateSettings(patch: ProjectSettingsPatch): Promise<ProjectSettings> {
    const valid = parseInput(settingsPatchSchema, patch, 'project settings');
    const db = this.context.writable;
    const runs = new RunStore(db);
    if (valid.activeRunId != null && !runs.run(valid.activeRunId)) {
      throw badInput(`project settings: activeRunId: the project has no run ${valid.activeRunId}`);
    }
    if (valid.activeRunId != null && !new KeypointStore(db).isMatched(valid.activeRunId)) {
      throw badInput(
        `project settings: activeRunId: run ${valid.activeRunId}'s indices do not stand for parts yet; match them first`,
      );
    }
    if (valid.modelId != null && !runs.model(valid.modelId)) {
      throw badInput(`project settings: modelId: the project has no model ${valid.modelId}`);
    }
    // GPUs that this machine does not have are refused now, not when a job starts on them.
    if (valid.workers) checkWorkers(valid.workers);
    db.write(() => writeSettings(db, valid));
    const settings = readSettings(db);
    this.changed.fire(describeProject(db));
    return settings;
  }

  async setModel(model: ModelReferenceInput): Promise<ModelReference> {
    const valid = parseInput(modelSchema, model, 'model');
    const db = this.context.writable;
    const reference = db.write(() => {
      const added = new RunStore(db).addModel(valid);
      writeSettings(db, { modelId: added.id });
      return added;
    });
    this.changed.fire(describeProject(db));
    return reference;
  }
}
