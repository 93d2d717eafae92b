import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CocoDocument } from '../../../../electron/common/coco.js';
import { defaultPartName } from '../../../../electron/common/keypoints.js';
import { createServices } from '../../../../electron/services/container.js';
import { AREA_FLOOR } from '../../../../electron/services/export/cocoDocument.js';
import { CSV_COLUMNS } from '../../../../electron/services/export/csvDocument.js';
import { checkCocoKeypoints, expectError, readJson, tempDir, writeImage } from '../../../support/projectHelpers.js';
import { trainedProject, type TrainedProject } from '../../../support/trainedProject.js';

let dir: string;
let p: TrainedProject;

beforeEach(async () => {
  dir = tempDir();
  p = await trainedProject(dir, 4, [7, 3, 42, 11]);
});
afterEach(() => {
  p.services.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function exportTo(
  name: string,
  options: { onlyCorrected?: boolean; split?: 'train' | 'test'; withScores?: boolean } = {},
) {
  const file = path.join(dir, name);
  const result = await p.services.exports.exportCoco({ file, ...options });
  return { result, doc: checkCocoKeypoints(readJson(file)) };
}

describe('COCO keypoints export', () => {
  it('writes the visible parts in display order, with names, skeleton and hand corrections winning', async () => {
    const k = p.services.keypoints;
    const [a, b, c, d] = p.parts;
    await k.updatePart(a!.id, { name: 'beak' });
    await k.updatePart(d!.id, { hidden: true });
    await k.reorderParts([c!.id, a!.id, b!.id, d!.id]);
    await k.setSkeleton([
      { from: a!.id, to: c!.id },
      { from: a!.id, to: d!.id },
    ]);
    await k.setCorrected(p.imageIds[0]!, [
      { partId: a!.id, x: 33.333, y: 44, visibility: 1 },
      { partId: b!.id, x: 50, y: 60, visibility: 0 },
    ]);

    // An edge to a part left out of the export is never dropped silently.
    await expectError(() => exportTo('refused.json'), `beak–${defaultPartName(d!.id)}`, 'hidden from the export');
    expect(fs.existsSync(path.join(dir, 'refused.json'))).toBe(false);
    await k.setSkeleton([{ from: a!.id, to: c!.id }]);

    const { doc, result } = await exportTo('out.json');
    const [category] = doc.categories;
    expect(category!.keypoints).toEqual([defaultPartName(c!.id), 'beak', defaultPartName(b!.id)]);
    expect(result.keypointNames).toEqual(category!.keypoints);
    // beak–part 3 is column 2 → 1-based [2, 1].
    expect(category!.skeleton).toEqual([[2, 1]]);
    expect(category!.keypoint_colors).toEqual([c!.colour, a!.colour, b!.colour]);

    const first = doc.annotations.find((x) => x.image_id === p.imageIds[0])!;
    // Predictions of image 0: index k at (10 + 10k, 20 + 5k); c is k = 2.
    expect(first.keypoints).toEqual([30, 30, 2, 33.33, 44, 1, 0, 0, 0]);
    expect(first.num_keypoints).toBe(2);
    expect(first.bbox).toEqual([30, 30, 3.33, 14]);
    expect(first.area).toBeCloseTo(AREA_FLOOR * 100 * 80);
    expect(first.iscrowd).toBe(0);
    expect(doc.annotations).toHaveLength(4);
    expect(doc.images.map((i) => i.file_name).sort()).toEqual([
      'images/img0.png',
      'images/img1.png',
      'images/img2.png',
      'images/img3.png',
    ]);
  });

  it('uses the object box of the ground truth for bbox and area when the image has one', async () => {
    const coco = {
      images: [{ id: 1, file_name: 'images/img1.png', width: 100, height: 80 }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [5, 5, 2], bbox: [2, 3, 60, 50] }],
      categories: [{ id: 1, name: 'bird', keypoints: ['beak'] }],
    };
    fs.writeFileSync(path.join(dir, 'gt.json'), JSON.stringify(coco));
    await p.services.imports.importCoco({ file: path.join(dir, 'gt.json') });
    const { doc } = await exportTo('box.json');
    const annotation = doc.annotations.find((x) => x.image_id === p.imageIds[1])!;
    expect(annotation.bbox).toEqual([2, 3, 60, 50]);
    expect(annotation.area).toBe(3000);
  });

  it('can limit to corrected images or a split, and add scores and sources', async () => {
    const [a] = p.parts;
    await p.services.keypoints.setCorrected(p.imageIds[2]!, [{ partId: a!.id, x: 1, y: 2, visibility: 2 }]);
    await p.services.images.setSplit([p.imageIds[0]!, p.imageIds[1]!], 'train');

    const corrected = await exportTo('corrected.json', { onlyCorrected: true });
    expect(corrected.doc.images.map((i) => i.id)).toEqual([p.imageIds[2]]);
    expect(corrected.doc.annotations.map((x) => x.image_id)).toEqual([p.imageIds[2]]);

    const train = await exportTo('train.json', { split: 'train' });
    expect(train.doc.images.map((i) => i.id)).toEqual([p.imageIds[0], p.imageIds[1]]);

    const scored = await exportTo('scored.json', { withScores: true, onlyCorrected: true });
    const [annotation] = scored.doc.annotations;
    expect(annotation!.keypoint_sources).toEqual(['corrected', 'predicted', 'predicted', 'predicted']);
    const scores = annotation!.keypoint_scores as Array<number | null>;
    expect(scores[0]).toBeNull();
    expect(scores[1]).toBeCloseTo(0.9 - 0.1 - 0.1);
    expect((await exportTo('plain.json')).doc.annotations[0]).not.toHaveProperty('keypoint_scores');
  });

  it('images without any keypoint are listed but get no annotation', async () => {
    await writeImage(path.join(dir, 'more', 'new.webp'), 20, 20, 'webp', 50);
    await p.services.images.importFolder(path.join(dir, 'more'));
    const { doc } = await exportTo('partial.json');
    expect(doc.images).toHaveLength(5);
    expect(doc.annotations).toHaveLength(4);
    const added = doc.images.find((i) => i.file_name === 'more/new.webp')!;
    expect(doc.annotations.some((x) => x.image_id === added.id)).toBe(false);
  });

  it('bad output paths are one clear error and leave nothing behind', async () => {
    await expectError(
      () => p.services.exports.exportCoco({ file: path.join(dir, 'no', 'such', 'out.json') }),
      path.join(dir, 'no', 'such'),
      'does not exist',
    );
    fs.mkdirSync(path.join(dir, 'a-folder'));
    await expectError(() => p.services.exports.exportCoco({ file: path.join(dir, 'a-folder') }), 'it is a folder');
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    await expectError(
      () => p.services.exports.exportCoco({ file: path.join(dir, 'a-file', 'x.json') }),
      'is not a folder',
    );
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps a file that is there unless told to replace it; the CLI, which names the file, replaces it', async () => {
    const file = path.join(dir, 'kept.json');
    fs.writeFileSync(file, "the user's own file");
    const refused = await p.services.exports.exportCoco({ file, overwrite: false }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'conflict',
      message: `${file} already exists; export again with overwrite to replace it`,
    });
    expect(fs.readFileSync(file, 'utf8')).toBe("the user's own file");
    await p.services.exports.exportCoco({ file, overwrite: true });
    expect(checkCocoKeypoints(readJson(file)).annotations.length).toBeGreaterThan(0);
    fs.writeFileSync(file, 'again');
    await p.services.exports.exportCoco({ file });
    expect(fs.readFileSync(file, 'utf8')).not.toBe('again');
  });

  // Root may write anywhere, so the permission check cannot fail there.
  it.skipIf(process.getuid?.() === 0)('a folder that is not writable is refused before any work', async () => {
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked, { mode: 0o555 });
    await expectError(() => p.services.exports.exportCoco({ file: path.join(locked, 'x.json') }), 'not writable');
    expect(fs.readdirSync(locked)).toEqual([]);
  });

  it('a project without parts says so and points to the ground truth', async () => {
    const other = tempDir();
    const services = createServices();
    await services.project.create({ path: path.join(other, 'empty.skp') });
    await expectError(() => services.exports.exportCoco({ file: path.join(other, 'x.json') }), 'no parts yet');
    await expectError(
      () => services.exports.exportCoco({ file: path.join(other, 'x.json'), groundTruth: true }),
      'has no ground truth',
    );
    services.dispose();
    fs.rmSync(other, { recursive: true, force: true });
  });
});

