// Test helpers: temp folders, real images written with sharp, a snapshot of every table
// (to prove a failed operation changed nothing), and an independent reading of COCO.

import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { expect, onTestFinished } from 'vitest';
import { createServices, type ServiceHost } from '../../electron/services/container.js';

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// By its path: `--import tsx` would be looked for from the child's working folder.
const tsx = createRequire(path.join(repository, 'package.json')).resolve('tsx');

/** `skp …` as a process of its own, in the folder `cwd`; its exit code and output. */
export function skp(cwd: string, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', tsx, path.join(repository, 'electron/cli/main.ts'), ...args], {
    cwd,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** SQLite's own full check of a project file, read-only: 'ok' when the file is sound. */
export function integrity(projectFile: string): string {
  const db = new Database(projectFile, { readonly: true });
  try {
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>)
      .map((r) => r.integrity_check)
      .join('; ');
  } finally {
    db.close();
  }
}

export function tempDir(prefix = 'skp-foundation-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A new project `name` in `dir` (empty, or with the images under `images`), open in services
 * of its own that close when the test ends.
 */
export async function freshProject(
  dir: string,
  name: string,
  images?: string,
): Promise<{ services: ServiceHost; file: string }> {
  const services = createServices();
  onTestFinished(() => services.dispose());
  const file = path.join(dir, name);
  await services.project.create({ path: file, ...(images === undefined ? {} : { images }) });
  return { services, file };
}

export type Format = 'jpeg' | 'png' | 'webp';

/** Writes a small real image with a colour that depends on `seed`, so hashes differ. */
export async function writeImage(file: string, width: number, height: number, format: Format, seed = 0) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const background = { r: (seed * 37) % 256, g: (seed * 91) % 256, b: (seed * 13) % 256 };
  await sharp({ create: { width, height, channels: 3, background } })
    .toFormat(format)
    .toFile(file);
}

/** Every row of every table, for "nothing changed" assertions. */
/** Two photos (a.png 60×40, b.png 50×50) in `folder`, and a COCO file labelling a.png's beak: its path. */
export async function writeTwoPhotos(folder: string): Promise<string> {
  await writeImage(path.join(folder, 'a.png'), 60, 40, 'png', 1);
  await writeImage(path.join(folder, 'b.png'), 50, 50, 'png', 2);
  const labels = path.join(folder, 'labels.json');
  fs.writeFileSync(
    labels,
    JSON.stringify({
      images: [{ id: 1, file_name: 'a.png', width: 60, height: 40 }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, keypoints: [3, 4, 2, 0, 0, 0] }],
      categories: [{ id: 1, name: 'bird', keypoints: ['beak', 'tail'] }],
    }),
  );
  return labels;
}

export function snapshot(projectFile: string): Record<string, unknown[]> {
  const db = new Database(projectFile, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{
      name: string;
    }>;
    const out: Record<string, unknown[]> = {};
    for (const { name } of tables) out[name] = db.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all();
    out.user_version = [db.pragma('user_version', { simple: true })];
    return out;
  } finally {
    db.close();
  }
}

/** Calls `work`, expects it to reject with a message containing every fragment. */
export async function expectError(work: () => Promise<unknown>, ...fragments: string[]): Promise<string> {
  let message: string | null = null;
  try {
    await work();
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message, 'expected an error').not.toBeNull();
  for (const fragment of fragments) expect(message).toContain(fragment);
  return message as string;
}

type Json = Record<string, unknown>;

const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/**
 * Checks a COCO keypoints document as pycocotools and COCOeval would read it, written from
 * the format's description rather than from our exporter. Returns the document for further checks.
 */
export function checkCocoKeypoints(document: unknown): {
  images: Json[];
  annotations: Json[];
  categories: Json[];
} {
  expect(typeof document).toBe('object');
  const doc = document as Json;
  for (const key of ['images', 'annotations', 'categories']) expect(Array.isArray(doc[key]), key).toBe(true);
  const images = doc.images as Json[];
  const annotations = doc.annotations as Json[];
  const categories = doc.categories as Json[];

  const imageIds = new Set<unknown>();
  for (const image of images) {
    expect(isInt(image.id), 'image id').toBe(true);
    expect(imageIds.has(image.id), `image id ${image.id} unique`).toBe(false);
    imageIds.add(image.id);
    expect(typeof image.file_name).toBe('string');
    expect(isInt(image.width) && (image.width as number) > 0).toBe(true);
    expect(isInt(image.height) && (image.height as number) > 0).toBe(true);
  }

  const keypointCount = new Map<unknown, number>();
  for (const category of categories) {
    expect(isInt(category.id)).toBe(true);
    expect(keypointCount.has(category.id)).toBe(false);
    expect(typeof category.name).toBe('string');
    const names = category.keypoints as unknown[];
    expect(Array.isArray(names) && names.every((n) => typeof n === 'string' && n.length > 0)).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    keypointCount.set(category.id, names.length);
    expect(Array.isArray(category.skeleton), 'skeleton present (pycocotools reads it)').toBe(true);
    for (const edge of category.skeleton as unknown[]) {
      expect(Array.isArray(edge) && edge.length === 2).toBe(true);
      for (const end of edge as unknown[]) {
        expect(isInt(end) && (end as number) >= 1 && (end as number) <= names.length, 'skeleton is 1-based').toBe(true);
      }
    }
  }

  const annotationIds = new Set<unknown>();
  for (const a of annotations) {
    expect(isInt(a.id)).toBe(true);
    expect(annotationIds.has(a.id), `annotation id ${a.id} unique`).toBe(false);
    annotationIds.add(a.id);
    expect(imageIds.has(a.image_id), `annotation ${a.id}'s image exists`).toBe(true);
    const k = keypointCount.get(a.category_id);
    expect(k, `annotation ${a.id}'s category exists`).toBeDefined();
    const kp = a.keypoints as unknown[];
    expect(Array.isArray(kp) && kp.length === 3 * (k as number), 'keypoints length 3K').toBe(true);
    expect(kp.every(isNum)).toBe(true);
    let labelled = 0;
    for (let i = 0; i < kp.length; i += 3) {
      const v = kp[i + 2];
      expect([0, 1, 2]).toContain(v);
      if (v === 0) expect([kp[i], kp[i + 1]], 'v = 0 is written as 0, 0').toEqual([0, 0]);
      else labelled++;
    }
    expect(a.num_keypoints, 'num_keypoints counts v > 0').toBe(labelled);
    const bbox = a.bbox as unknown[];
    expect(Array.isArray(bbox) && bbox.length === 4 && bbox.every(isNum)).toBe(true);
    expect((bbox[2] as number) >= 0 && (bbox[3] as number) >= 0).toBe(true);
    expect(isNum(a.area) && (a.area as number) > 0, 'area positive').toBe(true);
    expect([0, 1]).toContain(a.iscrowd);
  }
  return { images, annotations, categories };
}

export function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
