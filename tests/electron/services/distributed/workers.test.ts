// Keypoints and training spread over workers give what one process gives, bit for bit: two
// workers in the coordinator's process (in-memory queue), and two `skp worker` processes on a real
// redis-server with a password, one of them killed with SIGKILL in the middle of a chunk. The
// project is written only by the coordinator; the workers write nothing outside their cache.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job, Queue } from 'bullmq';
import { ImageStore } from '../../../../electron/db/imageStore.js';
import { bullConnection, PREFIX, QUEUE, RedisWorkQueue } from '../../../../electron/services/distributed/redisQueue.js';
import { redisTarget } from '../../../../electron/services/distributed/redisTarget.js';
import { RunCancelled } from '../../../../native/keypoints/method.js';
import {
  removeTempDirs,
  repoRoot,
  tempDir,
  TINY,
  withProject,
  writeModel,
  writeProject,
} from '../../../support/jobFixtures.js';
import { filesUnder, PASSWORD, RedisServer, startWorker, type WorkerProcess } from './cluster.js';
import { keypointsOf, runJob, trainedStateOf } from './jobs.js';

const IMAGES = 6;
/** Trained on one process: the reference of the training test and the run the keypoints tests use. */
const SETTINGS = { ...TINY, steps: 3, batchSize: 2 };
let dir: string;
let model: string;
let untrained: string;
let trained: string;
let redis: RedisServer;
let workerCache: string;
const workers: WorkerProcess[] = [];

function copyProject(from: string, name: string): string {
  const to = path.join(dir, name);
  fs.copyFileSync(from, to);
  return to;
}

let reference: ReturnType<typeof keypointsOf>;

beforeAll(async () => {
  dir = tempDir('skp-distributed-');
  process.env.SKP_CACHE_DIR = path.join(dir, 'graph-cache');
  // The coordinator's password when the URL has none (the workers get theirs the same way).
  process.env.SKP_REDIS_PASSWORD = PASSWORD;
  workerCache = path.join(dir, 'worker-cache');
  model = writeModel(dir);
  untrained = await writeProject(dir, IMAGES);
  trained = copyProject(untrained, 'trained.skp');
  const training = await runJob(trained, { kind: 'train', model: { path: model }, settings: SETTINGS, backend: 'cpu' });
  expect(training.status.state).toBe('done');
  redis = await RedisServer.start();
  workers.push(
    ...(await Promise.all([0, 1].map(() => startWorker(redis.url, model, workerCache, ['--lock-seconds', '2'])))),
  );
  const single = copyProject(trained, 'single.skp');
  expect((await runJob(single, { kind: 'keypoints', backend: 'cpu' })).status.state).toBe('done');
  reference = keypointsOf(single);
  expect(reference.points).toHaveLength(IMAGES * (TINY.keypoints as number));
  expect(reference.maps).toHaveLength(IMAGES);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await redis?.stop();
  removeTempDirs();
});

