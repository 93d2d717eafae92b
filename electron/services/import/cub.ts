// Reading the CUB-200-2011 folder layout into a LabelledDataset:
//   images.txt               <image_id> <path under images/>
//   parts/part_locs.txt      <image_id> <part_id> <x> <y> <visible 0|1>
//   train_test_split.txt     <image_id> <1 = train, 0 = test>
//   bounding_boxes.txt       <image_id> <x> <y> <width> <height>
//   parts/parts.txt          <part_id> <name> (optional; without it parts are named part_1...)
// Every error names the file and the line. Names (image paths, part names) are kept exactly as
// written after the id and its separator, spaces included.

import fs from 'node:fs';
import path from 'node:path';
import { badInput } from '../../common/errors.js';
import type { BoundingBox, GroundTruthPoint } from '../../common/groundTruth.js';
import { kindOf } from '../../db/projectFile.js';
import { visible } from '../validation.js';
import { outsideRoot, readTextFile } from './inputFiles.js';
import type { LabelledDataset, LabelledImage, LabelledInstance } from './labelledDataset.js';

const REQUIRED = ['images.txt', 'parts/part_locs.txt', 'train_test_split.txt', 'bounding_boxes.txt'];

/** The largest CUB list read (CUB-200-2011's largest, part_locs.txt, is 6 MB). */
const MAX_LIST_BYTES = 64_000_000;

interface Line {
  number: number;
  fields: string[];
  /** What follows the first field and the spaces after it, exactly (less spaces at the end of the line). */
  rest: string;
}

function readLines(folder: string, name: string): Line[] {
  const file = path.join(folder, name);
  const outside = outsideRoot(folder, file);
  if (outside !== null) throw badInput(`${file}: ${outside}`);
  return readTextFile(file, 'CUB list', MAX_LIST_BYTES)
    .split(/\r?\n/)
    .map((line, i) => ({
      number: i + 1,
      fields: line.trim().split(/\s+/),
      rest: /^\s*\S+\s+(.*?)\s*$/.exec(line)?.[1] ?? '',
    }))
    .filter((line) => line.fields[0] !== '');
}

/** Parses the fields of one line; `layout` is what the line should look like, for the message. */
function fieldsOf(folder: string, name: string, line: Line, count: number, layout: string): string[] {
  if (line.fields.length < count || (count > 2 && line.fields.length !== count)) {
    throw badInput(
      `${path.join(folder, name)} line ${line.number}: expected "${layout}", got "${visible(line.fields.join(' '))}"`,
    );
  }
  return line.fields;
}

function number(folder: string, name: string, line: Line, text: string, what: string, integer: boolean): number {
  const value = Number(text);
  if (text === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw badInput(
      `${path.join(folder, name)} line ${line.number}: ${what} "${visible(text)}" is not ${integer ? 'a whole number' : 'a number'}`,
    );
  }
  return value;
}

