// `skp demo` end to end: random model, drawn birds, train, indices, keypoints, evaluation,
// COCO export and report, ending with the absolute paths and the random-weights warning.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoCommand } from '../../../../electron/cli/commands/demo.js';
import { removeTempDirs, tempDir } from '../../../support/jobFixtures.js';

afterAll(removeTempDirs);

interface CocoOut {
  images: Array<{ id: number; file_name: string; width: number; height: number }>;
  annotations: Array<{ image_id: number; keypoints: number[]; num_keypoints: number }>;
  categories: Array<{ keypoints: string[] }>;
}

describe('skp demo', () => {
  it('produces a COCO file with K keypoints per annotation and a self-contained report', async () => {
    const out = path.join(tempDir(), 'demo');
    process.env.SKP_CACHE_DIR = path.join(out, '..', 'graph-cache');
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await demoCommand.run(['--out', out, '--steps', '2', '--images', '6', '--backend', 'cpu'], io)).toBe(0);

    const cocoLine = lines.find((l) => l.startsWith('COCO keypoints: /'))!;
    const reportLine = lines.find((l) => l.startsWith('Report:'))!;
    const cocoFile = cocoLine.slice('COCO keypoints: '.length).trim();
    const reportFile = reportLine.slice('Report:'.length).trim();
    expect(cocoFile).toBe(path.join(out, 'keypoints.coco.json'));
    expect(reportFile).toBe(path.join(out, 'report.html'));
    expect(lines.findIndex((l) => l.includes('RANDOM weights'))).toBeLessThan(lines.indexOf(cocoLine));
    expect(lines.join('\n')).toMatch(/meaningless[\s\S]*--model/);

    const coco = JSON.parse(fs.readFileSync(cocoFile, 'utf8')) as CocoOut;
    const k = coco.categories[0]!.keypoints.length;
    expect(k).toBe(4);
    expect(coco.images).toHaveLength(6);
    expect(coco.annotations).toHaveLength(6);
    for (const a of coco.annotations) {
      expect(a.keypoints).toHaveLength(3 * k);
      expect(a.num_keypoints).toBe(k);
      const image = coco.images.find((i) => i.id === a.image_id)!;
      for (let j = 0; j < k; j++) {
        expect(a.keypoints[3 * j]).toBeGreaterThanOrEqual(0);
        expect(a.keypoints[3 * j]).toBeLessThanOrEqual(image.width);
        expect(a.keypoints[3 * j + 2]).toBe(2);
      }
    }

    const html = fs.readFileSync(reportFile, 'utf8');
    expect(html).toContain('RANDOM weights');
    expect(html.match(/<image id="image-\d+" href="data:image\/png;base64,/g)).toHaveLength(6);
    expect(html).not.toMatch(/(src|href)="(https?:|file:)/);
    for (let n = 1; n <= k; n++) expect(html).toContain(`keypoint_${n}`);
    expect(html).toMatch(/<polyline [^>]*points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
    expect(html).toContain('Evaluation against the ground truth');
  });
});
