// The one typed API between the UI and the services. Every method is listed here with the schema its
// input must satisfy (checked once, at the transport edge) and the type it returns; every event the
// services push to the UI is listed in ApiEvents. Electron IPC and HTTP/WebSocket both carry exactly this.
import { z } from 'zod';
import type * as T from './types.js';
import { projectNameSchema } from '../names.js';
import {
  cocoExportOptionsSchema,
  correctedPointSchema,
  imageQuerySchema,
  idSchema,
  indexAssignmentSchema,
  partChangeSchema,
  pathSchema,
  skeletonEdgeSchema,
  savedWorkersSchema,
} from '../schemas.js';

/** `bytes` methods return a file; HTTP sends the raw body, IPC a Uint8Array. */
export type ResultKind = 'json' | 'bytes';

export interface MethodSpec<I extends z.ZodType, O> {
  input: I;
  kind: ResultKind;
  /** Phantom: carries the result type, never read at run time. */
  output?: O;
}

function takes<I extends z.ZodType>(input: I) {
  return {
    returns: <O>(): MethodSpec<I, O> => ({ input, kind: 'json' }),
    returnsFile: (): MethodSpec<I, T.ImageFile> => ({ input, kind: 'bytes' }),
  };
}

const nothing = z.object({}).strict();
const path = pathSchema;
const id = idSchema;
const edges = z.array(skeletonEdgeSchema);

export const pickKinds = ['folder', 'project', 'new-project', 'coco-file', 'model', 'export-file'] as const;
export type PickKind = (typeof pickKinds)[number];

