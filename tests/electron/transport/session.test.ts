// The API as the UI calls it, through a session over real services and a real project file: input
// checked at the edge with the field named, one window per project, corrections and their undo.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AllowedFolders } from '../../../electron/transport/allowedFolders.js';
import { ApiError } from '../../../electron/common/api/errors.js';
import { OpenProjects } from '../../../electron/transport/openProjects.js';
import { RecentProjects } from '../../../electron/transport/recentProjects.js';
import { createSession, type Session } from '../../../electron/transport/session.js';
import type { ImageDetail, ImageRowPage, ProjectInfo } from '../../../electron/common/api/types.js';
import { openProjectDatabase } from '../../../electron/db/database.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { createServices } from '../../../electron/services/container.js';

let root: string;
let sessions: Session[];
const openProjects = new OpenProjects();

function newSession(): Session {
  const services = createServices();
  const session = createSession({
    services,
    allowed: new AllowedFolders([root]),
    recent: new RecentProjects(path.join(root, 'recent.json')),
    openProjects,
    transport: 'ipc',
    serverId: 'test',
    version: '0',
  });
  sessions.push(session);
  return session;
}

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the call to fail');
}

beforeEach(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'skp-session-')));
  sessions = [];
  fs.mkdirSync(path.join(root, 'images'));
  for (let i = 0; i < 3; i++) {
    await sharp({ create: { width: 60, height: 40, channels: 3, background: { r: 40 * i, g: 90, b: 160 } } })
      .png()
      .toFile(path.join(root, 'images', `img${i}.png`));
  }
});

