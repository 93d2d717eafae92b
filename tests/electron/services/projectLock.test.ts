// One process edits a project at a time: this test process holds a project open while real
// `skp` processes reach for it — the reading commands (info, export) work read-only, a writing
// one is refused naming this process — and the lock goes with the project and with the process.
// A lock left by a process that is gone is taken over; one of a live process or another host is not.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../../electron/common/errors.js';
import { createProjectDatabase } from '../../../electron/db/database.js';
import { migrations } from '../../../electron/db/migrations.js';
import { createServices, type ServiceHost } from '../../../electron/services/container.js';
import { lockFileOf } from '../../../electron/services/projectLock.js';
import { tempDir, writeTwoPhotos } from '../../support/projectHelpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// By its path: `--import tsx` would be looked for from the child's working folder, a temporary one.
const tsx = createRequire(path.join(root, 'package.json')).resolve('tsx');
let dir: string;
let file: string;
let lock: string;
let labels: string;
let services: ServiceHost;

/** `skp …` as its own process, as a user runs it. */
function skp(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/skp.mjs'), ...args], {
    cwd: dir,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

const lockOwner = () => JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number; host: string };
const heldHere = `is open in another window/process (pid ${process.pid}, host ${os.hostname()}`;

async function refusal(work: Promise<unknown>): Promise<ServiceError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServiceError);
  return error as ServiceError;
}

beforeAll(async () => {
  dir = tempDir();
  file = path.join(dir, 'birds.skp');
  lock = lockFileOf(file);
  labels = await writeTwoPhotos(path.join(dir, 'photos'));
  services = createServices();
  await services.project.create({ path: file, images: path.join(dir, 'photos') });
  await services.imports.importCoco({ file: labels });
});
afterAll(() => {
  services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a project held open by this process', () => {
  it('has a lock file naming this process', () => {
    expect(lockOwner()).toMatchObject({ pid: process.pid, host: os.hostname() });
  });

  it('reads read-only from other processes (info, export) and refuses their writes, naming the holder', async () => {
    const [info, exported, imported] = await Promise.all([
      skp('info', file),
      skp('export', file, '--coco', 'gt.json', '--ground-truth'),
      skp('import', file, '--coco', labels),
    ]);
    expect(info.code, info.err).toBe(0);
    expect(info.out).toMatch(/Images\s+2 /);
    expect(info.out).toContain(`Read-only     ${file} ${heldHere}`);
    expect(exported.code, exported.err).toBe(0);
    const doc = JSON.parse(fs.readFileSync(path.join(dir, 'gt.json'), 'utf8')) as { annotations: unknown[] };
    expect(doc.annotations).toHaveLength(1);
    expect(imported.code).toBe(2);
    expect(imported.err.trim()).toBe(
      `skp import: ${file} ${heldHere}, since ${(JSON.parse(fs.readFileSync(lock, 'utf8')) as { startedAt: string }).startedAt}); ` +
        `close it there to change it here (if that process is not Keypoint Workstation, delete ${lock})`,
    );
    expect(lockOwner().pid, 'the other processes left this process its lock').toBe(process.pid);
  });

  it('lets go when closed: another process then writes, and leaves no lock when it ends', async () => {
    await services.project.close();
    expect(fs.existsSync(lock)).toBe(false);
    const imported = await skp('import', file, '--coco', labels);
    expect(imported.code, imported.err).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('lets go when the process holding it exits without closing it', () => {
    const container = path.join(root, 'electron/services/container.ts');
    const script =
      `const { createServices } = await import(${JSON.stringify(container)});` +
      `await createServices().project.open(${JSON.stringify(file)});` +
      `process.stdout.write((await import('node:fs')).readFileSync(${JSON.stringify(lock)}, 'utf8'));` +
      'process.exit(3);';
    const held = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(held.status, held.stderr).toBe(3);
    expect(JSON.parse(held.stdout)).toMatchObject({ pid: held.pid });
    expect(fs.existsSync(lock)).toBe(false);
  });
});

describe('a lock file found on opening', () => {
  it('of a process that has ended on this host is stale: the project opens and the lock is this process’s', async () => {
    const ended = spawnSync(process.execPath, ['-e', '']).pid;
    fs.writeFileSync(lock, JSON.stringify({ pid: ended, host: os.hostname(), startedAt: '2024-01-01T00:00:00Z' }));
    const info = await services.project.open(file);
    expect(info.readOnly).toBe(false);
    expect(lockOwner().pid).toBe(process.pid);
    await services.project.close();
  });

  it('of another host holds: writing is refused; reading opens read-only and cannot write', async () => {
    const owner = { pid: 4242, host: 'elsewhere.example', startedAt: '2024-01-01T00:00:00Z' };
    fs.writeFileSync(lock, JSON.stringify(owner));
    const refused = await refusal(services.project.open(file));
    expect(refused.code).toBe('locked');
    expect(refused.message).toContain('is open in another window/process (pid 4242, host elsewhere.example');
    const info = await services.project.open(file, { readOnly: 'if-locked' });
    expect(info.readOnly).toBe(true);
    expect(info.readOnlyReason).toMatch(/pid 4242, host elsewhere\.example.*It is open here read-only$/);
    const write = await refusal(services.project.updateSettings({ name: 'renamed' }));
    expect(write.code).toBe('read-only');
    expect(write.message).toBe(info.readOnlyReason);
    await services.project.close();
    expect(lockOwner()).toEqual(owner);
    fs.rmSync(lock);
  });

  it('refuses to open read-only a project that would first need a migration', async () => {
    const old = path.join(dir, 'old.skp');
    createProjectDatabase(old, migrations.slice(0, 1)).close();
    fs.writeFileSync(lockFileOf(old), JSON.stringify({ pid: 4242, host: 'elsewhere.example', startedAt: 'then' }));
    const refused = await refusal(services.project.open(old, { readOnly: 'if-locked' }));
    expect(refused.message).toMatch(
      /old\.skp needs an upgrade of its schema \(1 → \d+\) before this version can read it, and it cannot be changed here: .*pid 4242/,
    );
    expect(await services.project.current()).toBeNull();
  });

  it('that cannot be read holds, and the message says which file to delete', async () => {
    fs.writeFileSync(lock, 'not json');
    const refused = await refusal(services.project.open(file));
    expect(refused.message).toBe(
      `${file} is locked by another window/process, but its lock file ${lock} cannot be read; ` +
        'if no other window has the project open, delete that file',
    );
    fs.rmSync(lock);
  });

  it('of this process is shared by its windows until the last one closes', async () => {
    const other = createServices();
    await services.project.open(file);
    await other.project.open(file);
    await services.project.close();
    expect(lockOwner().pid).toBe(process.pid);
    other.dispose();
    expect(fs.existsSync(lock)).toBe(false);
  });
});
