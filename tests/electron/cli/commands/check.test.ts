// skp check as a user runs it (a real process through bin/skp.mjs) on a project whose predictions
// share one shape, with one hand correction far from where its part sits everywhere else.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../support/projectHelpers.js';
import { runSkp } from '../../../support/skpCommand.js';
import { trainedProject, type TrainedProject } from '../../../support/trainedProject.js';

let dir: string;
let p: TrainedProject;

const skp = (...args: string[]) => runSkp(dir, ...args);

beforeAll(async () => {
  dir = tempDir();
  p = await trainedProject(dir, 8, [7, 3, 42, 11]);
  await p.services.keypoints.updatePart(p.parts[1]!.id, { name: 'eye' });
  await p.services.keypoints.setCorrected(p.imageIds[5]!, [{ partId: p.parts[1]!.id, x: 95, y: 75, visibility: 2 }]);
  p.services.dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('skp check', () => {
  it('lists the one point far from where its part usually sits, by image and part name', () => {
    const r = skp('check', 'trained.skp');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe('1 thing to look at on 8 images checked.');
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(
      /^ {2}images\/img5\.png {2}eye far from where it usually sits \(\d+\.\d\d; usually \d+\.\d\d\)$/,
    );
  });

  it('says when too few images have a shape to know what is usual, and refuses bad input with one line', async () => {
    const few = await trainedProject(path.join(dir, 'few'), 3);
    few.services.dispose();
    const r = skp('check', 'few/trained.skp');
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe('Only 3 images have three or more points; the checks need 5 to know what is usual.');
    for (const args of [
      ['check', 'nothing.skp'],
      ['check', 'trained.skp', 'other.skp'],
    ]) {
      const bad = skp(...args);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.err.trim().split('\n'), bad.err).toHaveLength(1);
      expect(bad.err).toMatch(/^skp check: /);
    }
  });
});
