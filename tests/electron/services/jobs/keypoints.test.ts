// The keypoints and evaluate jobs through the JobService on a trained project: indices chosen
// once, each a new part with a default name and colour (the project's first run), predictions and attention maps written image by image (a
// cancelled job keeps them, a new one finishes the rest without touching them), hand corrections
// never overwritten, the maps served to the heat-map overlay, and an evaluation stored with the run.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationResult } from '../../../../electron/common/jobs.js';
import type { Prediction } from '../../../../electron/common/keypoints.js';
import { INDEX_PALETTE } from '../../../../electron/common/palette.js';
import { AttentionMapStore } from '../../../../electron/db/attentionMapStore.js';
import { ImageStore } from '../../../../electron/db/imageStore.js';
import { KeypointStore } from '../../../../electron/db/keypointStore.js';
import { PartStore } from '../../../../electron/db/partStore.js';
import { RunStore } from '../../../../electron/db/runStore.js';
import { readSettings } from '../../../../electron/db/settingsStore.js';
import { createServices, type ServiceHost } from '../../../../electron/services/container.js';
import { evaluateCommand } from '../../../../electron/cli/commands/evaluate.js';
import { keypointsCommand } from '../../../../electron/cli/commands/keypoints.js';
import { imageErrors } from '../../../../electron/services/jobs/evaluateJob.js';
import { JobServiceImpl } from '../../../../electron/services/jobs/jobService.js';
import { removeTempDirs, tempDir, TINY, withProject, writeModel, writeProject } from '../../../support/jobFixtures.js';

let project: string;
let services: ServiceHost;
let jobs: JobServiceImpl;
let runId: number;
let model: string;

beforeAll(async () => {
  const dir = tempDir();
  process.env.SKP_CACHE_DIR = path.join(dir, 'graph-cache');
  model = writeModel(dir);
  project = await writeProject(dir, 5);
  services = createServices();
  await services.project.open(project);
  jobs = new JobServiceImpl(services.context);
  const trained = await jobs.start({
    kind: 'train',
    model: { path: model },
    settings: { ...TINY, steps: 2 },
    backend: 'cpu',
  });
  runId = (await jobs.wait(trained.jobId)).runId!;
});
afterAll(async () => {
  await jobs.dispose();
  services.dispose();
  removeTempDirs();
});

const predictedRows = (): Prediction[] => withProject(project, (db) => new KeypointStore(db).forRun(runId));

interface MapRow {
  image_id: number;
  side: number;
  peaks: Buffer;
  maps: Buffer;
  created_at: string;
}
const mapRows = (): MapRow[] =>
  withProject(
    project,
    (db) => db.sql.prepare('SELECT * FROM attention_maps WHERE run_id = ? ORDER BY image_id').all(runId) as MapRow[],
  );

