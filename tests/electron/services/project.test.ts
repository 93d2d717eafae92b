import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isServiceError } from '../../../electron/common/errors.js';
import { APPLICATION_ID } from '../../../electron/db/database.js';
import { LATEST_SCHEMA_VERSION } from '../../../electron/db/migrations.js';
import { createServices, type ServiceHost } from '../../../electron/services/container.js';
import { expectError, snapshot, tempDir, writeImage } from '../../support/projectHelpers.js';

let dir: string;
let images: string;
let services: ServiceHost;

beforeAll(async () => {
  dir = tempDir();
  images = path.join(dir, 'photos');
  await writeImage(path.join(images, 'a.jpg'), 40, 30, 'jpeg', 1);
  await writeImage(path.join(images, 'b.png'), 33, 21, 'png', 2);
  await writeImage(path.join(images, 'nested', 'deeper', 'c.webp'), 17, 50, 'webp', 3);
  fs.writeFileSync(path.join(images, 'empty.jpg'), '');
  fs.writeFileSync(path.join(images, 'notes.txt'), 'not an image');
  const good = fs.readFileSync(path.join(images, 'a.jpg'));
  fs.writeFileSync(path.join(images, 'nested', 'truncated.jpg'), good.subarray(0, good.length >> 1));
  fs.writeFileSync(path.join(images, 'renamed-text.png'), 'hello, I am text');
  fs.writeFileSync(path.join(images, 'anim.gif'), Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(20)]));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => services?.dispose());