export function readCubFolder(folder: string): LabelledDataset {
  const root = path.resolve(folder);
  const stat = fs.statSync(root, { throwIfNoEntry: false });
  if (!stat) throw badInput(`CUB folder ${root} does not exist`);
  if (!stat.isDirectory()) throw badInput(`${root} is ${kindOf(stat)}; give the CUB_200_2011 folder`);
  for (const name of REQUIRED) {
    if (!fs.lstatSync(path.join(root, name), { throwIfNoEntry: false })) {
      throw badInput(`CUB folder ${root} is missing ${name}`);
    }
  }

  const images: LabelledImage[] = [];
  const cubIds: number[] = [];
  const imageById = new Map<number, number>();
  for (const line of readLines(root, 'images.txt')) {
    const [idText] = fieldsOf(root, 'images.txt', line, 2, '<image_id> <image path>');
    const id = number(root, 'images.txt', line, idText as string, 'image id', true);
    if (imageById.has(id))
      throw badInput(`${path.join(root, 'images.txt')} line ${line.number}: image id ${id} is listed twice`);
    imageById.set(id, images.length);
    cubIds.push(id);
    images.push({ file: path.resolve(root, 'images', line.rest) });
  }

  /** Index into `images` of an image id named in another file, which must be in images.txt. */
  const imageOf = (name: string, line: Line, text: string): number => {
    const id = number(root, name, line, text, 'image id', true);
    const index = imageById.get(id);
    if (index === undefined)
      throw badInput(`${path.join(root, name)} line ${line.number}: image ${id} is not in images.txt`);
    return index;
  };

  for (const line of readLines(root, 'train_test_split.txt')) {
    const [id, flag] = fieldsOf(root, 'train_test_split.txt', line, 2, '<image_id> <is_training_image>');
    const image = images[imageOf('train_test_split.txt', line, id as string)] as LabelledImage;
    if (flag !== '0' && flag !== '1') {
      throw badInput(
        `${path.join(root, 'train_test_split.txt')} line ${line.number}: is_training_image must be 0 or 1, got "${flag}"`,
      );
    }
    image.split = flag === '1' ? 'train' : 'test';
  }

  const boxes = new Map<number, BoundingBox>();
  for (const line of readLines(root, 'bounding_boxes.txt')) {
    const f = fieldsOf(root, 'bounding_boxes.txt', line, 5, '<image_id> <x> <y> <width> <height>');
    const [x, y, width, height] = f
      .slice(1)
      .map((t, i) =>
        number(root, 'bounding_boxes.txt', line, t, ['x', 'y', 'width', 'height'][i] as string, false),
      ) as [number, number, number, number];
    const where = `${path.join(root, 'bounding_boxes.txt')} line ${line.number}`;
    if (width < 0 || height < 0) {
      throw badInput(`${where}: a box cannot have a negative ${width < 0 ? 'width' : 'height'} (${width}×${height})`);
    }
    const image = imageOf('bounding_boxes.txt', line, f[0] as string);
    if (boxes.has(image)) throw badInput(`${where}: image ${cubIds[image]} already has a box`);
    boxes.set(image, { x, y, width, height });
  }

  // Part ids → positions, in id order; names from parts.txt when present.
  const partNames = new Map<number, string>();
  const partsFile = path.join(root, 'parts', 'parts.txt');
  if (fs.lstatSync(partsFile, { throwIfNoEntry: false })) {
    for (const line of readLines(root, 'parts/parts.txt')) {
      const [idText] = fieldsOf(root, 'parts/parts.txt', line, 2, '<part_id> <part name>');
      const id = number(root, 'parts/parts.txt', line, idText as string, 'part id', true);
      const where = `${path.join(root, 'parts/parts.txt')} line ${line.number}`;
      if (partNames.has(id)) throw badInput(`${where}: part id ${id} is listed twice`);
      if ([...partNames.values()].includes(line.rest)) {
        throw badInput(`${where}: part name "${visible(line.rest)}" is listed twice`);
      }
      partNames.set(id, line.rest);
    }
  }
  const locations = readLines(root, 'parts/part_locs.txt').map((line) => {
    const f = fieldsOf(root, 'parts/part_locs.txt', line, 5, '<image_id> <part_id> <x> <y> <visible>');
    const partId = number(root, 'parts/part_locs.txt', line, f[1] as string, 'part id', true);
    if (partNames.size > 0 && !partNames.has(partId)) {
      throw badInput(
        `${path.join(root, 'parts/part_locs.txt')} line ${line.number}: part ${partId} is not in parts/parts.txt`,
      );
    }
    if (f[4] !== '0' && f[4] !== '1') {
      throw badInput(
        `${path.join(root, 'parts/part_locs.txt')} line ${line.number}: visible must be 0 or 1, got "${f[4]}"`,
      );
    }
    return {
      line: line.number,
      image: imageOf('parts/part_locs.txt', line, f[0] as string),
      partId,
      x: number(root, 'parts/part_locs.txt', line, f[2] as string, 'x', false),
      y: number(root, 'parts/part_locs.txt', line, f[3] as string, 'y', false),
      visible: f[4] === '1',
    };
  });
  const partIds = partNames.size > 0 ? [...partNames.keys()] : [...new Set(locations.map((l) => l.partId))];
  partIds.sort((a, b) => a - b);
  const position = new Map(partIds.map((id, p) => [id, p]));
  const parts = partIds.map((id) => partNames.get(id) ?? `part_${id}`);

  const pointsByImage = new Map<number, GroundTruthPoint[]>();
  for (const l of locations) {
    const points = pointsByImage.get(l.image) ?? [];
    if (points.some((p) => p.part === position.get(l.partId))) {
      throw badInput(
        `${path.join(root, 'parts/part_locs.txt')} line ${l.line}: part ${l.partId} of image ${cubIds[l.image]} is listed twice`,
      );
    }
    // CUB's visible = 0 means the part is not visible and its location is meaningless: COCO v = 0.
    points.push({ part: position.get(l.partId) as number, x: l.x, y: l.y, visibility: l.visible ? 2 : 0 });
    pointsByImage.set(l.image, points);
  }
  const instances: LabelledInstance[] = [];
  for (const [image, points] of pointsByImage) {
    const present = new Set(points.map((p) => p.part));
    // A part the file does not mention for this image is not labelled.
    for (let p = 0; p < parts.length; p++) if (!present.has(p)) points.push({ part: p, x: 0, y: 0, visibility: 0 });
    points.sort((a, b) => a.part - b.part);
    instances.push({
      image,
      category: 'bird',
      bbox: boxes.get(image) ?? null,
      area: null,
      iscrowd: false,
      origin: `cub:images.txt#${cubIds[image]}`,
      points,
    });
  }
  return { source: root, root, parts, skeleton: [], images, instances };
}
