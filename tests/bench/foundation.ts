// Foundation benchmark: creating a project from 2,000 generated images (import rate),
// writing predictions for them, listing, exporting COCO, and the project's size on disk.
// Absolute numbers, printed with the machine they came from.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { ImageStore } from '../../electron/db/imageStore.js';
import { RunStore } from '../../electron/db/runStore.js';
import { createServices } from '../../electron/services/container.js';

const IMAGES = 2000;
const K = 10;

async function generateImages(folder: string): Promise<number> {
  const formats = ['jpeg', 'png', 'webp'] as const;
  const formatOf = (i: number) => formats[i % 3] as (typeof formats)[number];
  let bytes = 0;
  for (let i = 0; i < IMAGES; i++) {
    const file = path.join(folder, `class_${String(i % 20).padStart(2, '0')}`, `img_${i}.${formatOf(i)}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const width = 96 + (i % 7) * 16;
    const height = 96 + (i % 5) * 16;
    await sharp({
      create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
    })
      .toFormat(formatOf(i))
      .toFile(file);
    bytes += fs.statSync(file).size;
  }
  return bytes;
}

export async function benchFoundation(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `foundation bench — ${cpu}, ${os.cpus().length} cores, ${os.platform()} ${os.arch()}, Node ${process.version}`,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-bench-foundation-'));
  try {
    const folder = path.join(dir, 'images');
    const bytes = await generateImages(folder);
    console.log(`  generated ${IMAGES} images (JPEG/PNG/WebP, 96–192 px, noise), ${(bytes / 1e6).toFixed(1)} MB`);

    const services = createServices();
    const file = path.join(dir, 'bench.skp');
    let t = performance.now();
    const { imported } = await services.project.create({ path: file, images: folder });
    const importSeconds = (performance.now() - t) / 1000;
    console.log(
      `  skp new --images: ${imported?.imported} images in ${importSeconds.toFixed(2)} s ` +
        `= ${Math.round(IMAGES / importSeconds)} images/s (decode + sha256 + insert)`,
    );

    const ids = (await services.images.list({ limit: 1000 })).items.map((i) => i.id);
    ids.push(...(await services.images.list({ offset: 1000, limit: 1000 })).items.map((i) => i.id));
    const runs = new RunStore(services.context.db);
    const run = runs.createRun({ settings: {} });
    const indices = runs.chooseIndices(
      run.id,
      Array.from({ length: K }, (_, k) => k * 37),
    );
    const predictions = ids.flatMap((imageId, i) =>
      indices.map((index, k) => ({
        imageId,
        indexId: index.id,
        x: 10 + k,
        y: 20 + (i % 50),
        visibility: 2 as const,
        score: ((i * 7 + k * 13) % 100) / 100,
      })),
    );
    t = performance.now();
    runs.writePredictions(run.id, predictions);
    const writeSeconds = (performance.now() - t) / 1000;
    console.log(
      `  predictions: ${predictions.length} keypoints (${IMAGES} × ${K}) in ${(writeSeconds * 1000).toFixed(0)} ms ` +
        `= ${Math.round(predictions.length / writeSeconds)} keypoints/s`,
    );
    for (const imageId of ids.slice(0, 200)) {
      await services.keypoints.setCorrected(imageId, [{ partId: indices[0]!.partId!, x: 5, y: 6, visibility: 1 }]);
    }

    t = performance.now();
    const page = await services.images.list({ scoreBelow: 0.05, sort: 'min-score', offset: 500, limit: 100 });
    console.log(
      `  image list (score < 0.05, sorted by score, page 6): ${page.total} matches in ` +
        `${(performance.now() - t).toFixed(1)} ms`,
    );

    const out = path.join(dir, 'out.json');
    const exported = await services.exports.exportCoco({ file: out, withScores: true });
    console.log(
      `  skp export --coco --with-scores: ${exported.annotations} annotations in ${(exported.seconds * 1000).toFixed(0)} ms, ` +
        `${(exported.bytes / 1e6).toFixed(2)} MB`,
    );
    services.dispose();
    const size = fs.statSync(file).size;
    console.log(
      `  project file: ${(size / 1e6).toFixed(2)} MB for ${IMAGES} images and ${predictions.length + 200} keypoints ` +
        `(${Math.round(size / IMAGES)} bytes per image)`,
    );
    await benchLargeProject(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Queries at 20,000 images × 10 keypoints; the image rows are synthetic (no files), only the database is measured. */
async function benchLargeProject(dir: string): Promise<void> {
  const count = 20_000;
  const services = createServices();
  await services.project.create({ path: path.join(dir, 'large.skp') });
  const db = services.context.db;
  const store = new ImageStore(db);
  db.write(() =>
    store.insert(
      Array.from({ length: count }, (_, i) => ({
        file: path.join(dir, 'synthetic', `img_${String(i).padStart(6, '0')}.png`),
        width: 500,
        height: 400,
        format: 'png' as const,
        bytes: 1,
        sha256: '0'.repeat(64),
        orientation: 1,
      })),
    ),
  );
  const runs = new RunStore(db);
  const run = runs.createRun({ settings: {} });
  const indices = runs.chooseIndices(
    run.id,
    Array.from({ length: K }, (_, k) => k),
  );
  const points = Array.from({ length: count }, (_, i) =>
    indices.map((index, k) => ({
      imageId: i + 1,
      indexId: index.id,
      x: k,
      y: k,
      visibility: 2 as const,
      score: ((i * 7 + k) % 100) / 100,
    })),
  ).flat();
  let t = performance.now();
  runs.writePredictions(run.id, points);
  console.log(`  at ${count} images: ${points.length} predictions written in ${(performance.now() - t).toFixed(0)} ms`);
  for (const [label, query] of [
    ['page in the middle', { offset: count / 2, limit: 100 }],
    ['score < 0.05, sorted by score', { scoreBelow: 0.05, sort: 'min-score', limit: 100 }],
  ] as const) {
    t = performance.now();
    await services.images.list(query);
    console.log(`  at ${count} images: image list, ${label}: ${(performance.now() - t).toFixed(1)} ms`);
  }
  const exported = await services.exports.exportCoco({ file: path.join(dir, 'large.json') });
  console.log(`  at ${count} images: COCO export in ${(exported.seconds * 1000).toFixed(0)} ms`);
  services.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFoundation();
