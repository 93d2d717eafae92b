// Projects on disks that cannot take writes: a read-only mount (reading commands work and say
// why; writing ones fail with one line), a file the system will not let anyone write, and a full
// disk (the import is rolled back with one message, the file stays sound, and the reading
// commands still work). Real mounts need root: a read-only bind mount and a small tmpfs. A user
// who is not root gets folders without write permission instead, and no full-disk test.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../../electron/common/errors.js';
import { createServices } from '../../../electron/services/container.js';
import { integrity, readJson, skp, snapshot, tempDir, writeTwoPhotos } from '../../support/projectHelpers.js';

const root = process.getuid?.() === 0;
const run = (command: string, ...args: string[]) => spawnSync(command, args).status === 0;

/** Makes `folder` read-only (a read-only bind mount as root, permissions otherwise); returns the undoing. */
function makeReadOnly(folder: string): (() => void) | null {
  if (!root) {
    fs.chmodSync(folder, 0o555);
    return () => fs.chmodSync(folder, 0o755);
  }
  if (!run('mount', '--bind', folder, folder)) return null;
  if (run('mount', '-o', 'remount,ro,bind', folder)) return () => void run('umount', '-l', folder);
  run('umount', folder);
  return null;
}

/** Whether this system lets the test mount what it needs. */
function probe(): { readOnly: boolean; tmpfs: boolean; immutable: boolean } {
  const dir = tempDir('skp-probe-');
  try {
    const undo = makeReadOnly(dir);
    undo?.();
    const tmpfs = root && run('mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir) && run('umount', dir);
    fs.writeFileSync(path.join(dir, 'f'), '');
    const immutable = root && run('chattr', '+i', path.join(dir, 'f')) && run('chattr', '-i', path.join(dir, 'f'));
    return { readOnly: undo !== null, tmpfs, immutable };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const can = probe();

let dir: string;
let labels: string;

/** Every row of a closed project, read from a copy: reading the file itself would leave journal files beside it. */
function saved(file: string): ReturnType<typeof snapshot> {
  const copy = path.join(dir, 'copy.skp');
  fs.copyFileSync(file, copy);
  try {
    return snapshot(copy);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(copy + suffix, { force: true });
  }
}

/** A project `name` in `folder` with the two photos and the labels of one; closed. */
async function makeProject(folder: string, name = 'birds.skp'): Promise<string> {
  fs.mkdirSync(folder, { recursive: true });
  const services = createServices();
  const file = path.join(folder, name);
  await services.project.create({ path: file, images: path.join(dir, 'photos') });
  await services.imports.importCoco({ file: labels });
  services.dispose();
  return file;
}

beforeAll(async () => {
  dir = tempDir();
  labels = await writeTwoPhotos(path.join(dir, 'photos'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a project on a read-only disk or folder', () => {
  it.skipIf(!can.readOnly)('is read by info and export, saying why; writing fails with one line', async () => {
    const folder = path.join(dir, 'readonly');
    const file = await makeProject(folder);
    const before = saved(file);
    const undo = makeReadOnly(folder) as () => void;
    try {
      const why = root ? 'is on a read-only file system' : 'cannot be written';
      const info = skp(dir, 'info', file);
      expect(info.code, info.err).toBe(0);
      expect(info.out).toMatch(/Images\s+2 /);
      expect(info.out).toContain(`Read-only     ${file} is open read-only: the file ${why}`);

      const exported = skp(dir, 'export', file, '--coco', path.join(dir, 'gt.json'), '--ground-truth');
      expect(exported.code, exported.err).toBe(0);
      expect((readJson(path.join(dir, 'gt.json')) as { annotations: unknown[] }).annotations).toHaveLength(1);

      for (const args of [
        ['import', file, '--coco', labels],
        ['new', path.join(folder, 'new.skp')],
      ]) {
        const refused = skp(dir, ...args);
        expect(refused.code, args.join(' ')).toBe(2);
        expect(refused.err.trim().split('\n'), refused.err).toHaveLength(1);
        expect(refused.err).toContain(root ? 'read-only file system' : 'not writable');
      }
      expect(fs.readdirSync(folder), 'no journal, lock or new file was left').toEqual(['birds.skp']);
    } finally {
      undo();
    }
    expect(snapshot(file)).toEqual(before);
    expect(integrity(file)).toBe('ok');
  });

  it.skipIf(!can.readOnly)('left with changes in its -wal, says what to copy instead of showing old data', async () => {
    const services = createServices();
    const file = path.join(dir, 'unclean.skp');
    await services.project.create({ path: file });
    services.context.db.sql.pragma('wal_autocheckpoint = 0');
    await services.project.updateSettings({ name: 'only in the journal' });
    const folder = path.join(dir, 'unclean');
    fs.mkdirSync(folder);
    for (const suffix of ['', '-wal']) fs.copyFileSync(file + suffix, path.join(folder, 'unclean.skp') + suffix);
    services.dispose();
    const undo = makeReadOnly(folder) as () => void;
    try {
      const copy = path.join(folder, 'unclean.skp');
      const info = skp(dir, 'info', copy);
      expect(info.code).toBe(2);
      expect(info.err.trim()).toBe(
        `skp info: ${copy} cannot be read here: it was not closed cleanly, some of its changes are still in ` +
          `${copy}-wal, and SQLite cannot read that where it cannot write; copy both files to a writable folder and open the copy`,
      );
    } finally {
      undo();
    }
  });

  it.skipIf(!can.immutable)('a file no one may write (chattr +i) opens read-only and refuses changes', async () => {
    const file = await makeProject(path.join(dir, 'immutable'));
    expect(run('chattr', '+i', file)).toBe(true);
    const services = createServices();
    try {
      const info = await services.project.open(file);
      expect(info.readOnlyReason).toBe(
        `${file} is open read-only: the file cannot be written (its permissions or attributes forbid it)`,
      );
      const error = await services.project.updateSettings({ name: 'renamed' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).message).toBe(info.readOnlyReason);
    } finally {
      services.dispose();
      run('chattr', '-i', file);
    }
  });
});

/** Fills the disk of `folder` with one file, then frees `leave` bytes of it. */
function fill(folder: string, leave = 0): string {
  const filler = path.join(folder, 'filler');
  const fd = fs.openSync(filler, 'a');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (leave > 0) fs.truncateSync(filler, fs.statSync(filler).size - leave);
  return filler;
}

describe.skipIf(!can.tmpfs)('a full disk', () => {
  let disk: string;
  beforeAll(() => {
    disk = path.join(dir, 'small');
    fs.mkdirSync(disk);
    expect(run('mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk)).toBe(true);
  });
  afterAll(() => void run('umount', '-l', disk));

  it('rolls an import back with one message, and leaves the file sound', async () => {
    const services = createServices();
    const file = path.join(disk, 'birds.skp');
    await services.project.create({ path: file });
    const before = snapshot(file);
    const filler = fill(disk);
    try {
      const error = await services.imports.importCoco({ file: labels }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code).toBe('storage');
      expect((error as ServiceError).message).toBe(`disk full at ${disk}: nothing was changed`);
      const images = await services.images.importFolder(path.join(dir, 'photos')).catch((e: unknown) => e);
      expect((images as Error).message).toBe(`disk full at ${disk}: nothing was changed`);
      expect(snapshot(file)).toEqual(before);
    } finally {
      fs.rmSync(filler);
    }
    expect(integrity(file)).toBe('ok');
    // With room again, the same import goes through.
    expect((await services.imports.importCoco({ file: labels })).imagesAdded).toBe(1);
    services.dispose();
  });

  it('with 4 KB free: export and info read the project as saved; import says the disk is full', async () => {
    const file = await makeProject(disk, 'full.skp');
    const before = saved(file);
    const filler = fill(disk, 4096);
    try {
      const exported = skp(dir, 'export', file, '--coco', path.join(dir, 'full.json'), '--ground-truth');
      expect(exported.code, exported.err).toBe(0);
      expect((readJson(path.join(dir, 'full.json')) as { annotations: unknown[] }).annotations).toHaveLength(1);
      const info = skp(dir, 'info', file);
      expect(info.code, info.err).toBe(0);
      expect(info.out).toContain(`${file} is open read-only: its disk is full`);
      const out = path.join(disk, 'out.json');
      const exportedHere = skp(dir, 'export', file, '--coco', out, '--ground-truth');
      expect(exportedHere.code).toBe(2);
      expect(exportedHere.err.trim()).toBe(`skp export: disk full at ${disk}: nothing was changed`);
      expect(fs.readdirSync(disk).filter((f) => f.includes('out.json'))).toEqual([]);
      const imported = skp(dir, 'import', file, '--coco', labels);
      expect(imported.code).toBe(2);
      expect(imported.err.trim()).toMatch(
        /^skp import: (disk full at .*|cannot read or write .* the disk is full or failing .*): nothing was changed$/,
      );
    } finally {
      fs.rmSync(filler);
    }
    expect(snapshot(file)).toEqual(before);
    expect(integrity(file)).toBe('ok');
  });
});
