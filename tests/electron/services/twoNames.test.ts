// One project file under two names. SQLite keeps one journal per name, so two writers through
// two names would damage the file: a hard-linked file is written by no one (every process opens
// it read-only, saying why), and a symlinked name leads to the same lock as the file itself.
// This test process holds the project; real `skp` processes are the second writer.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type ServiceHost } from '../../../electron/services/container.js';
import { lockFileOf } from '../../../electron/services/projectLock.js';
import { expectError, integrity, skp, snapshot, tempDir, writeTwoPhotos } from '../../support/projectHelpers.js';

let dir: string;
let file: string;
let labels: string;
let holder: ServiceHost;
const heldHere = `is open in another window/process (pid ${process.pid}, host ${os.hostname()}`;

beforeAll(async () => {
  dir = tempDir();
  file = path.join(dir, 'birds.skp');
  labels = await writeTwoPhotos(path.join(dir, 'photos'));
  const maker = createServices();
  await maker.project.create({ path: file, images: path.join(dir, 'photos') });
  maker.dispose();
});
afterEach(() => holder?.dispose());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a hard-linked project file (ln, cp -al, rsync --link-dest)', () => {
  it('linked while open for writing: the writer through the other name is refused, and the file stays sound', async () => {
    holder = createServices();
    await holder.project.open(file);
    const other = path.join(dir, 'other.skp');
    fs.linkSync(file, other);
    try {
      const before = snapshot(file);
      for (const name of [other, file]) {
        const refused = skp(dir, 'import', name, '--coco', labels);
        expect(refused.code, refused.out).toBe(2);
        expect(refused.err.trim().split('\n')).toHaveLength(1);
        expect(refused.err).toContain(`${name} has 1 other name (hard link`);
        expect(refused.err).toContain('make a real copy (cp, not ln)');
      }
      expect(snapshot(file)).toEqual(before);
      const info = skp(dir, 'info', other);
      expect(info.code, info.err).toBe(0);
      expect(info.out).toMatch(/Images\s+2 /);
      // The first writer goes on alone.
      await holder.imports.importCoco({ file: labels });
      await holder.project.updateSettings({ name: 'renamed' });
      holder.dispose();
      expect(integrity(file)).toBe('ok');
      expect(skp(dir, 'info', file).out).toContain('Project       renamed');
    } finally {
      fs.rmSync(other);
    }
  });

  it('opens read-only in every process, the first one included, until it has one name again', async () => {
    const other = path.join(dir, 'sub', 'copy.skp');
    fs.mkdirSync(path.dirname(other), { recursive: true });
    fs.linkSync(file, other);
    holder = createServices();
    const info = await holder.project.open(file);
    expect(info.readOnly).toBe(true);
    expect(info.readOnlyReason).toContain(`${file} has 1 other name`);
    expect(fs.existsSync(lockFileOf(file)), 'a read-only opening takes no lock').toBe(false);
    const error = await expectError(() => holder.project.updateSettings({ name: 'x' }), 'other name');
    expect(error).toBe(info.readOnlyReason);
    const imported = skp(dir, 'import', other, '--folder', path.join(dir, 'photos'));
    expect(imported.code).toBe(2);
    await holder.project.close();
    fs.rmSync(other);
    expect((await holder.project.open(file)).readOnly).toBe(false);
    expect(integrity(file)).toBe('ok');
  });
});

describe('a symlinked name', () => {
  it('leads to the lock of the file itself: the second writer is refused under either name', async () => {
    fs.mkdirSync(path.join(dir, 'links'), { recursive: true });
    const link = path.join(dir, 'links', 'birds-link.skp');
    fs.symlinkSync(file, link);
    expect(lockFileOf(link)).toBe(lockFileOf(file));
    for (const [held, second] of [
      [link, file],
      [file, link],
    ] as const) {
      holder = createServices();
      const info = await holder.project.open(held);
      expect(info.readOnly).toBe(false);
      expect(info.path, 'the name the user gave is kept').toBe(held);
      const before = snapshot(file);
      const refused = skp(dir, 'import', second, '--coco', labels);
      expect(refused.code).toBe(2);
      expect(refused.err.trim()).toMatch(new RegExp(`^skp import: ${second} ${heldHere.replace(/[()]/g, '\\$&')}`));
      expect(snapshot(file)).toEqual(before);
      const read = skp(dir, 'info', second);
      expect(read.code, read.err).toBe(0);
      expect(read.out).toContain(heldHere);
      holder.dispose();
      expect(fs.existsSync(lockFileOf(file))).toBe(false);
    }
    expect(integrity(file)).toBe('ok');
  });

  it('is never where a new project is made, even one that leads nowhere', async () => {
    const dangling = path.join(dir, 'links', 'new.skp');
    fs.mkdirSync(path.join(dir, 'elsewhere'));
    fs.mkdirSync(path.dirname(dangling), { recursive: true });
    fs.symlinkSync(path.join(dir, 'elsewhere', 'new.skp'), dangling);
    const created = skp(dir, 'new', dangling);
    expect(created.code).toBe(2);
    expect(created.err.trim()).toBe(`skp new: ${dangling} already exists; choose a new project file name`);
    expect(fs.readdirSync(path.join(dir, 'elsewhere'))).toEqual([]);
  });

  it('shares the hold of this process with the file’s own name until both let go', async () => {
    const link = path.join(dir, 'birds-again.skp');
    fs.symlinkSync(file, link);
    holder = createServices();
    const window = createServices();
    await holder.project.open(file);
    await window.project.open(link);
    await holder.project.close();
    expect(fs.existsSync(lockFileOf(file)), 'the other window still holds it').toBe(true);
    window.dispose();
    expect(fs.existsSync(lockFileOf(file))).toBe(false);
  });
});
