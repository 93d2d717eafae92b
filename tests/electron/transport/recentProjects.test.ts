// The list of recent projects is a convenience: a damaged or unwritable list never fails the open
// that uses it, the damaged bytes are kept, and the user is told once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RecentProjects } from '../../../electron/transport/recentProjects.js';

let root: string;
let told: string[];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-recent-'));
  told = [];
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

it('sets a damaged list aside, starts a new one and says so once', () => {
  const file = path.join(root, 'recent-projects.json');
  fs.writeFileSync(file, '\u0000\u0000 not json');
  const recent = new RecentProjects(file, (message) => told.push(message));
  expect(recent.list()).toEqual([]);
  expect(recent.list()).toEqual([]);
  recent.remember('/p/one.skp', 'one');
  expect(recent.list()).toMatchObject([{ path: '/p/one.skp', name: 'one' }]);
  expect(told).toHaveLength(1);
  expect(told[0]).toMatch(/was damaged: kept it as .*recent-projects\.json\.damaged-.* and started a new list/);
  const copy = fs.readdirSync(root).find((f) => f.startsWith('recent-projects.json.damaged-'));
  expect(fs.readFileSync(path.join(root, copy!), 'utf8')).toBe('\u0000\u0000 not json');
});

it('goes on when the list cannot be saved, and says so once', () => {
  fs.writeFileSync(path.join(root, 'not-a-folder'), '');
  const recent = new RecentProjects(path.join(root, 'not-a-folder', 'recent-projects.json'), (m) => told.push(m));
  recent.remember('/p/one.skp', 'one');
  recent.remember('/p/two.skp', 'two');
  expect(recent.list()).toEqual([]);
  expect(told).toHaveLength(1);
  expect(told[0]).toMatch(/Cannot save the list of recent projects/);
});
