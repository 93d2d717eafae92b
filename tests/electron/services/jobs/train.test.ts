// The train job through the JobService (worker threads) on a real project: progress, losses
// and checkpoints in the project; cancel keeps a checkpoint; resume after a cancel, and after
// the whole process was killed, ends with the same tokens as an uninterrupted run. The test
// lets go of the project while a `skp train` process has it (one process edits a project).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobProgressEvent, JobStateEvent } from '../../../../electron/common/jobs.js';
import { RunStore } from '../../../../electron/db/runStore.js';
import { readSettings } from '../../../../electron/db/settingsStore.js';
import { createServices, type ServiceHost } from '../../../../electron/services/container.js';
import { JobServiceImpl } from '../../../../electron/services/jobs/jobService.js';
import {
  removeTempDirs,
  repoRoot,
  tempDir,
  TINY,
  withProject,
  writeModel,
  writeProject,
} from '../../../support/jobFixtures.js';

let dir: string;
let model: string;
let project: string;
let services: ServiceHost;
let jobs: JobServiceImpl;

beforeAll(async () => {
  dir = tempDir();
  process.env.SKP_CACHE_DIR = path.join(dir, 'graph-cache');
  model = writeModel(dir);
  project = await writeProject(dir, 4);
  services = createServices();
  await services.project.open(project);
  jobs = new JobServiceImpl(services.context);
});
afterAll(async () => {
  await jobs.dispose();
  services.dispose();
  removeTempDirs();
});

const latestTokens = (runId: number) =>
  withProject(project, (db) => Array.from(new RunStore(db).checkpoint(runId)!.tokens));

/** Node's arguments for `skp train` on the project: 40 steps of TINY's settings on the CPU. */
const trainArgs = (...options: string[]) => [
  '--import',
  'tsx',
  'electron/cli/main.ts',
  'train',
  project,
  '--set',
  'steps=40',
  '--backend',
  'cpu',
  ...options,
  ...Object.entries(TINY)
    .filter(([k]) => k !== 'steps')
    .flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]),
];

