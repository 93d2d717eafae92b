// The commands as a new user types them: real processes through bin/skp.mjs.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCocoKeypoints, readJson, tempDir, writeImage } from '../../support/projectHelpers.js';
import { runSkp } from '../../support/skpCommand.js';

let dir: string;

/** Through bin/skp.mjs, as installed, from a folder outside the repository. */
const skp = (...args: string[]) => runSkp(dir, ...args);

beforeAll(async () => {
  dir = tempDir();
  await writeImage(path.join(dir, 'photos', 'a.jpg'), 60, 40, 'jpeg', 1);
  await writeImage(path.join(dir, 'photos', 'deep', 'b.png'), 50, 50, 'png', 2);
  fs.writeFileSync(path.join(dir, 'photos', 'zero.jpg'), '');
  fs.writeFileSync(
    path.join(dir, 'photos', 'labels.json'),
    JSON.stringify({
      images: [{ id: 1, file_name: 'a.jpg', width: 60, height: 40 }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [3, 4, 1, 0, 0, 0] }],
      categories: [{ id: 1, name: 'bird', keypoints: ['beak', 'tail'], skeleton: [[1, 2]] }],
    }),
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('skp new / import / info / export', () => {
  it('--help works from a folder outside the repository and writes nothing on stderr', () => {
    const help = skp('--help');
    expect(help.code, help.err).toBe(0);
    expect(help.out).toMatch(/^Usage: skp <command>/);
    expect(help.err).toBe('');
  });

  it('work end to end, with relative paths, as a new user would type them', () => {
    const created = skp('new', 'birds.skp', '--images', 'photos');
    expect(created.code, created.err).toBe(0);
    expect(created.out).toContain('Imported 2 of 4 files');
    expect(created.out).toMatch(/zero\.jpg: empty file/);
    expect(created.out).toMatch(/labels\.json: not an image/);

    const imported = skp('import', 'birds.skp', '--coco', 'photos/labels.json');
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toContain('1 already in the project');

    const info = skp('info', 'birds.skp');
    expect(info.code, info.err).toBe(0);
    expect(info.err, 'nothing on stderr, such as a GPU library looking for drivers').toBe('');
    expect(info.out).toMatch(/Images\s+2 /);
    expect(info.out).toMatch(/Ground truth\s+1 images, 2 parts: beak, tail/);
    expect(info.out).toMatch(/Parts\s+none/);

    const exported = skp('export', 'birds.skp', '--coco', 'gt.json', '--ground-truth');
    expect(exported.code, exported.err).toBe(0);
    const doc = checkCocoKeypoints(readJson(path.join(dir, 'gt.json')));
    expect(doc.annotations[0]!.keypoints).toEqual([3, 4, 1, 0, 0, 0]);
    expect(doc.images.map((i) => i.file_name)).toContain('photos/a.jpg');

    const table = skp('export', 'birds.skp', '--csv', 'gt.csv', '--ground-truth');
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/Wrote .*gt\.csv: 2 rows for 1 images, 2 keypoints \(beak, tail\)/);
    const lines = fs.readFileSync(path.join(dir, 'gt.csv'), 'utf8').trimEnd().split('\r\n');
    expect(lines[0]).toBe('image,image_id,category,part,part_order,x,y,visibility,source,score');
    expect(lines.slice(1).map((l) => l.split(',').slice(3, 8))).toEqual([
      ['beak', '1', '3', '4', '1'],
      ['tail', '2', '', '', '0'],
    ]);
  });

  it('bad input: exit code 2 and one clear line', () => {
    for (const args of [
      ['export', 'birds.skp', '--coco', 'no/such/dir/out.json', '--ground-truth'],
      ['export', 'birds.skp', '--coco', 'a.json', '--csv', 'a.csv'],
      ['export', 'birds.skp', '--csv', 'a.csv', '--with-scores'],
      ['info', 'photos/labels.json'],
      ['import', 'birds.skp', '--cub', 'photos'],
      ['new', 'x.skp', '--images', 'nowhere', '--colour'],
    ]) {
      const r = skp(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), r.err).toHaveLength(1);
      expect(r.err).toMatch(new RegExp(`^skp ${args[0]}: `));
    }
    expect(fs.existsSync(path.join(dir, 'x.skp'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'a.json')) || fs.existsSync(path.join(dir, 'a.csv'))).toBe(false);
  });
});
