// What a coordinator and the worker processes it started (`--gpus`) say to each other over Node's
// IPC channel (JSON). Each side checks what it receives, as it would a job from Redis: a worker
// process runs other code (a different build, a crash half-way through a message) and can be wrong.
import { z } from 'zod';
import { taskResultSchema, workerInfoSchema } from './tasks.js';

const request = z.number().int().nonnegative();

/** Coordinator → worker process. */
export const toWorkerSchema = z.discriminatedUnion('type', [
  /** The task is checked against taskSchema by the worker, which answers a bad one as unworkable. */
  z.strictObject({ type: z.literal('task'), id: z.string().min(1), task: z.unknown() }),
  /** The answer to a fetch: run data in base64, or null when the run no longer shares it. */
  z.strictObject({ type: z.literal('data'), request, base64: z.string().nullable() }),
]);
export type ToWorker = z.infer<typeof toWorkerSchema>;

/** Why a task was not done: refused and unworkable are for good; an error may pass on a retry. */
export const failureKinds = ['refused', 'unworkable', 'error'] as const;

/** Worker process → coordinator. */
export const toCoordinatorSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready'), info: workerInfoSchema }),
  z.strictObject({ type: z.literal('fetch'), request, run: z.string().max(100), field: z.string().max(100) }),
  z.strictObject({ type: z.literal('done'), id: z.string().min(1), result: taskResultSchema }),
  z.strictObject({
    type: z.literal('failed'),
    id: z.string().min(1),
    kind: z.enum(failureKinds),
    message: z.string().max(100_000),
  }),
]);
export type ToCoordinator = z.infer<typeof toCoordinatorSchema>;
