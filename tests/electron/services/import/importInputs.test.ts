// Faulty and hostile import inputs: every bad entry is skipped with its reason and the import
// goes on; a bad list file is one clear message; nothing the import names leads outside its
// folder (and the reason never tells whether something is there); a huge image is refused
// from its header; coordinates far outside the image are refused, in imports and in hand
// corrections alike; and an import that could use no image says so and exits non-zero.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_IMAGE_PIXELS, PixelBudget, renderImage } from '../../../../electron/services/imageFiles.js';
import { trainedProject } from '../../../support/trainedProject.js';
import { expectError, freshProject, skp, snapshot, tempDir, writeImage } from '../../../support/projectHelpers.js';

let dir: string;
let photos: string;

/** A valid PNG of `side`² black pixels (1 bit each): a few hundred KB on disk, `side`² pixels to decode. */
function hugePng(file: string, side: number): void {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([1, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc((Math.ceil(side / 8) + 1) * side);
  fs.writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', zlib.deflateSync(rows)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

const mkfifo = (file: string) => expect(spawnSync('mkfifo', [file]).status).toBe(0);
const reasonsOf = (skipped: Array<{ path: string; reason: string }>, base: string) =>
  Object.fromEntries(skipped.map((s) => [path.relative(base, s.path), s.reason]));

beforeAll(async () => {
  dir = tempDir();
  photos = path.join(dir, 'photos');
  await writeImage(path.join(photos, 'a.png'), 60, 40, 'png', 1);
  await writeImage(path.join(photos, 'b.png'), 50, 50, 'png', 2);
  await writeImage(path.join(dir, 'elsewhere', 'secret.png'), 10, 10, 'png', 3);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a folder of images', () => {
  it('skips links that loop, lead outside or to folders, pipes and huge images with reasons, and imports the rest', async () => {
    const folder = path.join(dir, 'mixed');
    fs.cpSync(photos, folder, { recursive: true });
    fs.mkdirSync(path.join(folder, 'sub'));
    fs.symlinkSync('loop.png', path.join(folder, 'loop.png'));
    fs.symlinkSync(path.join(dir, 'elsewhere', 'secret.png'), path.join(folder, 'out.png'));
    fs.symlinkSync(path.join(dir, 'elsewhere', 'nothing.png'), path.join(folder, 'out-missing.png'));
    fs.symlinkSync('/dev/zero', path.join(folder, 'zero.png'));
    fs.symlinkSync('sub', path.join(folder, 'sub-link'));
    fs.symlinkSync('a.png', path.join(folder, 'same-as-a.png'));
    mkfifo(path.join(folder, 'pipe.png'));
    hugePng(path.join(folder, 'huge.png'), 16383);
    const { services } = await freshProject(dir, 'mixed.skp');
    const result = await services.images.importFolder(folder);
    const reasons = reasonsOf(result.skipped, folder);
    const outside = `outside the import folder ${folder}; only files under it are imported`;
    expect(reasons).toEqual({
      'loop.png': 'a loop of symbolic links',
      'out.png': outside,
      'out-missing.png': outside,
      'zero.png': outside,
      'sub-link': 'link to a folder, not to a file',
      'pipe.png': 'not a regular file (a device, pipe or socket)',
      'huge.png': 'too large to decode: 16383×16383 is 268 megapixels (at most 100); make a smaller copy',
    });
    expect(result.imported).toBe(3);
  });
});

describe('the decoding budget', () => {
  it('lets images decode together while their pixels fit, one larger than the whole budget alone, in order', async () => {
    const budget = new PixelBudget(100);
    const started: string[] = [];
    const take = (name: string, pixels: number) =>
      budget.take(pixels).then((release) => {
        started.push(name);
        return release;
      });
    const small = take('a 60', 60);
    const second = take('b 30', 30);
    const waits = take('c 30', 30);
    const huge = take('d 500', 500);
    const releaseA = await small;
    const releaseB = await second;
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a 60', 'b 30']);
    releaseA();
    const releaseC = await waits;
    await new Promise((resolve) => setImmediate(resolve));
    expect(started, 'the huge one waits for the budget to empty').toEqual(['a 60', 'b 30', 'c 30']);
    releaseB();
    releaseC();
    (await huge)();
    expect(started).toEqual(['a 60', 'b 30', 'c 30', 'd 500']);
  });
});

describe('showing an image', () => {
  it('makes the copy from a shrinking decode, and refuses an image too large to decode, saying so', async () => {
    const copy = await renderImage(path.join(photos, 'a.png'), { width: 60, height: 40 }, 30, 'png');
    expect(await sharp(copy).metadata()).toMatchObject({ format: 'png', width: 30, height: 20 });
    const huge = path.join(dir, 'huge.png');
    hugePng(huge, 16383);
    expect(16383 * 16383).toBeGreaterThan(MAX_IMAGE_PIXELS);
    await expectError(
      () => renderImage(huge, { width: 16383, height: 16383 }, 256, 'png'),
      `${huge} is too large to decode: 16383×16383`,
    );
  });
});

describe('COCO files', () => {
  const doc = (fileNames: string[], keypoints = [3, 4, 2]) => ({
    images: fileNames.map((file_name, i) => ({ id: i + 1, file_name, width: 60, height: 40 })),
    annotations: fileNames.map((_, i) => ({ id: i + 1, image_id: i + 1, category_id: 1, keypoints })),
    categories: [{ id: 1, name: 'bird', keypoints: ['beak'] }],
  });
  const write = (name: string, content: string | Buffer) => {
    const file = path.join(photos, name);
    fs.writeFileSync(file, content);
    return file;
  };

  it('keep every image inside the import folder; the reason does not tell whether the file outside exists', async () => {
    const { services } = await freshProject(dir, 'coco-outside.skp');
    mkfifo(path.join(photos, 'pipe.png'));
    const names = [
      'a.png',
      path.join(dir, 'elsewhere', 'secret.png'),
      '../elsewhere',
      '../elsewhere/nothing.png',
      '../../../../../../etc/hostname',
      'pipe.png',
    ];
    const result = await services.imports.importCoco({ file: write('outside.json', JSON.stringify(doc(names))) });
    const outside = `outside the import folder ${photos}; only files under it are imported`;
    expect(result.skipped.map((s) => s.reason)).toEqual([
      outside,
      outside,
      outside,
      outside,
      'a named pipe (FIFO), not an image file',
    ]);
    expect(result.imagesAdded).toBe(1);
    fs.rmSync(path.join(photos, 'pipe.png'));
  });

  it('accept a UTF-8 byte-order mark; refuse UTF-16, devices and broken JSON with a message that shows what is there', async () => {
    const { services, file } = await freshProject(dir, 'coco-text.skp');
    const text = JSON.stringify(doc(['a.png']));
    const bom = write('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
    expect((await services.imports.importCoco({ file: bom })).imagesAdded).toBe(1);
    const before = snapshot(file);
    const utf16 = write('utf16.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    await expectError(() => services.imports.importCoco({ file: utf16 }), `${utf16} is UTF-16 text: save it as UTF-8`);
    const bare16 = write('bare16.json', Buffer.from(text, 'utf16le'));
    await expectError(() => services.imports.importCoco({ file: bare16 }), 'is UTF-16 text: save it as UTF-8');
    await expectError(
      () => services.imports.importCoco({ file: '/dev/zero' }),
      '/dev/zero is a device, not a COCO keypoints JSON file',
    );
    const hidden = write('hidden.json', `{"images": \u202e[]}`);
    const message = await expectError(() => services.imports.importCoco({ file: hidden }), 'line 1, column 12');
    expect(message).toContain('\\u{202e}');
    expect(message).not.toContain('\u202e');
    const big = write('big.json', '');
    fs.truncateSync(big, 600_000_000);
    await expectError(() => services.imports.importCoco({ file: big }), 'too large for a COCO keypoints JSON file');
    fs.rmSync(big);
    expect(snapshot(file)).toEqual(before);
  });

  it('skip an image whose labelled points lie far outside it (±1e308), with the reason', async () => {
    const { services } = await freshProject(dir, 'coco-far.skp');
    const far = doc(['a.png', 'b.png'], [1e308, 4, 2]);
    far.images[1]!.width = 50;
    far.images[1]!.height = 50;
    far.annotations[1]!.keypoints = [-2, 54, 2];
    const result = await services.imports.importCoco({ file: write('far.json', JSON.stringify(far)) });
    expect(reasonsOf(result.skipped, photos)).toEqual({
      'a.png':
        'coco:far.json#1: point "beak" at (1e+308, 4): x must lie within the image (60 px wide, 10 % margin: -6 to 66)',
    });
    expect(result.imagesAdded).toBe(1);
    expect((await services.groundTruth.summary()).instances).toBe(1);
  });
});

describe('the keypoint service', () => {
  it('keeps hand corrections inside the image, and refuses invisible characters in part names', async () => {
    const p = await trainedProject(path.join(dir, 'trained'));
    const [part] = p.parts;
    const image = p.imageIds[0]!;
    // Imported labels may lie a little outside (10 % margin); a point placed by hand may not.
    for (const [x, y] of [
      [1e308, 3],
      [3, -9],
      [105, -7],
    ])
      await expectError(
        () => p.services.keypoints.setCorrected(image, [{ partId: part!.id, x: x!, y: y!, visibility: 2 }]),
        `at (${x}, ${y}) lies outside the 100×80 image`,
      );
    const kept = await p.services.keypoints.setCorrected(image, [{ partId: part!.id, x: 100, y: 0, visibility: 2 }]);
    expect(kept.map((k) => [k.x, k.y])).toEqual([[100, 0]]);
    await expectError(
      () => p.services.keypoints.updatePart(part!.id, { name: '\u0000\u202e' }),
      'part change: name: must not contain control or invisible characters',
    );
    p.services.dispose();
  });
});

describe('CUB folders', () => {
  const cub = (name: string, files: Record<string, string | Buffer>) => {
    const folder = path.join(dir, name);
    fs.mkdirSync(path.join(folder, 'parts'), { recursive: true });
    fs.mkdirSync(path.join(folder, 'images', 'birds'), { recursive: true });
    fs.copyFileSync(path.join(photos, 'a.png'), path.join(folder, 'images', 'birds', 'two  spaces.png'));
    fs.copyFileSync(path.join(photos, 'b.png'), path.join(folder, 'images', 'birds', 'b.png'));
    const all: Record<string, string | Buffer> = {
      'images.txt': '1 birds/two  spaces.png\n2 birds/b.png\n',
      'train_test_split.txt': '1 1\n2 0\n',
      'bounding_boxes.txt': '1 1 1 50 30\n2 0 0 50 50\n',
      'parts/parts.txt': '1 beak\n2 left  eye\n',
      'parts/part_locs.txt': '1 1 5 5 1\n1 2 6 6 1\n2 1 7 7 1\n2 2 0 0 0\n',
      ...files,
    };
    for (const [file, text] of Object.entries(all)) fs.writeFileSync(path.join(folder, file), text);
    return folder;
  };

  it('keep names exactly as written, and accept a UTF-8 byte-order mark', async () => {
    const { services } = await freshProject(dir, 'cub-names.skp');
    const folder = cub('cub-names', { 'images.txt': '\ufeff1 birds/two  spaces.png\n2 birds/b.png\n' });
    const result = await services.imports.importCub({ folder });
    expect(result.skipped).toEqual([]);
    expect(result.imagesAdded).toBe(2);
    expect(result.parts).toEqual(['beak', 'left  eye']);
  });

  it('skip image paths that lead outside the folder, with one reason whether or not the file exists', async () => {
    const { services } = await freshProject(dir, 'cub-outside.skp');
    const folder = cub('cub-outside', {
      'images.txt': `1 birds/b.png\n2 ../../elsewhere/secret.png\n3 ${path.join(dir, 'elsewhere', 'nothing.png')}\n`,
      'train_test_split.txt': '1 1\n2 0\n3 0\n',
      'bounding_boxes.txt': '1 0 0 50 50\n',
      'parts/part_locs.txt': '1 1 5 5 1\n2 1 5 5 1\n3 1 5 5 1\n',
    });
    const result = await services.imports.importCub({ folder });
    const outside = `outside the import folder ${folder}; only files under it are imported`;
    expect(result.skipped.map((s) => s.reason)).toEqual([outside, outside]);
    expect(result.imagesAdded).toBe(1);
  });

  it('refuse bad lists with the file and line, and change nothing', async () => {
    const { services, file } = await freshProject(dir, 'cub-bad.skp');
    const before = snapshot(file);
    const cases: Array<[Record<string, string | Buffer>, string]> = [
      [
        { 'bounding_boxes.txt': '1 1 1 50 30\n2 0 0 -50 50\n' },
        'bounding_boxes.txt line 2: a box cannot have a negative width (-50×50)',
      ],
      [{ 'parts/parts.txt': '1 beak\n2 eye\n2 tail\n' }, 'parts/parts.txt line 3: part id 2 is listed twice'],
      [{ 'parts/parts.txt': '1 beak\n2 beak\n' }, 'parts/parts.txt line 2: part name "beak" is listed twice'],
      [{ 'images.txt': Buffer.from('1 birds/b.png\n', 'utf16le') }, 'images.txt is UTF-16 text: save it as UTF-8'],
      [
        { 'train_test_split.txt': '1\u202e 1\n' },
        'train_test_split.txt line 1: image id "1\\u{202e}" is not a whole number',
      ],
    ];
    for (const [files, message] of cases) {
      const folder = cub('cub-bad', files);
      await expectError(() => services.imports.importCub({ folder }), path.join(folder, message));
      fs.rmSync(folder, { recursive: true });
    }
    const special: Array<[string, (target: string) => void, string]> = [
      ['images.txt', (t) => fs.symlinkSync('/dev/zero', t), 'images.txt: outside the import folder'],
      ['images.txt', (t) => fs.symlinkSync('images.txt', t), 'images.txt: a loop of symbolic links'],
      ['images.txt', mkfifo, 'images.txt is a named pipe (FIFO), not a CUB list'],
      ['parts/part_locs.txt', (t) => fs.mkdirSync(t), 'parts/part_locs.txt is a folder, not a CUB list'],
      [
        'parts/part_locs.txt',
        (t) => fs.truncateSync(t, 65_000_000),
        'is too large for a CUB list (65 MB; at most 64 MB)',
      ],
    ];
    for (const [name, make, message] of special) {
      const folder = cub('cub-special', {});
      const target = path.join(folder, name);
      if (!message.includes('too large')) fs.rmSync(target);
      make(target);
      await expectError(() => services.imports.importCub({ folder }), message);
      fs.rmSync(folder, { recursive: true });
    }
    await expectError(
      () => services.imports.importCub({ folder: '/dev/zero' }),
      '/dev/zero is a device; give the CUB_200_2011 folder',
    );
    expect(snapshot(file)).toEqual(before);
  });
});

describe('the command line', () => {
  it('exits non-zero when an import could use none of its images, and the project is unchanged', async () => {
    const { services, file } = await freshProject(dir, 'none.skp');
    services.dispose();
    const before = snapshot(file);
    const labels = path.join(photos, 'none.json');
    fs.writeFileSync(
      labels,
      JSON.stringify({
        images: [{ id: 1, file_name: 'missing.png', width: 60, height: 40 }],
        annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [3, 4, 2] }],
        categories: [{ id: 1, name: 'bird', keypoints: ['beak'] }],
      }),
    );
    const coco = skp(dir, 'import', file, '--coco', labels);
    expect(coco.code, coco.err).toBe(1);
    expect(coco.out).toContain('missing.png: cannot be read (ENOENT)');
    expect(coco.err.trim()).toBe(
      `skp import: no image of ${labels} was imported: all 1 were skipped (reasons above); the project was not changed`,
    );
    const texts = path.join(dir, 'texts');
    fs.mkdirSync(texts);
    fs.writeFileSync(path.join(texts, 'notes.txt'), 'hello');
    const folder = skp(dir, 'import', file, '--folder', texts);
    expect(folder.code).toBe(1);
    expect(folder.err.trim()).toBe(
      `skp import: no image was imported from ${texts}: all 1 files were skipped (reasons above)`,
    );
    expect(snapshot(file)).toEqual(before);
  });

  it('says what a project file that is not one really is: truncated, a device', async () => {
    const { services, file } = await freshProject(dir, 'cut.skp');
    services.dispose();
    const bytes = fs.readFileSync(file);
    const cut = path.join(dir, 'cut-short.skp');
    for (const [length, why] of [
      [50, 'it is cut short (50 bytes; an SQLite file has at least 512)'],
      [4096, `it is cut short (4096 bytes; its header says ${bytes.length})`],
      [5000, 'it is cut short (5000 bytes is not a whole number of 4096-byte pages)'],
    ] as const) {
      fs.writeFileSync(cut, bytes.subarray(0, length));
      const info = skp(dir, 'info', cut);
      expect(info.code).toBe(2);
      expect(info.err.trim()).toBe(`skp info: ${cut} is damaged: ${why}; open a backup copy`);
    }
    const device = skp(dir, 'info', '/dev/zero');
    expect(device.err.trim()).toBe(
      'skp info: /dev/zero is not a Keypoint Workstation project: it is a device, not a regular file',
    );
  });
});
