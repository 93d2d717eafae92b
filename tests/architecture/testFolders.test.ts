// tests/ mirrors the source folders, so the tests of native/keypoints/fps.ts are found under
// tests/native/keypoints/. Only tests about the whole app rather than one source folder have
// top-level folders of their own, and helpers shared across folders live in tests/support/.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** Browser end-to-end tests, import boundaries, benchmarks, parity with the reference cases. */
const wholeAppFolders = ['e2e', 'architecture', 'bench', 'golden'];
/** Where the sources live; a test folder mirrors a folder under one of these. */
const sourceRoots = ['bin', 'electron', 'native', 'renderer', 'resources'];

const isSourceFolder = (folder: string): boolean => {
  const first = folder.split('/')[0]!;
  return (
    sourceRoots.includes(first) &&
    fs.statSync(path.join(root, folder), { throwIfNoEntry: false })?.isDirectory() === true
  );
};

/** Why a file under tests/ (path relative to tests/) is out of place; null when it is where it belongs. */
function misplaced(file: string): string | null {
  const folder = path.posix.dirname(file);
  const top = file.split('/')[0]!;
  if (folder === '.') return `tests/${file} lies at the top of tests/, outside any folder`;
  if (wholeAppFolders.includes(top) || isSourceFolder(folder)) return null;
  if (top === 'support')
    return file.endsWith('.test.ts') ? `tests/${file} is a test in tests/support/, which holds only helpers` : null;
  return `tests/${file}: tests/${folder}/ mirrors no source folder (${folder}/ is not a folder of ${sourceRoots.join('/, ')}/), and ${top}/ is none of the whole-app folders ${wholeAppFolders.join('/, ')}/`;
}

function filesUnder(folder: string): string[] {
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? filesUnder(path.join(folder, entry.name)) : [path.join(folder, entry.name)],
    );
}

describe('the test folders rule', () => {
  it('accepts a mirrored source folder, a whole-app folder and a helper in tests/support', () => {
    expect(misplaced('native/keypoints/fps.test.ts')).toBeNull();
    expect(misplaced('renderer/src/lib/editorLib.test.ts')).toBeNull();
    expect(misplaced('e2e/editor.test.ts')).toBeNull();
    expect(misplaced('golden/cases/case_a/golden/meta.json')).toBeNull();
    expect(misplaced('support/random.ts')).toBeNull();
  });

  it('refuses a folder that mirrors no source folder, a test at the top and a test among the helpers', () => {
    expect(misplaced('foo/x.test.ts')).toContain('tests/foo/ mirrors no source folder');
    expect(misplaced('native/nothing/x.test.ts')).toContain('tests/native/nothing/ mirrors no source folder');
    // tools/ exists but holds no sources of the app.
    expect(misplaced('tools/svelte-check/x.test.ts')).toContain('mirrors no source folder');
    expect(misplaced('x.test.ts')).toContain('at the top of tests/');
    expect(misplaced('support/x.test.ts')).toContain('holds only helpers');
  });
});

describe('tests/ mirrors the source folders', () => {
  it('every file under tests/ is in a mirrored source folder, a whole-app folder or tests/support', () => {
    const files = filesUnder(path.join(root, 'tests')).map((file) =>
      path.relative(path.join(root, 'tests'), file).split(path.sep).join('/'),
    );
    expect(files.filter((file) => file.endsWith('.test.ts')).length).toBeGreaterThan(50);
    expect(files.map((file) => misplaced(file)).filter((reason) => reason !== null)).toEqual([]);
  });
});