describe('keypoints on workers', () => {
  it('two workers in this process find exactly the keypoints one process finds', async () => {
    const project = copyProject(trained, 'local.skp');
    const { status, log } = await runJob(project, { kind: 'keypoints', backend: 'cpu', workers: { local: 2 } });
    expect(status.state).toBe('done');
    expect(keypointsOf(project)).toEqual(reference);
    expect(log.filter((l) => l.startsWith('local worker'))).toHaveLength(2);
  });

  it('two worker processes on Redis find exactly the same keypoints, and write nothing outside their cache', async () => {
    const project = copyProject(trained, 'redis.skp');
    const { status, log } = await runJob(project, {
      kind: 'keypoints',
      backend: 'cpu',
      chunkSize: 3,
      workers: { redis: `redis://:${PASSWORD}@127.0.0.1:${redis.port}` },
    });
    expect(status.state, log.join('\n')).toBe('done');
    expect(keypointsOf(project)).toEqual(reference);
    expect(log.find((l) => l.includes('2 workers connected'))).toBeDefined();
    expect(log.find((l) => /^workers: .*total [\d.]+ images\/s$/.test(l))).toBeDefined();
    expect(workers.map((w) => w.output.join('')).join('')).toMatch(/done: vote \d+ of run/);
    for (const worker of workers) {
      expect(worker.output.join('')).toMatch(/done: \d images of run/);
      expect(filesUnder(worker.home)).toEqual([]);
    }
  });

  it('a worker killed in the middle of a chunk leaves its images to the other: complete, each once, the same', async () => {
    const project = copyProject(trained, 'killed.skp');
    const [victim] = workers;
    const before = victim!.output.join('').split('working on').length;
    const job = runJob(project, { kind: 'keypoints', backend: 'cpu', chunkSize: 2, workers: { redis: redis.url } });
    await victim!.waitFor(new RegExp(`(working on[^]*){${before}}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await victim!.stop();
    const { status } = await job;
    expect(status.state).toBe('done');
    expect(status.result).toMatchObject({ images: IMAGES, predicted: IMAGES, withAttentionMaps: IMAGES });
    expect(keypointsOf(project)).toEqual(reference);
    // A worker joins for the next tests, as workers may between runs.
    workers[0] = await startWorker(redis.url, model, workerCache, ['--lock-seconds', '2']);
  });

  it('Redis restarting empty in the middle of a run loses nothing written, and the run carries on', async () => {
    const project = copyProject(trained, 'restarted.skp');
    const job = runJob(project, { kind: 'keypoints', backend: 'cpu', chunkSize: 1, workers: { redis: redis.url } });
    const before = workers.map((w) => w.output.join('').split('done:').length);
    await Promise.race(workers.map((w, n) => w.waitFor(new RegExp(`(done:[^]*){${before[n]}}`))));
    await redis.restart();
    const { status, log } = await job;
    expect(status.state, log.join('\n')).toBe('done');
    expect(
      log.find((l) => /answers again|no longer holds \d+ of this run's tasks/.test(l)),
      log.join('\n'),
    ).toBeDefined();
    expect(keypointsOf(project)).toEqual(reference);
  });
});

describe('a coordinator that quits', () => {
  it('keeps what it wrote; the same command again finishes the rest, with the same keypoints', async () => {
    const project = copyProject(trained, 'quit.skp');
    const coordinator = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'bin', 'skp.mjs'),
        'keypoints',
        project,
        '--workers',
        redis.url,
        '--chunk',
        '1',
        '--backend',
        'cpu',
      ],
      { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    const written = new Promise<void>((resolve, reject) => {
      coordinator.stdout!.on('data', (d: Buffer) => {
        output.push(d.toString());
        if (/keypoints, image [1-9]\d*\/\d+/.test(output.join(''))) resolve();
      });
      coordinator.once('exit', (code) => reject(new Error(`skp keypoints ended (${code}) first:\n${output.join('')}`)));
    });
    await written;
    coordinator.kill('SIGKILL');
    await new Promise((resolve) => coordinator.once('exit', resolve));
    const writtenAt = () =>
      withProject(project, (db) =>
        db.sql.prepare('SELECT image_id, created_at FROM attention_maps ORDER BY image_id').all(),
      );
    const kept = writtenAt();
    expect(kept.length).toBeGreaterThan(0);

    const { status } = await runJob(project, {
      kind: 'keypoints',
      backend: 'cpu',
      chunkSize: 1,
      workers: { redis: redis.url },
    });
    expect(status.state).toBe('done');
    expect(keypointsOf(project)).toEqual(reference);
    // What the first coordinator wrote is still there, as it was written.
    expect(writtenAt()).toEqual(expect.arrayContaining(kept));
  });
});

describe('what workers accept', () => {
  it('a worker refuses a run whose model hashes differently, and the coordinator says why', async () => {
    const queue = await RedisWorkQueue.connect(redisTarget(redis.url));
    try {
      const run = 'ab'.repeat(16);
      const spec = { modelHash: '0'.repeat(64), settings: TINY, indices: [0, 1, 2] };
      await queue.share(run, 'spec', new TextEncoder().encode(JSON.stringify(spec)));
      const image = fs.readFileSync(withProject(trained, (db) => new ImageStore(db).all()[0]!.absolutePath));
      const controller = new AbortController();
      const notices: string[] = [];
      const task = {
        kind: 'keypoints' as const,
        run,
        images: [{ id: 1, name: 'a.png', bytes: image.toString('base64') }],
      };
      const running = queue.runTasks([{ id: `kp.${run}.0`, task }], () => undefined, {
        signal: controller.signal,
        onNotice: (line) => {
          notices.push(line);
          if (line.includes('refuses')) controller.abort();
        },
      });
      await expect(running).rejects.toThrow(RunCancelled);
      expect(notices.join('\n')).toMatch(
        /refuses this run: the run's model has content hash 0{16}…, but this worker's model .* has [0-9a-f]{16}…/,
      );
    } finally {
      await queue.close();
    }
  });

  it('a job whose payload is not a task fails at once, saying what is wrong', async () => {
    const connection = bullConnection(redisTarget(redis.url), { blocking: false });
    const bull = new Queue(QUEUE, { connection, prefix: PREFIX });
    try {
      await bull.add(
        'keypoints',
        { kind: 'keypoints', run: 'not-a-run', images: [] },
        { jobId: 'junk-1', attempts: 3 },
      );
      while ((await bull.getJobState('junk-1')) !== 'failed') await new Promise((r) => setTimeout(r, 100));
      const job = (await Job.fromId(bull, 'junk-1'))!;
      expect(job.failedReason).toMatch(/payload is not a task \(run: a run key is 32 hexadecimal digits\)/);
      expect(job.attemptsMade).toBe(1);
    } finally {
      await bull.close();
      connection.disconnect();
    }
  });
});

describe('training on workers', () => {
  it('3 steps of batch 2 on two worker processes end with the tokens of one process, bit for bit', async () => {
    const two = copyProject(untrained, 'train-two.skp');
    const { status, log } = await runJob(two, {
      kind: 'train',
      model: { path: model },
      settings: SETTINGS,
      backend: 'cpu',
      workers: { redis: redis.url },
    });
    expect(status.state, log.join('\n')).toBe('done');
    const expected = trainedStateOf(trained);
    const got = trainedStateOf(two);
    expect(got.step).toBe(3);
    expect(got.tokens.equals(expected.tokens)).toBe(true);
    expect(got.optimizer.equals(expected.optimizer)).toBe(true);
    expect(got.losses).toEqual(expected.losses);
    expect(log.filter((l) => /^step \d workers: /.test(l))).toHaveLength(3);
  });
});
