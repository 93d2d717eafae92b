// When `skp` runs the compiled build: only while dist/ was stamped with the digest of exactly the
// sources beside it. Checked on a copy of the repository's layout whose dist/ is a stand-in CLI
// that names itself, so the test sees which one ran.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMPILED_CLI, STAMP, compiledIsCurrent, sourcesDigest } from '../../bin/compiled.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-compiled-'));
  fs.cpSync(path.join(repoRoot, 'bin'), path.join(root, 'bin'), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) {
    fs.copyFileSync(path.join(repoRoot, file), path.join(root, file));
  }
  for (const link of ['electron', 'native', 'resources', 'node_modules']) {
    fs.symlinkSync(path.join(repoRoot, link), path.join(root, link));
  }
  fs.mkdirSync(path.dirname(path.join(root, COMPILED_CLI)), { recursive: true });
  fs.writeFileSync(path.join(root, COMPILED_CLI), "console.log('the compiled build ran');\n");
  fs.writeFileSync(path.join(root, STAMP), `${sourcesDigest(root)}\n`);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function skpHelp(): string {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'skp.mjs'), '--help'], {
    encoding: 'utf8',
    cwd: os.tmpdir(),
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('skp and the compiled build', () => {
  it('runs dist/ when it was built from exactly these sources', () => {
    expect(compiledIsCurrent(root)).toBe(true);
    expect(skpHelp()).toBe('the compiled build ran\n');
  });

  it('runs the sources once any source differs, even with the same size and time', () => {
    const settings = path.join(root, 'tsconfig.build.json');
    const before = fs.statSync(settings);
    const text = fs.readFileSync(settings, 'utf8');
    fs.writeFileSync(settings, text.replace('"dist"', '"tsid"'));
    fs.utimesSync(settings, before.atime, before.mtime);
    expect(fs.statSync(settings).size).toBe(before.size);
    expect(compiledIsCurrent(root)).toBe(false);
    expect(skpHelp()).toMatch(/^Usage: skp <command>/);

    fs.writeFileSync(settings, text);
    expect(compiledIsCurrent(root)).toBe(true);
  });

  it('runs the sources when the stamp or the compiled CLI is missing', () => {
    fs.rmSync(path.join(root, STAMP));
    expect(compiledIsCurrent(root)).toBe(false);
    expect(skpHelp()).toMatch(/^Usage: skp <command>/);
    fs.writeFileSync(path.join(root, STAMP), `${sourcesDigest(root)}\n`);
    fs.rmSync(path.join(root, COMPILED_CLI));
    expect(compiledIsCurrent(root)).toBe(false);
  });
});
