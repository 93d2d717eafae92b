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

const parts = ['beak', 'left eye', 'tail'];

/** A valid COCO keypoints document over the images in dir/coco-images. */
function cocoDocument() {
  return {
    info: { description: 'test' },
    images: [
      { id: 10, file_name: 'a.jpg', width: 60, height: 40, license: 1 },
      { id: 20, file_name: 'sub/b.png', width: 50, height: 50 },
    ],
    annotations: [
      {
        id: 100,
        image_id: 10,
        category_id: 3,
        keypoints: [10.5, 12, 2, 20, 22.25, 1, 0, 0, 0],
        num_keypoints: 2,
        bbox: [5, 5, 30, 20],
        area: 600,
        iscrowd: 0,
        segmentation: [],
      },
      { id: 101, image_id: 20, category_id: 3, keypoints: [1, 2, 2, 3, 4, 2, 5, 6, 1] },
      { id: 102, image_id: 20, category_id: 3, keypoints: [7, 8, 1, 0, 0, 0, 9, 9, 2] },
    ],
    categories: [
      {
        id: 3,
        name: 'bird',
        supercategory: 'animal',
        keypoints: parts,
        skeleton: [
          [1, 2],
          [2, 3],
        ],
      },
    ],
  };
}

const write = (name: string, content: unknown) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
};

