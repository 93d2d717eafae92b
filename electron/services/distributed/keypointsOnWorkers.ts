// `skp keypoints --workers`: the images still without keypoints go to the workers in chunks, one
// task per chunk, and the results come back here to be written by the caller (the project's only
// writer). Chunks are cut from the whole image list (by id), so the same images make the same
// chunk again after a restart, and a task id names the run's inputs and the chunk's bytes: a
// coordinator started again finds the tasks its predecessor left and takes their results.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ImageRecord } from '../../common/images.js';
import type { StoredAttentionMaps } from '../../db/attentionMapStore.js';
import type { RunSettings } from '../../../native/keypoints/settings.js';
import { bytesOf, floatsOf, type RunSpec, type Task, type TaskResult } from './tasks.js';
import { WorkerRates } from './workerRates.js';
import type { QueuedTask, WorkQueue } from './workQueue.js';

/** Chunks submitted at a time: bounds the image bytes held here and in Redis. */
const WINDOW = 32;
const RATE_EVERY_MS = 2000;

export interface KeypointsWork {
  modelHash: string;
  settings: RunSettings;
  tokens: Float32Array;
  /** The chosen token of each keypoint, in position order. */
  indices: number[];
  /** Every image of the project: chunks are cut from this list. */
  images: ImageRecord[];
  /** Ids of the images to find keypoints on. */
  todo: Set<number>;
  chunkSize: number;
}

export interface FoundKeypoints {
  image: ImageRecord;
  points: Array<{ y: number; x: number; score: number }>;
  maps: StoredAttentionMaps;
}

export interface KeypointsSink {
  write(found: FoundKeypoints): void;
  unreadable(image: ImageRecord, reason: string): void;
  /** After each chunk: images done so far (written or unreadable) and the rates. */
  progress(done: number, rates: WorkerRates): void;
  log(line: string): void;
  signal: AbortSignal;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export function keypointsRunKey(work: Pick<KeypointsWork, 'modelHash' | 'settings' | 'tokens' | 'indices'>): string {
  const tokens = new Uint8Array(work.tokens.buffer, work.tokens.byteOffset, work.tokens.byteLength);
  return sha256(JSON.stringify(['keypoints', work.modelHash, work.settings, work.indices]) + sha256(tokens)).slice(
    0,
    32,
  );
}

export async function findKeypointsOnWorkers(
  queue: WorkQueue,
  work: KeypointsWork,
  sink: KeypointsSink,
): Promise<void> {
  const run = keypointsRunKey(work);
  const spec: RunSpec = {
    modelHash: work.modelHash,
    settings: work.settings as unknown as RunSpec['settings'],
    indices: work.indices,
  };
  await queue.share(run, 'spec', new TextEncoder().encode(JSON.stringify(spec)));
  await queue.share(run, 'tokens', new Uint8Array(work.tokens.buffer, work.tokens.byteOffset, work.tokens.byteLength));

  const sorted = [...work.images].sort((a, b) => a.id - b.id);
  const byId = new Map(sorted.map((image) => [image.id, image]));
  const chunks: Array<{ n: number; images: ImageRecord[] }> = [];
  for (let n = 0; n * work.chunkSize < sorted.length; n++) {
    const images = sorted.slice(n * work.chunkSize, (n + 1) * work.chunkSize).filter((i) => work.todo.has(i.id));
    if (images.length > 0) chunks.push({ n, images });
  }
  const handled = new Set<number>();
  const rates = new WorkerRates();
  let lastRates = Date.now();
  let failed = false;

  const toTask = (chunk: { n: number; images: ImageRecord[] }): QueuedTask | null => {
    const images: Extract<Task, { kind: 'keypoints' }>['images'] = [];
    const identity = createHash('sha256');
    for (const image of chunk.images) {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(image.absolutePath);
      } catch (e) {
        sink.unreadable(image, `${image.absolutePath}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
        handled.add(image.id);
        continue;
      }
      identity.update(`${image.id}:${sha256(bytes)}\n`);
      images.push({ id: image.id, name: image.absolutePath, bytes: bytes.toString('base64') });
    }
    if (images.length === 0) return null;
    return {
      id: `kp.${run}.${chunk.n}.${identity.digest('hex').slice(0, 16)}`,
      task: { kind: 'keypoints', run, images },
    };
  };

  const onResult = (_id: string, result: TaskResult) => {
    if (failed || result.kind !== 'keypoints') return;
    for (const found of result.images) {
      const image = byId.get(found.id);
      // A chunk redone after its first worker died may come back twice: the first one counts.
      if (!image || !work.todo.has(found.id) || handled.has(found.id)) continue;
      handled.add(found.id);
      if ('unreadable' in found) {
        sink.unreadable(image, found.unreadable);
        continue;
      }
      const k = work.indices.length;
      const maps: StoredAttentionMaps = {
        side: found.side,
        peaks: floatsOf(found.peaks, `image ${found.id} map peaks`, k),
        values: bytesOf(found.values),
      };
      if (found.points.length !== k) {
        throw new Error(`worker ${result.worker} sent ${found.points.length} points for image ${found.id}, not ${k}`);
      }
      sink.write({ image, points: found.points, maps });
    }
    rates.add(result.worker, result.images.length);
    sink.progress(handled.size, rates);
    if (Date.now() - lastRates >= RATE_EVERY_MS) {
      lastRates = Date.now();
      sink.log(`workers: ${rates.text()}`);
    }
  };

  let next = 0;
  const lane = async () => {
    while (next < chunks.length && !failed) {
      const window = chunks.slice(next, next + WINDOW);
      next += WINDOW;
      const tasks = window.map(toTask).filter((t): t is QueuedTask => t !== null);
      await queue.runTasks(tasks, onResult, { signal: sink.signal, onNotice: sink.log });
    }
  };
  try {
    // Two windows in flight, so workers do not wait at a window's end for its slowest chunk.
    await Promise.all([lane(), lane()]);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await queue.unshare(run, 'tokens').catch(() => undefined);
    await queue.unshare(run, 'spec').catch(() => undefined);
  }
  if (rates.total > 0) sink.log(`workers: ${rates.text()}`);
}
