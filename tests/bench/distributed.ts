// Work-queue benchmark: what distributing costs per task, without the engine, so it can be set
// against an image's compute time (about 0.9 s per image at full size on one GPU). Tasks carry a
// 300 KB image as bytes and come back with a result the size of 10 stored attention maps, through
// the in-process queue and through BullMQ on a local redis-server (skipped when not installed).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { MemoryWorkQueue } from '../../electron/services/distributed/memoryQueue.js';
import { RedisTaskSource, RedisWorkQueue } from '../../electron/services/distributed/redisQueue.js';
import { redisTarget } from '../../electron/services/distributed/redisTarget.js';
import type { Task, TaskResult, WorkerInfo } from '../../electron/services/distributed/tasks.js';
import type { TaskSource, WorkQueue } from '../../electron/services/distributed/workQueue.js';

const TASKS = 200;
const WORKERS = 2;
const image = crypto.randomBytes(300 * 1024).toString('base64');
const maps = crypto.randomBytes(10 * 64 * 64).toString('base64');
const peaks = crypto.randomBytes(40).toString('base64');
const run = 'cd'.repeat(16);

const answer = async (task: Task): Promise<TaskResult> => ({
  kind: 'keypoints',
  worker: 'bench',
  seconds: 0,
  images: (task.kind === 'keypoints' ? task.images : []).map((i) => ({
    id: i.id,
    points: Array.from({ length: 10 }, () => ({ y: 0.5, x: 0.5, score: 1 })),
    side: 64,
    peaks,
    values: maps,
  })),
});

const info = (n: number): WorkerInfo => ({
  id: `bench#${n}`,
  host: os.hostname(),
  pid: process.pid,
  backend: 'none',
  freeMemoryBytes: 0,
  freeMemoryOf: 'host',
  modelPath: '-',
  modelHash: '0'.repeat(64),
  gpu: null,
});

async function measure(label: string, queue: WorkQueue, sources: TaskSource[]): Promise<void> {
  const serving = sources.map((source, n) => source.serve(info(n), answer));
  const tasks = Array.from({ length: TASKS }, (_, n) => ({
    id: `bench.${run}.${n}.${crypto.randomUUID()}`,
    task: { kind: 'keypoints' as const, run, images: [{ id: n + 1, name: 'bench.jpg', bytes: image }] },
  }));
  const t0 = performance.now();
  await queue.runTasks(tasks, () => undefined);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `  ${label}: ${TASKS} tasks of one 300 KB image on ${WORKERS} workers in ${seconds.toFixed(2)} s, ` +
      `${(TASKS / seconds).toFixed(0)} tasks/s, ${((seconds / TASKS) * 1000 * WORKERS).toFixed(1)} ms per task per worker`,
  );
  // One task at a time, as a training step of batch 1 waits for its gradient: the latency a
  // coordinator adds to each round, compute aside.
  const rounds = 20;
  const r0 = performance.now();
  for (let n = 0; n < rounds; n++) {
    const id = `bench.${run}.round${n}.${crypto.randomUUID()}`;
    await queue.runTasks(
      [{ id, task: { kind: 'keypoints', run, images: [{ id: 1, name: 'bench.jpg', bytes: image }] } }],
      () => undefined,
    );
  }
  console.log(`  ${label}: one task at a time, ${((performance.now() - r0) / rounds).toFixed(1)} ms per round trip`);
  await Promise.all(sources.map((s) => s.stop()));
  await Promise.all(serving);
  await queue.close();
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export async function benchDistributed(): Promise<void> {
  console.log('work-queue bench — overhead per task, no engine');
  const memory = new MemoryWorkQueue(WORKERS);
  await measure('in-process queue', memory, [memory.source(), memory.source()]);
  if (!fs.existsSync('/usr/bin/redis-server')) {
    console.log('  BullMQ on Redis: skipped (no /usr/bin/redis-server; apt-get install redis-server)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-bench-redis-'));
  const port = await freePort();
  const server = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  try {
    await new Promise<void>((resolve) =>
      server.stdout!.on('data', (d: Buffer) => d.toString().includes('Ready to accept') && resolve()),
    );
    const target = redisTarget(`redis://127.0.0.1:${port}`, {});
    const queue = await RedisWorkQueue.connect(target);
    await measure(
      'BullMQ on a local Redis',
      queue,
      Array.from({ length: WORKERS }, () => new RedisTaskSource(target, { lockSeconds: 30 })),
    );
  } finally {
    server.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
