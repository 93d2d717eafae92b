// A Redis server that stops answering (frozen with SIGSTOP: its connections stay open, nothing
// comes back) must not keep a coordinator or a worker waiting forever: after SKP_REDIS_TIMEOUT
// seconds each stops with an error naming the server, and one that finds it frozen says so at once.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX, QUEUE, RedisWorkQueue } from '../../../../electron/services/distributed/redisQueue.js';
import { redisTarget } from '../../../../electron/services/distributed/redisTarget.js';
import { removeTempDirs, repoRoot, tempDir, writeModel } from '../../../support/jobFixtures.js';
import { PASSWORD, RedisServer, startWorker } from './cluster.js';

let dir: string;
let model: string;
let redis: RedisServer;
const server = /redis:\/\/127\.0\.0\.1:\d+/.source;

beforeAll(async () => {
  dir = tempDir('skp-unanswered-');
  process.env.SKP_CACHE_DIR = path.join(dir, 'cache');
  process.env.SKP_REDIS_PASSWORD = PASSWORD;
  // Inherited by the worker processes too.
  process.env.SKP_REDIS_TIMEOUT = '2';
  model = writeModel(dir);
  redis = await RedisServer.start();
});

afterAll(async () => {
  redis?.resume();
  await redis?.stop();
  removeTempDirs();
});

describe('a Redis server that stops answering', () => {
  it('ends a coordinator waiting for its tasks with an error naming the server; closing does not wait on it', async () => {
    const queue = await RedisWorkQueue.connect(redisTarget(redis.url));
    const run = 'cd'.repeat(16);
    const id = `kp.${run}.0`;
    const notices: string[] = [];
    // No worker is connected: the task waits in Redis, and the coordinator with it.
    const running = queue.runTasks(
      [{ id, task: { kind: 'keypoints', run, images: [{ id: 1, name: 'a.png', bytes: 'AAAA' }] } }],
      () => undefined,
      { onNotice: (line) => notices.push(line) },
    );
    running.catch(() => undefined);
    const look = new Redis({ port: redis.port, password: PASSWORD });
    try {
      expect(await waitForKey(look, `${PREFIX}:${QUEUE}:${id}`)).toBe(true);
    } finally {
      look.disconnect();
    }
    redis.pause();
    try {
      await expect(running).rejects.toThrow(
        new RegExp(
          `^Redis at ${server} has not answered for 2 s \\(last error: no answer within 2 s: is the server paused`,
        ),
      );
      expect(notices.join('\n')).toMatch(
        new RegExp(`^Redis at ${server}: .*; waiting up to 2 s for it to answer again`, 'm'),
      );
      await queue.close();
    } finally {
      redis.resume();
    }
  });

  it('stops a worker after the timeout with exit code 1, saying which server', async () => {
    const worker = await startWorker(redis.url, model, path.join(dir, 'worker-cache'));
    const exited = new Promise<number | null>((resolve) => worker.child.once('exit', resolve));
    redis.pause();
    try {
      expect(await exited, worker.output.join('')).toBe(1);
    } finally {
      redis.resume();
    }
    expect(worker.output.join('')).toMatch(
      new RegExp(
        `skp worker: Redis at ${server} has not answered for 2 s \\(last error: .*\\); set SKP_REDIS_TIMEOUT .*; stopping`,
      ),
    );
  });

  it('a worker or a coordinator that finds the server frozen says so at once', async () => {
    redis.pause();
    try {
      await expect(RedisWorkQueue.connect(redisTarget(redis.url))).rejects.toThrow(
        new RegExp(
          `^Redis at ${server}: no answer within 2 s: is the server paused, overloaded or behind a firewall\\?$`,
        ),
      );
      const r = spawnSync(
        process.execPath,
        [path.join(repoRoot, 'bin', 'skp.mjs'), 'worker', '--redis', redis.url, '--model', model, '--backend', 'cpu'],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(`^skp worker: Redis at ${server}: no answer within 2 s: is the server paused`),
      );
    } finally {
      redis.resume();
    }
  });
});

/** Whether `key` appears within 30 s. */
async function waitForKey(client: Redis, key: string): Promise<boolean> {
  for (let tries = 0; tries < 300; tries++) {
    if ((await client.exists(key)) === 1) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