/** RFC 4180 rows: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let fieldText = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') ((fieldText += '"'), i++);
      else if (c === '"') quoted = false;
      else fieldText += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') (row.push(fieldText), (fieldText = ''));
    else if (c === '\r' && text[i + 1] === '\n') {
      (row.push(fieldText), rows.push(row), (row = []), (fieldText = ''), i++);
    } else fieldText += c;
  }
  expect(row, 'the last row ends with CRLF').toEqual([]);
  return rows;
}

describe('CSV export', () => {
  it('says in a row per image and part what the COCO export says, names with commas and quotes intact', async () => {
    const [a, b] = p.parts;
    await p.services.keypoints.updatePart(a!.id, { name: 'left "wing", tip' });
    await p.services.keypoints.setCorrected(p.imageIds[0]!, [
      { partId: a!.id, x: 12.345, y: 6, visibility: 1 },
      { partId: b!.id, x: 50, y: 60, visibility: 0 },
    ]);
    // Checked as COCO by exportTo, read as the type the exporter writes.
    const doc = (await exportTo('same.json', { withScores: true })).doc as unknown as CocoDocument;
    const file = path.join(dir, 'same.csv');
    const result = await p.services.exports.exportCsv({ file });
    const [header, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
    expect(header).toEqual([...CSV_COLUMNS]);
    const [category] = doc.categories;
    const expected = doc.annotations.flatMap((annotation) => {
      const image = doc.images.find((i) => i.id === annotation.image_id)!;
      return category!.keypoints.map((part, k) => {
        const [x, y, v] = annotation.keypoints.slice(3 * k, 3 * k + 3);
        const score = annotation.keypoint_scores![k];
        return [
          image.file_name,
          String(image.id),
          category!.name,
          part,
          String(k + 1),
          v! > 0 ? String(x) : '',
          v! > 0 ? String(y) : '',
          String(v),
          annotation.keypoint_sources![k] ?? '',
          score === null || score === undefined ? '' : String(score),
        ];
      });
    });
    expect(rows).toEqual(expected);
    expect(rows.find((r) => r[3] === 'left "wing", tip' && r[1] === String(p.imageIds[0]))).toEqual([
      'images/img0.png',
      String(p.imageIds[0]),
      category!.name,
      'left "wing", tip',
      '1',
      '12.35',
      '6',
      '1',
      'corrected',
      '',
    ]);
    expect(result).toMatchObject({
      file,
      images: 4,
      rows: 4 * p.parts.length,
      keypointNames: category!.keypoints,
      bytes: fs.statSync(file).size,
    });
  });

  it('exports the ground truth too, keeps a file that is there unless told, and refuses what COCO refuses', async () => {
    const coco = {
      images: [{ id: 1, file_name: 'images/img1.png', width: 100, height: 80 }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [5, 6, 2, 0, 0, 0], bbox: [2, 3, 60, 50] }],
      categories: [{ id: 1, name: 'bird', keypoints: ['beak', 'tail'] }],
    };
    fs.writeFileSync(path.join(dir, 'gt.json'), JSON.stringify(coco));
    await p.services.imports.importCoco({ file: path.join(dir, 'gt.json') });
    const file = path.join(dir, 'truth.csv');
    fs.writeFileSync(file, "the user's own file");
    await expect(p.services.exports.exportCsv({ file, groundTruth: true, overwrite: false })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect(fs.readFileSync(file, 'utf8')).toBe("the user's own file");
    await p.services.exports.exportCsv({ file, groundTruth: true, overwrite: true });
    const [, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
    expect(rows).toEqual([
      ['images/img1.png', String(p.imageIds[1]), 'bird', 'beak', '1', '5', '6', '2', '', ''],
      ['images/img1.png', String(p.imageIds[1]), 'bird', 'tail', '2', '', '', '0', '', ''],
    ]);
    const empty = tempDir();
    const services = createServices();
    await services.project.create({ path: path.join(empty, 'empty.skp') });
    await expectError(() => services.exports.exportCsv({ file: path.join(empty, 'x.csv') }), 'no parts yet');
    expect(fs.existsSync(path.join(empty, 'x.csv'))).toBe(false);
    services.dispose();
    fs.rmSync(empty, { recursive: true, force: true });
  });
});
