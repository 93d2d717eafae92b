import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkCocoKeypoints,
  expectError,
  freshProject,
  readJson,
  snapshot,
  tempDir,
  writeImage,
} from '../../../support/projectHelpers.js';

let dir: string;
let cub: string;

const files: Record<string, string> = {
  'images.txt':
    '1 001.Black_footed_Albatross/Albatross_0001.jpg\n2 001.Black_footed_Albatross/Albatross_0002.jpg\n3 002.Laysan_Albatross/Laysan 0003.jpg\n',
  'train_test_split.txt': '1 1\n2 0\n3 1\n',
  'bounding_boxes.txt': '1 10.0 12.0 40.0 30.0\n2 0.0 0.0 64.0 48.0\n3 5.5 6.5 20.0 21.0\n',
  'parts/parts.txt': '1 back\n2 beak\n3 left eye\n',
  'parts/part_locs.txt': [
    '1 1 20.0 20.0 1',
    '1 2 30.5 25.0 1',
    '1 3 0.0 0.0 0',
    '2 1 5.0 6.0 1',
    '2 2 0.0 0.0 0',
    '2 3 7.0 8.0 1',
    '3 2 9.0 9.0 1',
  ].join('\n'),
};

function writeCub(folder: string, changes: Record<string, string | null> = {}) {
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(path.join(folder, 'parts'), { recursive: true });
  for (const [name, text] of Object.entries({ ...files, ...changes })) {
    if (text !== null) fs.writeFileSync(path.join(folder, name), text);
  }
  fs.cpSync(path.join(dir, 'cub-images'), path.join(folder, 'images'), { recursive: true });
}

beforeAll(async () => {
  dir = tempDir();
  const images = path.join(dir, 'cub-images');
  await writeImage(path.join(images, '001.Black_footed_Albatross', 'Albatross_0001.jpg'), 64, 48, 'jpeg', 1);
  await writeImage(path.join(images, '001.Black_footed_Albatross', 'Albatross_0002.jpg'), 64, 48, 'jpeg', 2);
  await writeImage(path.join(images, '002.Laysan_Albatross', 'Laysan 0003.jpg'), 32, 32, 'jpeg', 3);
  cub = path.join(dir, 'CUB_200_2011');
  writeCub(cub);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('CUB-200-2011 import', () => {
  it('stores images, splits, boxes and parts; invisible parts become v = 0', async () => {
    const { services } = await freshProject(dir, 'cub.skp');
    const result = await services.imports.importCub({ folder: cub });
    expect(result).toMatchObject({ imagesAdded: 3, instances: 3, splitsSet: 3, parts: ['back', 'beak', 'left eye'] });
    const info = await services.project.info();
    expect(info.counts).toMatchObject({ images: 3, train: 2, test: 1, imagesWithGroundTruth: 3, groundTruthParts: 3 });

    const images = (await services.images.list({ sort: 'path' })).items;
    expect(images.map((i) => i.path)).toEqual([
      'CUB_200_2011/images/001.Black_footed_Albatross/Albatross_0001.jpg',
      'CUB_200_2011/images/001.Black_footed_Albatross/Albatross_0002.jpg',
      'CUB_200_2011/images/002.Laysan_Albatross/Laysan 0003.jpg',
    ]);
    const [first] = await services.groundTruth.forImage(images[0]!.id);
    expect(first!.bbox).toEqual({ x: 10, y: 12, width: 40, height: 30 });
    expect(first!.points).toEqual([
      { part: 0, x: 20, y: 20, visibility: 2 },
      { part: 1, x: 30.5, y: 25, visibility: 2 },
      { part: 2, x: 0, y: 0, visibility: 0 },
    ]);
    // Image 3 lists only its beak: the other parts are not labelled.
    const [third] = await services.groundTruth.forImage(images[2]!.id);
    expect(third!.points.map((p) => p.visibility)).toEqual([0, 2, 0]);

    const out = path.join(dir, 'cub-gt.json');
    await services.exports.exportCoco({ file: out, groundTruth: true, split: 'train' });
    const doc = checkCocoKeypoints(readJson(out));
    expect(doc.images).toHaveLength(2);
    expect(doc.categories[0]!.keypoints).toEqual(['back', 'beak', 'left eye']);
  });

  describe('a broken CUB folder is one clear error naming file and line, and the project is unchanged', () => {
    const cases: Array<[string, Record<string, string | null>, string[]]> = [
      ['missing part_locs', { 'parts/part_locs.txt': null }, ['missing parts/part_locs.txt']],
      ['missing split file', { 'train_test_split.txt': null }, ['missing train_test_split.txt']],
      ['missing boxes', { 'bounding_boxes.txt': null }, ['missing bounding_boxes.txt']],
      ['missing images.txt', { 'images.txt': null }, ['missing images.txt']],
      ['short line', { 'bounding_boxes.txt': '1 10 12 40 30\n2 0 0 64\n' }, ['bounding_boxes.txt line 2', 'expected']],
      [
        'not a number',
        { 'parts/part_locs.txt': '1 1 20.0 abc 1\n' },
        ['part_locs.txt line 1', 'y "abc" is not a number'],
      ],
      [
        'unknown image',
        { 'train_test_split.txt': '1 1\n2 0\n3 1\n9 1\n' },
        ['train_test_split.txt line 4', 'image 9 is not in images.txt'],
      ],
      ['bad flag', { 'train_test_split.txt': '1 1\n2 2\n' }, ['train_test_split.txt line 2', 'must be 0 or 1']],
      ['bad visible', { 'parts/part_locs.txt': '1 1 2 2 5\n' }, ['part_locs.txt line 1', 'visible must be 0 or 1']],
      [
        'unknown part',
        { 'parts/part_locs.txt': '1 7 2 2 1\n' },
        ['part_locs.txt line 1', 'part 7 is not in parts/parts.txt'],
      ],
      ['duplicate image id', { 'images.txt': '1 a.jpg\n1 b.jpg\n' }, ['images.txt line 2', 'listed twice']],
      ['duplicate part', { 'parts/part_locs.txt': '1 1 2 2 1\n1 1 3 3 1\n' }, ['part_locs.txt line 2', 'listed twice']],
    ];
    it.each(cases)('%s', async (name, changes, fragments) => {
      const { services, file } = await freshProject(dir, `bad-${name.replaceAll(' ', '-')}.skp`);
      await services.imports.importCub({ folder: cub });
      const before = snapshot(file);
      const broken = path.join(dir, 'broken-cub');
      writeCub(broken, changes);
      await expectError(() => services.imports.importCub({ folder: broken }), broken, ...fragments);
      expect(snapshot(file)).toEqual(before);
    });
  });
});
