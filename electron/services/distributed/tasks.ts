// What travels between a coordinator and its workers, and the checks every side applies to what
// it receives (job payloads and results come from the network: outside input). Images travel as
// their files' bytes, so a worker needs no access to the user's disk; arrays of float32 travel
// as little-endian bytes in base64.
import { z } from 'zod';

/** A run's key: a hash of everything that decides its results (see runKeys.ts). */
const runKey = z.string().regex(/^[0-9a-f]{32}$/, 'a run key is 32 hexadecimal digits');
const bytes = z.base64().max(200 * 1024 * 1024);
const count = z.number().int().nonnegative();

const imageSchema = z.strictObject({
  id: z.number().int().positive(),
  /** The file's name on the coordinator's disk, for messages only. */
  name: z.string().min(1).max(4096),
  bytes,
});

export const taskSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('keypoints'), run: runKey, images: z.array(imageSchema).min(1).max(1000) }),
  z.strictObject({
    kind: z.literal('gradient'),
    run: runKey,
    /** The optimiser step whose tokens (run data `tokens.<step>`) the iteration uses. */
    step: count,
    /** The iteration of the run's schedule: it decides the draws. */
    iteration: count,
    image: imageSchema,
  }),
  z.strictObject({
    kind: z.literal('vote'),
    run: runKey,
    /** The image's place in the index vote: it decides the noise. */
    vote: count,
    image: imageSchema,
  }),
]);
export type Task = z.infer<typeof taskSchema>;

const pointSchema = z.strictObject({ y: z.number(), x: z.number(), score: z.number() });
const workerSchema = z.string().min(1).max(300);

export const keypointsResultSchema = z.strictObject({
  kind: z.literal('keypoints'),
  worker: workerSchema,
  seconds: z.number().nonnegative(),
  images: z.array(
    z.union([
      z.strictObject({
        id: z.number().int().positive(),
        points: z.array(pointSchema).max(1000),
        /** The attention maps as the project stores them (storedMaps). */
        side: z.number().int().positive().max(4096),
        peaks: bytes,
        values: bytes,
      }),
      z.strictObject({ id: z.number().int().positive(), unreadable: z.string().max(10_000) }),
    ]),
  ),
});
export type KeypointsResult = z.infer<typeof keypointsResultSchema>;

export const gradientResultSchema = z.strictObject({
  kind: z.literal('gradient'),
  worker: workerSchema,
  seconds: z.number().nonnegative(),
  loss: z.number(),
  sharpening: z.number(),
  equivariance: z.number(),
  gradient: bytes,
});
export type GradientResult = z.infer<typeof gradientResultSchema>;

export const voteResultSchema = z.strictObject({
  kind: z.literal('vote'),
  worker: workerSchema,
  seconds: z.number().nonnegative(),
  /** The tokens the image selects, in the selection graph's order. */
  selected: z.array(z.number().int().nonnegative()).max(1000),
});
export type VoteResult = z.infer<typeof voteResultSchema>;

export const taskResultSchema = z.discriminatedUnion('kind', [
  keypointsResultSchema,
  gradientResultSchema,
  voteResultSchema,
]);
export type TaskResult = z.infer<typeof taskResultSchema>;

/** Stored once per run for every worker: what decides the results besides the tokens. */
export const runSpecSchema = z.strictObject({
  modelHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Run settings (validated against the worker's model by settingsForModel). */
  settings: z.record(z.string(), z.json()),
  /** Keypoints tasks: the chosen token of each keypoint, in position order (votes have none yet). */
  indices: z.array(z.number().int().nonnegative()).max(1000).optional(),
});
export type RunSpec = z.infer<typeof runSpecSchema>;

/** What a worker says about itself while it is connected. */
export const workerInfoSchema = z.strictObject({
  id: workerSchema,
  host: z.string().max(300),
  pid: z.number().int(),
  backend: z.string().max(1000),
  /** Free memory when it started: the GPU's where the backend reports it (native CUDA), else the host's. */
  freeMemoryBytes: z.number().nonnegative(),
  freeMemoryOf: z.enum(['GPU', 'host']),
  modelPath: z.string().max(4096),
  modelHash: z.string().regex(/^[0-9a-f]{64}$/),
  gpu: z.number().int().nonnegative().nullable(),
});
export type WorkerInfo = z.infer<typeof workerInfoSchema>;

export function toBase64(data: Float32Array | Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

export function bytesOf(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

/** float32 values from base64 or bytes; `where` names them in the error when the length is wrong. */
export function floatsOf(data: string | Uint8Array, where: string, expected?: number): Float32Array {
  const raw = typeof data === 'string' ? Buffer.from(data, 'base64') : data;
  if (raw.length % 4 !== 0 || (expected !== undefined && raw.length !== expected * 4)) {
    throw new RangeError(`${where}: ${raw.length} bytes are not ${expected ?? 'a whole number of'} float32 values`);
  }
  const out = new Float32Array(raw.length / 4);
  new Uint8Array(out.buffer).set(raw);
  return out;
}