beforeAll(async () => {
  dir = tempDir();
  await writeImage(path.join(dir, 'a.jpg'), 60, 40, 'jpeg', 1);
  await writeImage(path.join(dir, 'sub', 'b.png'), 50, 50, 'png', 2);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('COCO keypoints import', () => {
  it('stores images and ground truth, visibility 1 included, and exports it back unchanged', async () => {
    const { services } = await freshProject(dir, 'coco.skp');
    const result = await services.imports.importCoco({ file: write('gt.json', cocoDocument()) });
    expect(result).toMatchObject({ imagesAdded: 2, instances: 3, parts, skipped: [] });
    expect(await services.groundTruth.schema()).toEqual({
      parts: parts.map((name, position) => ({ position, name })),
      skeleton: [
        [0, 1],
        [1, 2],
      ],
    });
    const images = (await services.images.list({ sort: 'path' })).items;
    const [first] = await services.groundTruth.forImage(images[0]!.id);
    expect(first!.points.map((p) => p.visibility)).toEqual([2, 1, 0]);
    expect(first!.bbox).toEqual({ x: 5, y: 5, width: 30, height: 20 });

    const out = path.join(dir, 'gt-out.json');
    await services.exports.exportCoco({ file: out, groundTruth: true });
    const exported = checkCocoKeypoints(readJson(out));
    const original = cocoDocument();
    expect(exported.categories[0]).toMatchObject({
      name: 'bird',
      keypoints: parts,
      skeleton: [
        [1, 2],
        [2, 3],
      ],
    });
    const byFile = new Map(exported.images.map((i) => [i.file_name, i.id]));
    for (const annotation of original.annotations) {
      const fileName = original.images.find((i) => i.id === annotation.image_id)!.file_name;
      const match = exported.annotations.filter((a) => a.image_id === byFile.get(fileName));
      expect(match.map((a) => a.keypoints)).toContainEqual(annotation.keypoints);
    }
    expect(exported.annotations.find((a) => (a.keypoints as number[])[0] === 10.5)).toMatchObject({
      bbox: [5, 5, 30, 20],
      area: 600,
      num_keypoints: 2,
    });
  });

  it('matches images the project already has instead of adding them twice', async () => {
    const { services } = await freshProject(dir, 'existing.skp', dir);
    const before = (await services.images.list({})).total;
    const result = await services.imports.importCoco({ file: write('gt2.json', cocoDocument()) });
    expect(result.imagesMatched).toBe(2);
    expect(result.imagesAdded).toBe(0);
    expect((await services.images.list({})).total).toBe(before);
    const again = await services.imports.importCoco({ file: path.join(dir, 'gt2.json') });
    expect(again.imagesReplaced).toBe(2);
    expect((await services.groundTruth.summary()).instances).toBe(3);
  });

  it('resolves file names against --images and skips unreadable or mis-sized images with the reason', async () => {
    const { services } = await freshProject(dir, 'skips.skp');
    const doc = cocoDocument();
    doc.images.push({ id: 30, file_name: 'missing.jpg', width: 10, height: 10 });
    doc.images[1]!.width = 99;
    doc.annotations.push({ id: 103, image_id: 30, category_id: 3, keypoints: [1, 1, 2, 1, 1, 2, 1, 1, 2] });
    fs.mkdirSync(path.join(dir, 'json'), { recursive: true });
    const result = await services.imports.importCoco({ file: write('json/gt.json', doc), imagesRoot: dir });
    expect(result.imagesAdded).toBe(1);
    expect(result.skipped.map((s) => [path.basename(s.path), s.reason])).toEqual([
      ['b.png', expect.stringContaining('labelled at 99×50')],
      ['missing.jpg', expect.stringContaining('cannot be read (ENOENT)')],
    ]);
    expect(result.instancesDropped).toBe(3);
  });

  describe('bad files: one clear error naming the file and field, and the project unchanged', () => {
    const cases: Array<[string, (doc: ReturnType<typeof cocoDocument>) => unknown, string[]]> = [
      ['missing field', (d) => ({ ...d, annotations: undefined }), ['annotations', 'expected array']],
      [
        'wrong type',
        (d) => (((d.images[1] as { width: unknown }).width = '50'), d),
        ['images[1].width', 'expected number'],
      ],
      [
        'missing keypoints',
        (d) => (((d.categories[0] as { keypoints?: unknown }).keypoints = undefined), d),
        ['categories[0].keypoints'],
      ],
      [
        'dangling image id',
        (d) => ((d.annotations[1]!.image_id = 77), d),
        ['annotations[1].image_id', 'no image has id 77'],
      ],
      [
        'dangling category id',
        (d) => ((d.annotations[0]!.category_id = 9), d),
        ['annotations[0].category_id', 'no category has id 9'],
      ],
      ['duplicate image id', (d) => ((d.images[1]!.id = 10), d), ['images[1].id', '10 is also the id of images[0]']],
      ['duplicate annotation id', (d) => ((d.annotations[2]!.id = 100), d), ['annotations[2].id']],
      [
        'keypoints of the wrong length',
        (d) => (d.annotations[1]!.keypoints.pop(), d),
        ['annotations[1].keypoints', 'expected 9 numbers', 'got 8'],
      ],
      [
        'bad visibility',
        (d) => ((d.annotations[1]!.keypoints[5] = 3), d),
        ['annotations[1].keypoints[5]', 'must be 0, 1 or 2', 'got 3'],
      ],
      [
        '0-based skeleton',
        (d) => ((d.categories[0]!.skeleton = [[0, 1]]), d),
        ['categories[0].skeleton[0]', 'count from 1'],
      ],
      [
        'same file twice',
        (d) => ((d.images[1]!.file_name = 'a.jpg'), d),
        ['images[1].file_name', 'same file as images[0]'],
      ],
    ];
    it.each(cases)('%s', async (_name, spoil, fragments) => {
      const { services, file } = await freshProject(dir, `bad-${_name.replaceAll(' ', '-')}.skp`);
      await services.imports.importCoco({ file: write('ok.json', cocoDocument()) });
      const before = snapshot(file);
      const bad = write('bad.json', spoil(cocoDocument()));
      await expectError(() => services.imports.importCoco({ file: bad }), bad, ...fragments);
      expect(snapshot(file)).toEqual(before);
    });

    it('broken JSON is reported with its line', async () => {
      const { services, file } = await freshProject(dir, 'broken.skp');
      const before = snapshot(file);
      const text = JSON.stringify(cocoDocument(), null, 2).split('\n');
      text[7] = text[7] + ',,';
      const bad = write('broken.json', text.join('\n'));
      await expectError(() => services.imports.importCoco({ file: bad }), bad, 'not valid JSON', 'line 8');
      expect(snapshot(file)).toEqual(before);
    });

    it('a file of other labelled parts than the project already has', async () => {
      const { services, file } = await freshProject(dir, 'parts.skp');
      await services.imports.importCoco({ file: write('ok.json', cocoDocument()) });
      const before = snapshot(file);
      const doc = cocoDocument();
      doc.categories[0]!.keypoints = ['x', 'y', 'z'];
      await expectError(
        () => services.imports.importCoco({ file: write('other.json', doc) }),
        'differ from the project',
      );
      expect(snapshot(file)).toEqual(before);
    });

    it('missing file and missing image folder', async () => {
      const { services } = await freshProject(dir, 'missing.skp');
      await expectError(
        () => services.imports.importCoco({ file: path.join(dir, 'nope.json') }),
        'nope.json',
        'does not exist',
      );
      await expectError(
        () =>
          services.imports.importCoco({ file: write('ok.json', cocoDocument()), imagesRoot: path.join(dir, 'no-dir') }),
        'no-dir',
        'does not exist',
      );
    });
  });
});