describe('train job', () => {
  let uninterrupted: number[];

  it('reports each step, stores settings with defaults, losses and checkpoints, and finishes', async () => {
    const progress: JobProgressEvent[] = [];
    const states: JobStateEvent[] = [];
    const p = jobs.onProgress((e) => progress.push(e));
    const s = jobs.onStateChange((e) => states.push(e));
    const started = await jobs.start({
      kind: 'train',
      model: { path: model },
      settings: TINY,
      backend: 'cpu',
      checkpointEvery: 2,
    });
    expect(started.state).toBe('running');
    const done = await jobs.wait(started.jobId);
    p.dispose();
    s.dispose();
    expect(done.state).toBe('done');
    expect(progress.map((e) => [e.phase, e.step, e.steps])).toEqual([1, 2, 3, 4].map((n) => ['train', n, 4]));
    for (const e of progress) {
      expect(e.runId).toBe(done.runId);
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(e.loss).toBeCloseTo(1000 * e.equivariance! + 100 * e.sharpening!, 4);
      expect(e.imagesPerSecond).toBeGreaterThan(0);
    }
    expect(states.some((e) => e.message?.startsWith('Backend: ONNX Runtime (CPU)'))).toBe(true);
    withProject(project, (db) => {
      const runs = new RunStore(db);
      const run = runs.run(done.runId!)!;
      expect(run.status).toBe('done');
      expect(run.settings).toMatchObject({
        ...TINY,
        learningRate: 0.005,
        sigma: 2,
        latentScale: 0.18215,
        layers: [0, 1, 2],
      });
      expect(runs.checkpoints(run.id).map((c) => c.step)).toEqual([2, 4]);
      expect(runs.losses(run.id).map((l) => l.step)).toEqual([1, 2, 3, 4]);
      const reference = runs.model(readSettings(db).modelId!);
      expect(reference?.path).toBe(model);
      expect(run.modelId).toBe(reference!.id);
    });
    uninterrupted = latestTokens(done.runId!);
  });

  it('cancels after the current step, keeps a checkpoint, and a resume ends where an uninterrupted run does', async () => {
    const p = jobs.onProgress((e) => {
      if (e.step === 1) void jobs.cancel(e.jobId);
    });
    // No checkpoint would be written before step 100: the one kept is the cancel's own.
    const started = await jobs.start({ kind: 'train', settings: TINY, backend: 'cpu', checkpointEvery: 100 });
    const cancelled = await jobs.wait(started.jobId);
    p.dispose();
    expect(cancelled.state).toBe('cancelled');
    const runId = cancelled.runId!;
    const kept = withProject(project, (db) => {
      const runs = new RunStore(db);
      expect(runs.run(runId)!.status).toBe('cancelled');
      return runs.checkpoints(runId).map((c) => c.step);
    });
    expect(kept).toHaveLength(1);
    expect(kept[0]).toBeGreaterThanOrEqual(1);
    expect(kept[0]).toBeLessThan(4);
    expect((await jobs.resumable()).map((r) => r.runId)).toContain(runId);

    const steps: number[] = [];
    const q = jobs.onProgress((e) => steps.push(e.step));
    const resumed = await jobs.start({ kind: 'train', resumeRunId: runId, backend: 'cpu' });
    expect((await jobs.wait(resumed.jobId)).state).toBe('done');
    q.dispose();
    expect(steps[0]).toBe(kept[0]! + 1);
    expect(latestTokens(runId)).toEqual(uninterrupted);
  });

  it('skp train prints the backend and why, a line per step, and stops cleanly on Ctrl-C', async () => {
    await services.project.close();
    const child = spawn(process.execPath, trainArgs(), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (!interrupted && output.includes('step 1/40')) interrupted = child.kill('SIGINT');
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, output).toBe(130);
    expect(fs.existsSync(`${project}.lock`), 'the lock of a process that ended').toBe(false);
    await services.project.open(project);
    expect(output).toMatch(/Backend: ONNX Runtime \(CPU\)\n  - CPU: chosen \(asked for\)/);
    expect(output).toContain('precision: float32, as the reference');
    expect(output).toMatch(
      /step 1\/40  loss [\d.]+ \(sharpening [\d.e-]+, equivariance [\d.e-]+\)  [\d.]+ images\/s  ETA /,
    );
    const runId = Number(/Run (\d+) cancelled after step \d+; its checkpoint is kept/.exec(output)?.[1]);
    expect(runId, output).toBeGreaterThan(0);
    withProject(project, (db) => {
      const runs = new RunStore(db);
      expect(runs.run(runId)!.status).toBe('cancelled');
      expect(runs.checkpoints(runId).length).toBe(1);
    });
  });

  it('resumes a run whose process was killed (status left running) to the same tokens', async () => {
    const before = withProject(project, (db) => new RunStore(db).runs()[0]!.id);
    await services.project.close();
    const child = spawn(process.execPath, trainArgs('--checkpoint-every', '1'), { cwd: repoRoot, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const runId = await new Promise<number>((resolve, reject) => {
      const poll = setInterval(() => {
        const found = withProject(project, (db) => {
          const runs = new RunStore(db);
          const run = runs.runs()[0]!;
          return run.id > before && runs.checkpoints(run.id).length > 0 ? run.id : null;
        });
        if (found !== null) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve(found);
        }
      }, 25);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the training process ended before its first checkpoint'));
      });
    });
    await exited;
    // A killed process leaves its lock behind; this process finds it stale and takes the project.
    expect(JSON.parse(fs.readFileSync(`${project}.lock`, 'utf8'))).toMatchObject({ pid: child.pid });
    await services.project.open(project);
    expect(JSON.parse(fs.readFileSync(`${project}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    const left = withProject(project, (db) => {
      const runs = new RunStore(db);
      return { status: runs.run(runId)!.status, step: runs.checkpoints(runId).at(-1)!.step };
    });
    expect(left.status).toBe('running');
    // Steps take far longer than the 25 ms poll: the kill lands before step 4 of 40.
    expect(left.step, 'the kill landed late; the run is past the 4 steps it is compared at').toBeLessThan(4);
    expect((await jobs.resumable()).map((r) => r.runId)).toContain(runId);
    const resumed = await jobs.start({ kind: 'train', resumeRunId: runId, settings: { steps: 4 }, backend: 'cpu' });
    const end = await jobs.wait(resumed.jobId);
    expect(end.state).toBe('done');
    expect(latestTokens(runId)).toEqual(uninterrupted);
    expect(withProject(project, (db) => new RunStore(db).run(runId)!.settings.steps)).toBe(4);
  });
});
