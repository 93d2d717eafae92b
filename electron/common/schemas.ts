// Inputs checked both at the API's edge (api/contract.ts) and by the services that the CLI calls
// directly: one schema each, so both accept, refuse and normalise the same values.
import { z } from 'zod';
import { partNameSchema } from './names.js';
import { savedRedisUrlProblem } from './workers.js';

/** A file or folder path the user gave. */
export const pathSchema = z
  .string()
  .min(1, 'a path is required')
  .max(4096, 'at most 4096 characters')
  .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL character');

/**
 * Where a job computes (WorkersChoice in jobs.ts): a Redis server's URL, workers in the job's
 * process, GPUs of this machine (all, or their numbers), or unpinned worker processes.
 */
const redisWorkersSchema = z.strictObject({
  redis: z.string().regex(/^rediss?:\/\/./, 'expected redis://host:port or rediss://host:port'),
});
const gpusWorkersSchema = z.strictObject({
  gpus: z.union([z.literal('all'), z.array(z.number().int().min(0).max(255)).min(1).max(64)]),
});
export const workersChoiceSchema = z.union([
  redisWorkersSchema,
  z.strictObject({ local: z.number().int().min(1).max(64) }),
  gpusWorkersSchema,
  z.strictObject({ processes: z.number().int().min(1).max(64) }),
]);

/** The choices the app offers and keeps in the project (SavedWorkersChoice); never a password. */
export const savedWorkersSchema = z.union([
  z.strictObject({
    redis: z.string().superRefine((url, ctx) => {
      const problem = savedRedisUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  }),
  gpusWorkersSchema,
]);

/** A row id of the project (image, part, run, index). */
export const idSchema = z.number().int().nonnegative();

export const coordinateSchema = z.number().refine(Number.isFinite, 'must be a finite number');

/** COCO's v: 0 not labelled, 1 labelled but hidden, 2 visible. */
export const visibilitySchema = z.union([z.literal(0), z.literal(1), z.literal(2)]);

/** Stored in lower case, so that one colour compares equal however it was typed. */
export const colourSchema = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, "a colour like '#e6194b'")
  .transform((c) => c.toLowerCase());

export const skeletonEdgeSchema = z.strictObject({ from: idSchema, to: idSchema });

export const correctedPointSchema = z.strictObject({
  partId: idSchema,
  x: coordinateSchema,
  y: coordinateSchema,
  visibility: visibilitySchema,
});

/** Which part a run's index stands for; null gives it a new, unnamed part. */
export const indexAssignmentSchema = z.strictObject({ indexId: idSchema, partId: idSchema.nullable() });

/** What the user may change of a part; a null or empty name goes back to the default name. */
export const partChangeSchema = z.strictObject({
  name: partNameSchema.nullable().optional(),
  colour: colourSchema.optional(),
  hidden: z.boolean().optional(),
});

/** The most images one page of the grid holds. */
export const MAX_PAGE = 1000;

/** One page of the image grid: filters, order and where the page starts. */
export const imageQuerySchema = z.strictObject({
  offset: z.number().int().min(0).optional(),
  limit: z.number().int().min(0).max(MAX_PAGE).optional(),
  corrected: z.boolean().optional(),
  scoreBelow: coordinateSchema.optional(),
  hasGroundTruth: z.boolean().optional(),
  reviewed: z.boolean().optional(),
  split: z.enum(['train', 'test', 'none']).optional(),
  pathContains: z.string().optional(),
  sort: z.enum(['path', 'added', 'min-score']).optional(),
});

/** What a COCO export writes; the file is checked by each caller (the server only inside its folders). */
export const cocoExportOptionsSchema = z.strictObject({
  onlyCorrected: z.boolean().optional(),
  split: z.enum(['train', 'test']).optional(),
  withScores: z.boolean().optional(),
  groundTruth: z.boolean().optional(),
});