export const methods = {
  'app.info': takes(nothing).returns<T.AppInfo>(),
  /** Browses the allowed folders (for the browser, which has no system dialog). */
  'files.list': takes(z.object({ path: path.optional() }).strict()).returns<T.FolderListing>(),
  /** Desktop only: the system dialog. The picked path becomes an allowed folder. Null when cancelled. */
  'files.pick': takes(z.object({ kind: z.enum(pickKinds), title: z.string() }).strict()).returns<string | null>(),

  'projects.recent': takes(nothing).returns<T.RecentProject[]>(),
  'projects.create': takes(
    z.object({ path, images: path.optional(), name: projectNameSchema.optional() }).strict(),
  ).returns<T.CreateProjectResult>(),
  /** `readOnly`: to look at a project open for changes in another window or process. */
  'projects.open': takes(z.object({ path, readOnly: z.boolean().optional() }).strict()).returns<T.ProjectInfo>(),
  /** A new project holding a labelled dataset. */
  'projects.import': takes(
    z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('coco'), path, file: path, imagesRoot: path.optional() }).strict(),
      z.object({ kind: z.literal('cub'), path, folder: path }).strict(),
    ]),
  ).returns<{ info: T.ProjectInfo; imported: T.LabelledImportResult }>(),
  'projects.current': takes(nothing).returns<T.ProjectInfo | null>(),
  'projects.close': takes(nothing).returns<null>(),

  /** `settings`: the run settings the memory estimate assumes (those left out are the reference's). */
  'model.check': takes(
    z.object({ path, settings: z.record(z.string(), z.union([z.number(), z.boolean()])).optional() }).strict(),
  ).returns<T.ModelCheck>(),
  'model.set': takes(z.object({ path }).strict()).returns<T.ModelReference>(),

  /** The settings a run takes, with the reference defaults and a short explanation each. */
  'training.settings': takes(nothing).returns<T.SettingDescription[]>(),
  'training.current': takes(nothing).returns<T.TrainingView | null>(),
  'training.start': takes(
    z.object({ settings: z.record(z.string(), z.union([z.number(), z.boolean()])) }).strict(),
  ).returns<T.JobStatus>(),
  /** Where the project's training and keypoint jobs compute (null: in the job, on this machine); kept in the project. */
  'training.setWorkers': takes(
    z.object({ workers: savedWorkersSchema.nullable() }).strict(),
  ).returns<T.ProjectSettings>(),
  /** Continues a cancelled, failed or interrupted run from its last checkpoint. */
  'training.resume': takes(z.object({ runId: id }).strict()).returns<T.JobStatus>(),
  /** Chooses the run's indices (if not yet) and finds the keypoints of every image; corrections stay. */
  'keypoints.find': takes(z.object({ runId: id.optional() }).strict()).returns<T.JobStatus>(),
  'jobs.list': takes(nothing).returns<T.JobStatus[]>(),
  'jobs.cancel': takes(z.object({ jobId: z.string().min(1) }).strict()).returns<T.JobStatus>(),

  'images.list': takes(imageQuerySchema).returns<T.ImageRowPage>(),
  /** The review queue: marks images reviewed, or not yet reviewed. Returns how many changed. */
  'images.setReviewed': takes(z.object({ ids: z.array(id).min(1), reviewed: z.boolean() }).strict()).returns<number>(),
  'images.get': takes(z.object({ id }).strict()).returns<T.ImageDetail>(),
  /** The image file; `maxSide` asks for a smaller copy (thumbnails). Always in the stored pixel orientation. */
  'images.file': takes(
    z.object({ id, maxSide: z.number().int().positive().max(8192).optional() }).strict(),
  ).returnsFile(),

  /** Places points by hand; they win over predictions from then on. */
  'keypoints.correct': takes(
    z
      .object({
        imageId: id,
        points: z.array(correctedPointSchema).min(1),
      })
      .strict(),
  ).returns<T.Keypoint[]>(),
  /** Drops hand corrections: those points show the model's prediction again. */
  'keypoints.uncorrect': takes(z.object({ imageId: id, partIds: z.array(id).min(1) }).strict()).returns<number>(),

  'parts.list': takes(nothing).returns<T.Part[]>(),
  'parts.update': takes(z.strictObject({ id, ...partChangeSchema.shape })).returns<T.Part>(),
  /** `ids`: every part, in the new display order. */
  'parts.reorder': takes(z.object({ ids: z.array(id) }).strict()).returns<T.Part[]>(),
  /** Per part: how consistently the current run's index for it lands as a keypoint. */
  'parts.consistency': takes(nothing).returns<T.IndexConsistency[]>(),
  /** Which part each index of a run would stand for, by where their keypoints land; changes nothing. */
  'runs.proposeMatch': takes(z.object({ runId: id }).strict()).returns<T.MatchProposal>(),
  /** The user's accepted match: the run's indices stand for these parts and the run feeds the predictions. */
  'runs.adopt': takes(
    z
      .object({
        runId: id,
        assignments: z.array(indexAssignmentSchema).min(1),
      })
      .strict(),
  ).returns<T.ProjectInfo>(),
  /** Shows the predictions of another matched run; parts and corrections stay as they are. */
  'runs.activate': takes(z.object({ runId: id }).strict()).returns<T.ProjectInfo>(),
  'skeleton.get': takes(nothing).returns<T.SkeletonEdge[]>(),
  'skeleton.set': takes(z.object({ edges }).strict()).returns<T.SkeletonEdge[]>(),

  'groundTruth.summary': takes(nothing).returns<T.GroundTruthSummary>(),
  'attention.map': takes(z.object({ imageId: id, partId: id }).strict()).returns<T.HeatMap>(),
  /** Fits the regressor to the ground truth and measures it (waits for the job). */
  'evaluation.run': takes(nothing).returns<T.EvaluationReport>(),
  /** The last evaluation stored with the current run, if any. */
  'evaluation.last': takes(nothing).returns<T.EvaluationReport | null>(),
  /** The label checks: points far from where their part usually sits, skeleton edges of odd length. */
  'quality.check': takes(nothing).returns<T.QualityReport>(),
  'export.coco': takes(
    z.strictObject({
      file: path,
      ...cocoExportOptionsSchema.shape,
      /** Replace a file that is there already; without it such a file is a 'conflict', for the UI to ask. */
      overwrite: z.boolean().default(false),
    }),
  ).returns<T.CocoExportResult>(),
  /** The same selection as one CSV table, a row per image and part (sources and scores included). */
  'export.csv': takes(
    z.strictObject({
      file: path,
      ...cocoExportOptionsSchema.omit({ withScores: true }).shape,
      overwrite: z.boolean().default(false),
    }),
  ).returns<T.CsvExportResult>(),
};

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type ParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = Exclude<Methods[M]['output'], undefined>;

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name);
}

/** Everything the services push to the UI (WebSocket messages / IPC events). */
export interface ApiEvents {
  /** First message of every connection: a changed serverId means the server restarted. */
  hello: { serverId: string };
  'job.progress': T.JobProgressEvent;
  'job.state': T.JobStateEvent;
  'import.progress': T.ImportProgress;
  /** The open project changed (opened, closed, renamed, new run): refetch it. */
  'project.changed': { project: T.ProjectInfo | null };
  /** Another window or client edited data of the open project: refetch that part. */
  'project.edited': { part: 'keypoints' | 'parts' | 'skeleton' | 'reviews'; imageId?: number };
}

export type EventName = keyof ApiEvents;
export type ApiEvent = { [E in EventName]: { event: E; data: ApiEvents[E] } }[EventName];

/** The API as the UI holds it, whatever the transport. */
export interface KeypointApi {
  call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>>;
  on<E extends EventName>(event: E, handler: (data: ApiEvents[E]) => void): () => void;
}
