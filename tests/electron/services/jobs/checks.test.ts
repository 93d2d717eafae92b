// Bad input stops a job before any work, with an error that names the field or file; a disk
// that fills while checkpointing stops the run cleanly with everything written so far kept.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRequest } from '../../../../electron/common/jobs.js';
import { ServiceError } from '../../../../electron/common/errors.js';
import { openProjectDatabase } from '../../../../electron/db/database.js';
import { RunStore } from '../../../../electron/db/runStore.js';
import { createServices } from '../../../../electron/services/container.js';
import type { JobHooks } from '../../../../electron/services/jobs/hooks.js';
import { JobServiceImpl } from '../../../../electron/services/jobs/jobService.js';
import { runJob } from '../../../../electron/services/jobs/runJob.js';
import { runsOn } from '../../../../electron/services/jobs/preflight.js';
import { parseRunSettings } from '../../../../native/keypoints/settings.js';
import { removeTempDirs, tempDir, TINY, withProject, writeModel, writeProject } from '../../../support/jobFixtures.js';

let dir: string;
let model: string;
let project: string;

beforeAll(async () => {
  dir = tempDir();
  process.env.SKP_CACHE_DIR = path.join(dir, 'graph-cache');
  model = writeModel(dir);
  project = await writeProject(dir, 3);
});
afterAll(removeTempDirs);

interface Recorded extends JobHooks {
  readied: number[];
  logs: string[];
  steps: number[];
}

function hooks(onLog: (message: string) => void = () => {}): Recorded {
  const recorded: Recorded = {
    signal: new AbortController().signal,
    readied: [],
    logs: [],
    steps: [],
    ready: (runId) => recorded.readied.push(runId),
    progress: (p) => recorded.steps.push(p.step),
    log: (message) => {
      recorded.logs.push(message);
      onLog(message);
    },
  };
  return recorded;
}

/** Runs the job in this thread and returns its bad-input message; fails if it got past its checks. */
async function rejection(file: string, request: JobRequest): Promise<string> {
  const db = openProjectDatabase(file);
  const h = hooks();
  try {
    await runJob(db, request, h);
  } catch (e) {
    expect(e).toBeInstanceOf(ServiceError);
    expect((e as ServiceError).code).toBe('bad-input');
    expect(h.readied).toEqual([]);
    expect(new RunStore(db).runs()).toEqual([]);
    return (e as Error).message;
  } finally {
    db.close();
  }
  throw new Error('the job passed its checks');
}

const train = (settings: object): JobRequest & { kind: 'train' } => ({
  kind: 'train',
  model: { path: model },
  settings: { ...TINY, ...settings },
  backend: 'cpu',
});