describe('keypoints job', () => {
  it('keeps the images done when cancelled, finishes the rest later, and never overwrites a hand correction', async () => {
    const phases = new Set<string>();
    const watch = jobs.onProgress((e) => {
      phases.add(e.phase);
      if (e.phase === 'keypoints' && e.step === 2) void jobs.cancel(e.jobId);
    });
    const first = await jobs.start({ kind: 'keypoints', backend: 'cpu' });
    expect(first.runId).toBe(runId);
    expect((await jobs.wait(first.jobId)).state).toBe('cancelled');
    watch.dispose();
    expect([...phases]).toEqual(['choose', 'keypoints']);

    const { indices, parts } = withProject(project, (db) => {
      expect(readSettings(db).activeRunId).toBe(runId);
      return { indices: new RunStore(db).indices(runId), parts: new PartStore(db).parts() };
    });
    expect(indices.map((i) => i.partId)).toEqual(parts.map((part) => part.id));
    expect(parts.map((part) => [part.displayName, part.colour])).toEqual(
      [0, 1, 2].map((k) => [`keypoint_${parts[k]!.id}`, INDEX_PALETTE[k]]),
    );
    const kept = predictedRows();
    const keptImages = new Set(kept.map((k) => k.imageId));
    expect(keptImages.size).toBeGreaterThanOrEqual(2);
    expect(keptImages.size).toBeLessThan(5);
    expect(kept).toHaveLength(keptImages.size * 3);
    const keptMaps = mapRows();
    expect(keptMaps.map((m) => m.image_id)).toEqual([...keptImages].sort((a, b) => a - b));

    const images = withProject(project, (db) => new ImageStore(db).all());
    const waiting = images.find((i) => !keptImages.has(i.id))!;
    const predicted = images.find((i) => keptImages.has(i.id))!;
    const hand = { partId: parts[0]!.id, x: 7.5, y: 9.25, visibility: 1 as const };
    await services.keypoints.setCorrected(waiting.id, [hand]);
    await services.keypoints.setCorrected(predicted.id, [hand]);
    const correctedBefore = withProject(project, (db) => new PartStore(db).corrections());

    const second = await jobs.start({ kind: 'keypoints', backend: 'cpu' });
    const done = await jobs.wait(second.jobId);
    expect(done.state).toBe('done');
    expect(done.result).toMatchObject({ images: 5, predicted: 5, unreadable: [], keptCorrections: 1 });

    const after = predictedRows();
    expect(after).toHaveLength(5 * 3);
    for (const row of kept) expect(after).toContainEqual(row);
    const maps = mapRows();
    expect(maps.map((m) => m.image_id)).toEqual(images.map((i) => i.id).sort((a, b) => a - b));
    for (const row of keptMaps) expect(maps).toContainEqual(row);
    expect(done.result).toMatchObject({ withAttentionMaps: 5 });
    for (const row of after) {
      const image = images.find((i) => i.id === row.imageId)!;
      expect(row.x).toBeGreaterThan(0);
      expect(row.x).toBeLessThan(image.width);
      expect(row.y).toBeGreaterThan(0);
      expect(row.y).toBeLessThan(image.height);
    }
    const correctedAfter = withProject(project, (db) => new PartStore(db).corrections());
    expect(correctedAfter).toEqual(correctedBefore);
    const shown = await services.keypoints.getKeypoints(waiting.id, runId);
    const point = shown.points.find((p) => p.partId === hand.partId)!;
    expect(point.predicted).not.toBeNull();
    expect(point.effective).toMatchObject({ source: 'corrected', x: 7.5, y: 9.25, visibility: 1 });
  });

  it("keeps K maps per image at the run's size, peaked where the keypoint is, and serves them to the overlay", async () => {
    const images = withProject(project, (db) => new ImageStore(db).all());
    const indices = withProject(project, (db) => new RunStore(db).indices(runId));
    const engine = services.evaluation;
    for (const image of images) {
      const stored = withProject(project, (db) => new AttentionMapStore(db).read(runId, image.id))!;
      // TINY runs at 64 px: the maps keep their full 64×64, one byte a value.
      expect(stored.side).toBe(64);
      expect(stored.peaks).toHaveLength(3);
      expect(stored.values).toHaveLength(3 * 64 * 64);
      for (const index of indices) {
        const map = await engine.attentionMap(image.id, index.partId!);
        expect([map.width, map.height, map.values.length]).toEqual([64, 64, 64 * 64]);
        expect(map.peak).toBe(stored.peaks[index.position]);
        expect(map.peak).toBeGreaterThan(0);
        expect(Math.max(...map.values)).toBe(1);
        expect(Math.min(...map.values)).toBeGreaterThanOrEqual(0);
        // The keypoint is the peak of its map: its cell holds the map's largest value.
        const point = predictedRows().find((p) => p.imageId === image.id && p.indexId === index.id)!;
        const cell = Math.floor((point.y / image.height) * 64) * 64 + Math.floor((point.x / image.width) * 64);
        expect(map.values[cell]).toBe(1);
      }
    }
    await expect(engine.attentionMap(images[0]!.id, 9999)).rejects.toThrow(/no part 9999/);
  });

  it('adds the maps of images found before maps were kept, leaving their keypoints as they are', async () => {
    const images = withProject(project, (db) => new ImageStore(db).all());
    const [older, other] = images;
    withProject(project, (db) =>
      db.sql.prepare('DELETE FROM attention_maps WHERE run_id = ? AND image_id = ?').run(runId, older!.id),
    );
    const partId = withProject(project, (db) => new RunStore(db).indices(runId)[0]!.partId!);
    await expect(services.evaluation.attentionMap(older!.id, partId)).rejects.toThrow(
      /has no attention maps of run \d+ yet: Find keypoints keeps them/,
    );
    const before = { points: predictedRows(), maps: mapRows() };
    const logs: string[] = [];
    const watch = jobs.onStateChange((e) => e.message && logs.push(e.message));
    const again = await jobs.start({ kind: 'keypoints', backend: 'cpu' });
    const done = await jobs.wait(again.jobId);
    watch.dispose();
    expect(done.state).toBe('done');
    expect(logs.join('\n')).toContain('1 of them have keypoints but no attention maps');
    expect(predictedRows()).toEqual(before.points);
    const after = mapRows();
    expect(after.find((m) => m.image_id === other!.id)).toEqual(before.maps.find((m) => m.image_id === other!.id));
    expect(after.map((m) => m.image_id)).toContain(older!.id);
  });

  it('evaluates the keypoints against the ground truth and stores the result with the run', async () => {
    const started = await jobs.start({ kind: 'evaluate' });
    const done = await jobs.wait(started.jobId);
    expect(done.state).toBe('done');
    const result = done.result as unknown as EvaluationResult;
    expect(result.runId).toBe(runId);
    expect(result.parts).toEqual(['beak', 'eye', 'crown', 'breast', 'wing_tip', 'tail', 'left_foot', 'right_foot']);
    expect(result.protocol).toMatch(/no train\/test split/);
    expect(result.metrics.map((m) => m.name)).toEqual([
      'mean error over labelled points (fraction of image side)',
      "PCK@0.1 (of the labelled points' box)",
    ]);
    for (const m of result.metrics) {
      expect(m.perPart).toHaveLength(8);
      expect(Number.isFinite(m.overall)).toBe(true);
    }
    const stored = withProject(project, (db) => new RunStore(db).run(runId)!.progress!.evaluation);
    expect(stored).toEqual(JSON.parse(JSON.stringify(result)));

    // Every measured image, worst first, its mean the mean of its parts' errors.
    expect(result.images.map((i) => i.imageId).sort()).toEqual(
      withProject(project, (db) => new ImageStore(db).all().map((i) => i.id)).sort(),
    );
    const means = result.images.map((i) => i.meanError!);
    expect(means).toEqual([...means].sort((a, b) => b - a));
    for (const image of result.images) {
      expect(image.perPart).toHaveLength(8);
      const parts = image.perPart.filter((v): v is number => v !== null);
      expect(image.meanError).toBeCloseTo(parts.reduce((a, b) => a + b, 0) / parts.length, 3);
    }
    const overall = result.metrics[0]!.overall;
    const pairs = result.images.flatMap((i) => i.perPart.filter((v) => v !== null));
    expect(pairs.reduce((a, b) => a + b!, 0) / pairs.length).toBeCloseTo(overall, 3);

    const report = (await services.evaluation.last())!;
    expect(report.images.map((i) => i.imageId)).toEqual(result.images.map((i) => i.imageId));
    const paths = withProject(project, (db) => new Map(new ImageStore(db).all().map((i) => [i.id, i.path])));
    for (const row of report.images) expect(row.path).toBe(paths.get(row.imageId));
  });

  it('skp evaluate prints the worst images with their paths after the table', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await evaluateCommand.run([project], io)).toBe(0);
    const head = lines.indexOf('Worst images (mean error over their labelled parts):');
    expect(head).toBeGreaterThan(0);
    const listed = lines.slice(head + 1);
    expect(listed).toHaveLength(5);
    const result = withProject(
      project,
      (db) => new RunStore(db).run(runId)!.progress!.evaluation,
    ) as unknown as EvaluationResult;
    const paths = withProject(project, (db) => new Map(new ImageStore(db).all().map((i) => [i.id, i.path])));
    listed.forEach((line, n) => {
      const image = result.images[n]!;
      expect(line.trim()).toBe(`${image.meanError!.toFixed(4)}  ${paths.get(image.imageId)}`);
    });
  });

  it('ranks images by mean error over their labelled parts, the unlabelled last', () => {
    const at = (y: number, x: number) => ({ y, x });
    const truth = [
      [
        { ...at(0, 0), visible: true },
        { ...at(0, 0), visible: false },
      ],
      [
        { ...at(0, 0), visible: true },
        { ...at(0, 0), visible: true },
      ],
      [
        { ...at(0, 0), visible: false },
        { ...at(0, 0), visible: false },
      ],
      [
        { ...at(0, 0), visible: true },
        { ...at(0.5, 0.5), visible: true },
      ],
    ];
    const estimated = [
      [at(0.3, 0.4), at(9, 9)],
      [at(0, 0.1), at(0, 0.3)],
      [at(1, 1), at(1, 1)],
      [at(0, 0.2), at(0.5, 0.5)],
    ];
    expect(imageErrors([10, 11, 12, 13], estimated, truth)).toEqual([
      { imageId: 10, meanError: 0.5, perPart: [0.5, null] },
      { imageId: 11, meanError: 0.2, perPart: [0.1, 0.3] },
      { imageId: 13, meanError: 0.1, perPart: [0.2, 0] },
      { imageId: 12, meanError: null, perPart: [null, null] },
    ]);
  });

  it('a second run feeds nothing until its match to the parts is accepted, and the parts stay as they were', async () => {
    const parts = () => withProject(project, (db) => new PartStore(db).parts());
    const named = parts()[0]!;
    await services.keypoints.updatePart(named.id, { name: 'beak', colour: '#ff0000' });
    const before = { parts: parts(), corrections: withProject(project, (db) => new PartStore(db).corrections()) };
    const trained = await jobs.start({
      kind: 'train',
      model: { path: model },
      settings: { ...TINY, steps: 2, seed: 9 },
      backend: 'cpu',
    });
    const second = (await jobs.wait(trained.jobId)).runId!;
    const logs: string[] = [];
    const watch = jobs.onStateChange((e) => e.message && logs.push(e.message));
    const found = await jobs.start({ kind: 'keypoints', runId: second, backend: 'cpu' });
    expect((await jobs.wait(found.jobId)).state).toBe('done');
    watch.dispose();
    expect(logs.some((l) => l.includes(`run ${second}'s indices are not matched to your parts yet`))).toBe(true);
    withProject(project, (db) => {
      expect(new KeypointStore(db).currentRunId()).toBe(runId);
      expect(new RunStore(db).indices(second).map((i) => i.partId)).toEqual([null, null, null]);
    });
    expect(parts()).toEqual(before.parts);

    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const args = [project, '--run', String(second), '--backend', 'cpu'];
    expect(await keypointsCommand.run(args, io)).toBe(0);
    expect(lines).toContain(`Matching run ${second}'s indices to your parts by where their keypoints land:`);
    expect(lines.some((l) => l.startsWith(`Nothing changed: your parts still show run ${runId}.`))).toBe(true);
    expect(withProject(project, (db) => new KeypointStore(db).currentRunId())).toBe(runId);

    lines.length = 0;
    expect(await keypointsCommand.run([...args, '--accept-match'], io)).toBe(0);
    expect(lines).toContain(`Run ${second} now feeds the predictions of your parts.`);
    withProject(project, (db) => {
      expect(new KeypointStore(db).currentRunId()).toBe(second);
      expect(new KeypointStore(db).isMatched(second)).toBe(true);
      expect(new PartStore(db).corrections()).toEqual(before.corrections);
    });
    // Every part the user had is there as it was (a new run may add parts, never change one).
    const after = parts();
    for (const part of before.parts) {
      expect(after.find((p) => p.id === part.id)).toMatchObject({
        name: part.name,
        colour: part.colour,
        hidden: part.hidden,
      });
    }
    expect(after.find((p) => p.id === named.id)).toMatchObject({ name: 'beak', colour: '#ff0000' });
  });
});
