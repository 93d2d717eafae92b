// A real redis-server on a free port (in a temporary folder, with a password) and `skp worker`
// processes, as a user starts them, for the distributed tests.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot, tempDir } from '../../../support/jobFixtures.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const PASSWORD = 'test-secret-42';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves when `child` prints a line matching `pattern`; rejects if it exits first. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string, output: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: no "${pattern}" within 60 s:\n${output.join('')}`)),
      60_000,
    );
    const check = () => {
      if (pattern.test(output.join(''))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before "${pattern}":\n${output.join('')}`));
    });
    check();
  });
}

function capture(child: ChildProcess): string[] {
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  return output;
}

export class RedisServer {
  private constructor(
    private child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** The URL workers and coordinators are given (the password travels in SKP_REDIS_PASSWORD or the URL). */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const dir = tempDir('skp-redis-');
    const port = await freePort();
    const server = new RedisServer(RedisServer.spawn(port, dir), port, dir);
    await server.ready();
    return server;
  }

  private static spawn(port: number, dir: string): ChildProcess {
    // No persistence: a restart starts empty, the hardest case for a run in progress.
    return spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'].concat([
        '--requirepass',
        PASSWORD,
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }

  private ready(): Promise<void> {
    return waitForLine(this.child, /Ready to accept connections/, 'redis-server', capture(this.child));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as with a stuck server. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** Stops the server and starts an empty one on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    this.child = RedisServer.spawn(this.port, this.dir);
    await this.ready();
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  output: string[];
  /** The folder it ran in (its current directory and HOME): a worker writes nothing there. */
  home: string;
  waitFor(pattern: RegExp): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorker(
  redisUrl: string,
  model: string,
  cacheDir: string,
  extra: string[] = [],
): Promise<WorkerProcess> {
  const home = tempDir('skp-worker-home-');
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'skp.mjs'),
      'worker',
      '--redis',
      redisUrl,
      '--model',
      model,
      '--backend',
      'cpu',
      ...extra,
    ],
    {
      cwd: home,
      env: { ...process.env, HOME: home, SKP_CACHE_DIR: cacheDir, SKP_REDIS_PASSWORD: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = capture(child);
  const worker: WorkerProcess = {
    child,
    output,
    home,
    waitFor: (pattern) => waitForLine(child, pattern, 'skp worker', output),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
  await worker.waitFor(/taking work from/);
  return worker;
}

/** Every file under `dir`, relative to it. */
export function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}
