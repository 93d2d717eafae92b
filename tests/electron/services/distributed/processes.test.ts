// One worker process per GPU (`--gpus`), tested without a GPU: `--worker-processes` runs the very
// same transport (skp worker --ipc processes fed over Node's IPC channel), only pinned to no GPU.
// Keypoints and training on two worker processes are those of one process, bit for bit; a worker
// process killed in the middle of a task gives its task to another, saying so; a kill -9 of the
// coordinator leaves no worker process behind; --gpus says which GPU is missing, or why none is found.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpusListed, listGpus, parseGpuChoice, resolveGpus } from '../../../../electron/services/distributed/gpus.js';
import { removeTempDirs, repoRoot, tempDir, TINY, writeModel, writeProject } from '../../../support/jobFixtures.js';
import { alive, commandLine, descendants, within } from '../../../support/processTree.js';
import { keypointsOf, runJob, trainedStateOf } from './jobs.js';

const IMAGES = 6;
const SETTINGS = { ...TINY, steps: 3, batchSize: 2 };
const launcher = path.join(repoRoot, 'bin', 'skp.mjs');
let dir: string;
let model: string;
let untrained: string;
let trained: string;
let reference: ReturnType<typeof keypointsOf>;

function copyProject(from: string, name: string): string {
  const to = path.join(dir, name);
  fs.copyFileSync(from, to);
  return to;
}

const workerProcesses = () => descendants(process.pid).filter((pid) => commandLine(pid).includes('worker --ipc'));

beforeAll(async () => {
  dir = tempDir('skp-processes-');
  process.env.SKP_CACHE_DIR = path.join(dir, 'cache');
  model = writeModel(dir);
  untrained = await writeProject(dir, IMAGES);
  trained = copyProject(untrained, 'trained.skp');
  const training = await runJob(trained, { kind: 'train', model: { path: model }, settings: SETTINGS, backend: 'cpu' });
  expect(training.status.state).toBe('done');
  const single = copyProject(trained, 'single.skp');
  expect((await runJob(single, { kind: 'keypoints', backend: 'cpu' })).status.state).toBe('done');
  reference = keypointsOf(single);
  expect(reference.points).toHaveLength(IMAGES * (TINY.keypoints as number));
});

afterAll(removeTempDirs);

describe('worker processes of this machine', () => {
  it('two worker processes train 3 steps of batch 2 to the tokens of one process, bit for bit, and end with the job', async () => {
    const two = copyProject(untrained, 'train-two.skp');
    const { status, log } = await runJob(two, {
      kind: 'train',
      model: { path: model },
      settings: SETTINGS,
      backend: 'cpu',
      workers: { processes: 2 },
    });
    expect(status.state, log.join('\n')).toBe('done');
    expect(log.filter((l) => /^worker process .*: ONNX Runtime \(CPU\)/.test(l))).toHaveLength(2);
    const expected = trainedStateOf(trained);
    const got = trainedStateOf(two);
    expect(got.step).toBe(3);
    expect(got.tokens.equals(expected.tokens)).toBe(true);
    expect(got.optimizer.equals(expected.optimizer)).toBe(true);
    expect(got.losses).toEqual(expected.losses);
    // Both took a share of every step.
    expect(log.filter((l) => /^step \d workers: [^,]+ 1 image.*, [^,]+ 1 image/.test(l))).toHaveLength(1);
    expect(await within(10, () => workerProcesses().length === 0), 'worker processes left running').toBe(true);
  });

  it('a worker process killed in the middle of a task: its task is done by another, the keypoints are those of one process', async () => {
    const project = copyProject(trained, 'killed.skp');
    let victim: number | null = null;
    const { status, log } = await runJob(
      project,
      { kind: 'keypoints', backend: 'cpu', chunkSize: 1, workers: { processes: 2 } },
      {
        // After a first image is in, the next is sent at once: both workers are busy (4 votes, 6 images to go).
        progress: () => {
          if (victim !== null) return;
          victim = workerProcesses()[0]!;
          process.kill(victim, 'SIGKILL');
        },
      },
    );
    expect(victim).not.toBeNull();
    expect(status.state, log.join('\n')).toBe('done');
    expect(
      log.find((l) =>
        /^worker process \d \(pid \d+\) ended \(signal SIGKILL\) during task \S+.*; the task is tried again$/.test(l),
      ),
      log.join('\n'),
    ).toContain(`(pid ${victim})`);
    expect(status.result).toMatchObject({ images: IMAGES, predicted: IMAGES, withAttentionMaps: IMAGES });
    expect(keypointsOf(project)).toEqual(reference);
  });

  it('kill -9 of skp keypoints --worker-processes leaves no worker process running', async () => {
    const project = copyProject(trained, 'orphans.skp');
    const log = path.join(dir, 'orphans.log');
    const fd = fs.openSync(log, 'w');
    const coordinator = spawn(
      process.execPath,
      [launcher, 'keypoints', project, '--worker-processes', '2', '--backend', 'cpu', '--chunk', '1'],
      { stdio: ['ignore', fd, fd] },
    );
    fs.closeSync(fd);
    const output = () => fs.readFileSync(log, 'utf8');
    expect(await within(120, () => /image 1\/\d+/.test(output())), output()).toBe(true);
    const below = descendants(coordinator.pid!);
    expect(below.filter((pid) => commandLine(pid).includes('worker --ipc'))).toHaveLength(2);
    const exited = new Promise((resolve) => coordinator.once('exit', resolve));
    coordinator.kill('SIGKILL');
    await exited;
    expect(await within(5, () => below.every((pid) => !alive(pid))), `still running: ${below.filter(alive)}`).toBe(
      true,
    );
  });
});

describe('--gpus', () => {
  it('names a GPU this machine does not have, and reads nvidia-smi -L', () => {
    const listed = gpusListed(
      'GPU 0: NVIDIA H200 (UUID: GPU-2d1b7e0c-8a0f-4c1e-9a55-0f6c1d2e3f40)\n' +
        '  MIG 1g.18gb     Device  0: (UUID: MIG-9f0e)\n' +
        'GPU 1: NVIDIA H200 (UUID: GPU-7c3a9b21-5e44-4d0b-8f11-2b3c4d5e6f70)\n',
    );
    expect(listed.map((gpu) => gpu.index)).toEqual([0, 1]);
    expect(resolveGpus('all', listed)).toEqual([0, 1]);
    expect(resolveGpus([1, 1], listed)).toEqual([1]);
    expect(() => resolveGpus([0, 2, 5], listed)).toThrow('GPU 2, 5 does not exist on this machine; it has GPUs 0, 1');
    expect(parseGpuChoice(' 0, 1 ')).toEqual([0, 1]);
    expect(() => parseGpuChoice('first')).toThrow('GPUs must be "all" or GPU numbers separated by commas');
  });

  it('skp keypoints --gpus says why it cannot run here, and starts nothing', () => {
    let gpus: number[] = [];
    let none = '';
    try {
      gpus = listGpus().map((gpu) => gpu.index);
    } catch (e) {
      none = (e as Error).message;
    }
    const asked = gpus.length === 0 ? 'all' : String(Math.max(...gpus) + 1);
    const r = spawnSync(process.execPath, [launcher, 'keypoints', trained, '--gpus', asked, '--backend', 'cpu'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      gpus.length === 0
        ? new RegExp(`^skp keypoints: --gpus: no NVIDIA GPU was found: `)
        : new RegExp(`^skp keypoints: --gpus: GPU ${asked} does not exist on this machine`),
    );
    if (none) expect(r.stderr).toContain(none);
    expect(r.stdout).toBe('');
  });
});
