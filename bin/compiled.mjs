// Whether the compiled build in dist/ was made from exactly the sources beside it. File times
// would be cheaper but lie after a checkout, a copy or an archive that keeps them, so the build
// records a digest of the sources' contents (bin/build.mjs) and `skp` compares it on every start
// (about 150 files, a few milliseconds).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** What tsconfig.build.json compiles, and the settings that shape its output. */
const SOURCE_FOLDERS = ['electron', 'native', 'resources'];
const SOURCE_EXTENSIONS = ['.ts', '.cts', '.mts'];
const SETTINGS_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

export const STAMP = path.join('dist', 'sources.sha256');
export const COMPILED_CLI = path.join('dist', 'electron', 'cli', 'main.js');

function sourceFiles(root) {
  const files = [...SETTINGS_FILES];
  for (const folder of SOURCE_FOLDERS) {
    for (const entry of fs.readdirSync(path.join(root, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
        files.push(path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name)));
      }
    }
  }
  // One order on every machine: the digest must not depend on how a folder lists its files.
  return files.map((f) => f.split(path.sep).join('/')).sort();
}

/** SHA-256 over every source file's path and contents. */
export function sourcesDigest(root) {
  const hash = crypto.createHash('sha256');
  for (const file of sourceFiles(root)) {
    const contents = fs.readFileSync(path.join(root, file));
    hash.update(`${file}\0${contents.length}\0`);
    hash.update(contents);
  }
  return hash.digest('hex');
}

/** True when dist/ holds the CLI and was built from the sources as they are now. */
export function compiledIsCurrent(root) {
  let stamp;
  try {
    stamp = fs.readFileSync(path.join(root, STAMP), 'utf8').trim();
  } catch {
    return false;
  }
  return fs.existsSync(path.join(root, COMPILED_CLI)) && stamp === sourcesDigest(root);
}