afterEach(async () => {
  for (const s of sessions) await s.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('a session', () => {
  it('refuses bad input naming the field, and unknown methods', async () => {
    const session = newSession();
    const bad = await failure(session.dispatch('images.get', { id: 'seven' }));
    expect(bad.code).toBe('bad-input');
    expect(bad.message).toMatch(/^Bad input to images\.get: id: /);
    const extra = await failure(session.dispatch('projects.open', { path: 'x.skp', evil: true }));
    expect(extra.message).toMatch(/evil/);
    expect((await failure(session.dispatch('fs.readFile', {}))).code).toBe('not-found');
  });

  it('says what a file is when it is not a project', async () => {
    const notAProject = path.join(root, 'notes.skp');
    fs.writeFileSync(notAProject, 'hello');
    const error = await failure(newSession().dispatch('projects.open', { path: notAProject }));
    expect(error.code).toBe('bad-input');
    expect(error.message).toContain('is not a Keypoint Workstation project');
  });

  it('keeps a project to one window at a time', async () => {
    const file = path.join(root, 'p.skp');
    const first = newSession();
    await first.dispatch('projects.create', { path: file, images: path.join(root, 'images') });
    const second = newSession();
    const locked = await failure(second.dispatch('projects.open', { path: file }));
    expect(locked.code).toBe('locked');
    expect(locked.message).toContain('already open in another window');
    const looking = (await second.dispatch('projects.open', { path: file, readOnly: true })).value as ProjectInfo;
    expect(looking.readOnlyReason).toBe(`${file} is open read-only, as asked: open it again to change it`);
    await first.dispatch('projects.close', {});
    const opened = await second.dispatch('projects.open', { path: file });
    expect((opened.value as { counts: { images: number } }).counts.images).toBe(3);
    expect(((await second.dispatch('projects.recent', {})).value as { path: string }[])[0]?.path).toBe(file);
  });

  it('tells who has a project open in another process, and opens it read-only when asked', async () => {
    const file = path.join(root, 'p.skp');
    const first = newSession();
    await first.dispatch('projects.create', { path: file, images: path.join(root, 'images') });
    await first.dispatch('projects.close', {});
    // The process that started this test's process: another live process of this host.
    const owner = { pid: process.ppid, host: os.hostname(), startedAt: '2024-05-01T10:00:00.000Z' };
    fs.writeFileSync(`${file}.lock`, JSON.stringify(owner));
    const session = newSession();
    const locked = await failure(session.dispatch('projects.open', { path: file }));
    expect(locked.code).toBe('locked');
    expect(locked.message).toContain(
      `${file} is open in another window/process (pid ${owner.pid}, host ${owner.host}, since ${owner.startedAt})`,
    );
    const info = (await session.dispatch('projects.open', { path: file, readOnly: true })).value as ProjectInfo;
    expect(info.readOnly).toBe(true);
    expect(info.readOnlyReason).toContain(`pid ${owner.pid}`);
    expect(((await session.dispatch('images.list', {})).value as ImageRowPage).items).toHaveLength(3);
    const write = await failure(session.dispatch('model.set', { path: path.join(root, 'images') }));
    expect(write.code).toBe('conflict');
    expect(write.message).toBe(info.readOnlyReason);
    expect(JSON.parse(fs.readFileSync(`${file}.lock`, 'utf8'))).toEqual(owner);
  });

  it('corrects a point, and undoing the first correction shows the prediction again', async () => {
    const file = path.join(root, 'p.skp');
    const session = newSession();
    await session.dispatch('projects.create', { path: file, images: path.join(root, 'images') });
    const db = openProjectDatabase(file);
    const runs = new RunStore(db);
    const run = runs.createRun({ settings: {} });
    const [index] = runs.chooseIndices(run.id, [5]);
    const imageId = ((await session.dispatch('images.list', {})).value as ImageRowPage).items[0]!.id;
    runs.writePredictions(run.id, [{ imageId, indexId: index!.id, x: 10, y: 12, visibility: 2, score: 0.8 }]);
    db.close();

    await session.dispatch('keypoints.correct', {
      imageId,
      points: [{ partId: index!.partId!, x: 30, y: 20, visibility: 1 }],
    });
    const corrected = (await session.dispatch('images.get', { id: imageId })).value as ImageDetail;
    expect(corrected.keypoints.points[0]?.effective).toMatchObject({
      source: 'corrected',
      x: 30,
      y: 20,
      visibility: 1,
    });
    const row = ((await session.dispatch('images.list', { corrected: true })).value as ImageRowPage).items;
    expect(row.map((r) => r.id)).toEqual([imageId]);
    expect(row[0]?.points[0]).toMatchObject({ x: 30, y: 20 });

    await session.dispatch('keypoints.uncorrect', { imageId, partIds: [index!.partId!] });
    const reverted = (await session.dispatch('images.get', { id: imageId })).value as ImageDetail;
    expect(reverted.keypoints.points[0]?.effective).toMatchObject({ source: 'predicted', x: 10, y: 12 });
  });

  it('checks a model when it is chosen: a missing path or an image folder is refused and nothing is set', async () => {
    const session = newSession();
    await session.dispatch('projects.create', { path: path.join(root, 'p.skp'), images: path.join(root, 'images') });
    const missing = await failure(session.dispatch('model.set', { path: path.join(root, 'no-model') }));
    expect(missing.code).toBe('bad-input');
    expect(missing.message).toContain(path.join(root, 'no-model'));
    const folder = await failure(session.dispatch('model.set', { path: path.join(root, 'images') }));
    expect(folder.code).toBe('bad-input');
    expect(folder.message).toContain(`${path.join(root, 'images')} cannot be used`);
    const info = (await session.dispatch('projects.current', {})).value as ProjectInfo;
    expect(info.model).toBeNull();
  });

  it('asks before an export replaces a file', async () => {
    const session = newSession();
    await session.dispatch('projects.create', { path: path.join(root, 'p.skp'), images: path.join(root, 'images') });
    const file = path.join(root, 'out.json');
    fs.writeFileSync(file, 'kept');
    const refused = await failure(session.dispatch('export.coco', { file, groundTruth: true }));
    expect(refused.code).toBe('conflict');
    expect(refused.message).toContain(`${file} already exists`);
    expect(fs.readFileSync(file, 'utf8')).toBe('kept');
    // Told to replace it, the export goes on (and here stops at the missing ground truth).
    const replaced = await failure(session.dispatch('export.coco', { file, groundTruth: true, overwrite: true }));
    expect(replaced.message).toContain('has no ground truth');
  });

  it('reports an image whose file was deleted, keeping its keypoints', async () => {
    const file = path.join(root, 'p.skp');
    const session = newSession();
    await session.dispatch('projects.create', { path: file, images: path.join(root, 'images') });
    const image = ((await session.dispatch('images.list', {})).value as ImageRowPage).items[0]!;
    fs.rmSync(image.absolutePath);
    const detail = (await session.dispatch('images.get', { id: image.id })).value as ImageDetail;
    expect(detail.fileExists).toBe(false);
    const missing = await failure(session.dispatch('images.file', { id: image.id }));
    expect(missing.code).toBe('not-found');
    expect(missing.message).toContain('is missing (moved or deleted); its keypoints are kept');
  });
});