describe('skp new: a project from a folder of images', () => {
  it('records every readable image with a relative path, pixel size and content hash', async () => {
    services = createServices();
    const file = path.join(dir, 'birds.skp');
    const { info, imported } = await services.project.create({ path: file, images });
    expect(info.path).toBe(file);
    expect(info.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(imported?.imported).toBe(3);
    expect(info.counts.images).toBe(3);

    const page = await services.images.list({ sort: 'path' });
    expect(page.items.map((i) => [i.path, i.width, i.height, i.format])).toEqual([
      ['photos/a.jpg', 40, 30, 'jpeg'],
      ['photos/b.png', 33, 21, 'png'],
      ['photos/nested/deeper/c.webp', 17, 50, 'webp'],
    ]);
    for (const image of page.items) {
      const bytes = fs.readFileSync(image.absolutePath);
      expect(image.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(image.bytes).toBe(bytes.length);
    }
  });

  it('lists each unreadable file with its reason instead of dropping it silently', async () => {
    services = createServices();
    const { imported } = await services.project.create({ path: path.join(dir, 'listed.skp'), images });
    const reasons = Object.fromEntries((imported?.skipped ?? []).map((s) => [path.relative(images, s.path), s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(
      ['anim.gif', 'empty.jpg', 'nested/truncated.jpg', 'notes.txt', 'renamed-text.png'].sort(),
    );
    expect(reasons['empty.jpg']).toContain('empty file');
    expect(reasons['notes.txt']).toContain('not an image');
    expect(reasons['renamed-text.png']).toContain('not an image');
    expect(reasons['nested/truncated.jpg']).toContain('damaged JPEG');
    expect(reasons['anim.gif']).toContain('unsupported image format GIF');
    expect(imported?.found).toBe(8);
  });

  it('adding the same folder again keeps what is there and adds only new files', async () => {
    services = createServices();
    const file = path.join(dir, 'again.skp');
    await services.project.create({ path: file, images });
    const before = await services.images.list({});
    await writeImage(path.join(images, 'later', 'd.png'), 10, 10, 'png', 9);
    const result = await services.images.importFolder(images);
    expect(result.imported).toBe(1);
    expect(result.alreadyPresent).toBe(3);
    const after = await services.images.list({ limit: 10 });
    expect(after.total).toBe(4);
    expect(after.items.filter((i) => before.items.some((b) => b.id === i.id))).toEqual(before.items);
    fs.rmSync(path.join(images, 'later'), { recursive: true });
  });

  it('a missing folder is one clear error and no project file is left behind', async () => {
    services = createServices();
    const file = path.join(dir, 'never.skp');
    await expectError(
      () => services.project.create({ path: file, images: path.join(dir, 'nope') }),
      'image folder',
      'nope',
      'does not exist',
    );
    expect(fs.existsSync(file)).toBe(false);
  });

  it('refuses to overwrite an existing file', async () => {
    services = createServices();
    const file = path.join(dir, 'taken.skp');
    fs.writeFileSync(file, 'precious');
    await expectError(() => services.project.create({ path: file }), 'already exists');
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
  });

  it('pages through images and filters by split', async () => {
    services = createServices();
    await services.project.create({ path: path.join(dir, 'paged.skp'), images });
    const all = await services.images.list({ sort: 'path' });
    await services.images.setSplit([all.items[0]!.id], 'train');
    await services.images.setSplit([all.items[2]!.id], 'test');
    const page = await services.images.list({ offset: 1, limit: 1, sort: 'path' });
    expect(page.total).toBe(3);
    expect(page.items.map((i) => i.path)).toEqual(['photos/b.png']);
    expect((await services.images.list({ split: 'train' })).items.map((i) => i.path)).toEqual(['photos/a.jpg']);
    expect((await services.images.list({ split: 'none' })).items.map((i) => i.path)).toEqual(['photos/b.png']);
    expect((await services.images.list({ pathContains: 'DEEPER' })).total).toBe(1);
    await expectError(() => services.images.list({ limit: 5000 }), 'image query', 'limit');
  });
});

describe('opening project files', () => {
  it('stores foreign keys on, WAL, our application id and the schema version', async () => {
    services = createServices();
    const file = path.join(dir, 'pragmas.skp');
    await services.project.create({ path: file });
    expect(services.context.db.sql.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(services.context.db.sql.pragma('journal_mode', { simple: true })).toBe('wal');
    services.dispose();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(raw.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    raw.close();
  });

  const refuse = async (file: string, ...fragments: string[]) => {
    services = createServices();
    const before = fs.readFileSync(file);
    const message = await expectError(() => services.project.open(file), file, ...fragments);
    expect(fs.readFileSync(file).equals(before), 'file unchanged').toBe(true);
    expect(services.context.isOpen).toBe(false);
    return message;
  };

  it('refuses files that are not ours, each with a clear reason', async () => {
    const text = path.join(dir, 'text.skp');
    fs.writeFileSync(text, 'just some text, long enough to have a header');
    await refuse(text, 'not a Keypoint Workstation project', 'not an SQLite database');

    const empty = path.join(dir, 'empty.skp');
    fs.writeFileSync(empty, '');
    await refuse(empty, 'empty (0 bytes)');

    const other = path.join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    db.close();
    await refuse(other, 'another application');

    await expectError(() => createServices().project.open(path.join(dir, 'missing.skp')), 'no project at');
  });

  it('refuses a damaged project file', async () => {
    services = createServices();
    const file = path.join(dir, 'damaged.skp');
    await services.project.create({ path: file, images });
    services.dispose();
    const bytes = fs.readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    // Overwrite the second page onward (the schema's tables) with garbage, keep the header.
    for (let i = pageSize; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    fs.writeFileSync(file, bytes);
    await refuse(file, 'is damaged');
  });

  it('opens a project from a newer app read-only, says so, and refuses writes', async () => {
    services = createServices();
    const file = path.join(dir, 'future.skp');
    await services.project.create({ path: file, images });
    services.dispose();
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 5}`);
    raw.close();
    const before = snapshot(file);

    services = createServices();
    const info = await services.project.open(file);
    expect(info.readOnly).toBe(true);
    expect(info.readOnlyReason).toContain('newer version');
    expect(info.counts.images).toBe(3);
    const error = await services.images.setSplit([1], 'train').catch((e) => e);
    expect(isServiceError(error) && error.code).toBe('read-only');
    await expectError(() => services.project.updateSettings({ name: 'x' }), 'read-only');
    services.dispose();
    expect(snapshot(file)).toEqual(before);
  });

  it('info reports counts and settings', async () => {
    services = createServices();
    const file = path.join(dir, 'info.skp');
    await services.project.create({ path: file, images, name: 'My birds' });
    await services.project.setModel({ name: 'SDXL base', path: '/models/sdxl' });
    const info = await services.project.info();
    expect(info.settings.name).toBe('My birds');
    expect(info.model?.name).toBe('SDXL base');
    expect(info.counts).toMatchObject({ images: 3, unassigned: 3, runs: 0, indices: 0, correctedKeypoints: 0 });
    expect(info.fileBytes).toBeGreaterThan(0);
    await expectError(() => services.project.updateSettings({ activeRunId: 99 }), 'no run 99');
  });
});