describe('checks before work starts', () => {
  it('the job service refuses K > tokens before a run exists', async () => {
    const services = createServices();
    await services.project.open(project);
    const jobs = new JobServiceImpl(services.context);
    try {
      await expect(jobs.start(train({ keypoints: 9, candidates: 9 }))).rejects.toThrow(
        /keypoints: K = 9 is more than the 8 tokens/,
      );
      expect((await jobs.list())[0]!.state).toBe('failed');
      expect(withProject(project, (db) => new RunStore(db).runs())).toEqual([]);
    } finally {
      await jobs.dispose();
      services.dispose();
    }
  });

  it('names the setting that is out of range or does not fit the model', async () => {
    expect(await rejection(project, train({ candidates: 2 }))).toMatch(
      /candidates: 2 candidates cannot hold the K = 3 keypoints/,
    );
    expect(await rejection(project, train({ upsampleRes: 9 }))).toMatch(
      /upsampleRes: 9 is not a multiple of the 2×2 attention grid/,
    );
    expect(await rejection(project, train({ imageSize: 256, upsampleRes: 64, maxQueryTokens: 4 }))).toMatch(
      /layers: at imageSize 256 controlled layer 0 does not exist/,
    );
    expect(await rejection(project, train({ imageSize: 100 }))).toMatch(/imageSize: 100 px is not a multiple of 32/);
    expect(await rejection(project, train({ steps: 0 }))).toMatch(/steps:/);
    expect(await rejection(project, train({ learningRate: 'fast' }))).toMatch(/learningRate:/);
    expect(await rejection(project, train({ stpes: 3 }))).toMatch(/stpes/);
  });

  it('refuses fast precision on a backend without it, naming the setting and the backend, instead of running in float32', async () => {
    expect(await rejection(project, train({ fastPrecision: true }))).toMatch(
      /fastPrecision: ONNX Runtime \(CPU\) has no fast precision; it needs the native CUDA backend/,
    );
  });

  it('names fast precision where the run says what it runs on', () => {
    const cuda = { id: 'cuda', label: 'Native CUDA (NVIDIA H200)', reasons: ['picked'], fastPrecision: 'TF32' };
    const backend = { info: cuda, compile: () => Promise.reject(new Error('not compiled here')) };
    expect(runsOn(backend, parseRunSettings({ fastPrecision: true })).label).toBe(
      'Native CUDA (NVIDIA H200), fast precision',
    );
    expect(runsOn(backend, parseRunSettings({}))).toBe(cuda);
  });

  it('refuses a model that fails its check, a project without images, missing files and missing ground truth', async () => {
    expect(await rejection(project, { ...train({}), model: { path: path.join(dir, 'images') } })).toMatch(
      /^model: .*images/,
    );
    expect(await rejection(project, { kind: 'train', settings: TINY, backend: 'cpu' })).toMatch(
      /no model: give the SDXL weights with --model/,
    );

    const empty = path.join(tempDir(), 'empty.skp');
    const services = createServices();
    await services.project.create({ path: empty });
    services.dispose();
    expect(await rejection(empty, train({}))).toMatch(/the project has no images to train on/);
    expect(await rejection(empty, { kind: 'keypoints' })).toMatch(/no trained run yet/);
    expect(await rejection(empty, { kind: 'evaluate' })).toMatch(/no run with keypoints yet/);

    const copy = tempDir();
    const moved = await writeProject(copy, 2);
    fs.rmSync(path.join(copy, 'images', 'bird_0001.png'));
    expect(await rejection(moved, train({}))).toMatch(/1 image file is missing: .*bird_0001\.png/);
  });
});

describe('a disk that fills during checkpointing', () => {
  it('stops the run cleanly, keeps the last checkpoint, and the run resumes from it', async () => {
    const file = await writeProject(tempDir(), 2);
    const db = openProjectDatabase(file);
    // After the first checkpoint the project may not grow by a page: the next checkpoint
    // (tokens and optimiser state need new pages) hits SQLITE_FULL as on a full disk.
    const h = hooks((message) => {
      if (message.startsWith('checkpoint at step 1 ')) {
        db.sql.pragma(`max_page_count = ${db.sql.pragma('page_count', { simple: true }) as number}`);
      }
    });
    const outcome = await runJob(db, { ...train({ tokens: 64 }), checkpointEvery: 1 }, h);
    db.close();
    expect(outcome.state).toBe('failed');
    expect(outcome.error).toMatch(/the disk holding the project is full .*; the checkpoint at step 1 is kept/);
    const left = withProject(file, (d) => {
      const runs = new RunStore(d);
      return { run: runs.run(outcome.runId)!, steps: runs.checkpoints(outcome.runId).map((c) => c.step) };
    });
    expect(left.steps).toEqual([1]);
    expect(left.run.status).toBe('failed');
    expect(left.run.error).toBe(outcome.error);

    const again = openProjectDatabase(file);
    const resumed = hooks();
    try {
      const end = await runJob(again, { kind: 'train', resumeRunId: outcome.runId, backend: 'cpu' }, resumed);
      expect(end.state).toBe('done');
    } finally {
      again.close();
    }
    expect(resumed.steps).toEqual([2, 3, 4]);
  });
});
