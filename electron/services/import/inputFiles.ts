// Reading the files an import names: text files (COCO JSON, CUB lists) read whole but only up
// to a size limit and only when they are regular files (a device or a pipe would never end),
// and paths taken from those files, which must lead to a file inside the import folder. The
// check never looks outside that folder, so its answer says nothing about what is there.

import fs from 'node:fs';
import path from 'node:path';
import { badInput } from '../../common/errors.js';
import { kindOf } from '../../db/projectFile.js';

const megabytes = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

/** Links followed on the way to one file before it counts as a loop (Linux's own limit). */
const MAX_LINKS = 40;

/**
 * The text of `bytes`, which came from `file`. A UTF-8 byte-order mark is dropped; UTF-16,
 * binary data and other encodings are refused, saying what the file is.
 */
export function decodeText(bytes: Buffer, file: string): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw badInput(`${file} is UTF-16 text: save it as UTF-8`);
  }
  // UTF-16 without a byte-order mark: plain ASCII then has a zero in every other byte.
  const sample = bytes.subarray(0, 64);
  const zeros = [0, 1].map((parity) => sample.filter((b, i) => i % 2 === parity && b === 0).length);
  if (sample.length >= 4 && Math.min(...zeros) === 0 && Math.max(...zeros) >= sample.length / 4) {
    throw badInput(`${file} is UTF-16 text: save it as UTF-8`);
  }
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  const zero = body.indexOf(0);
  if (zero >= 0) throw badInput(`${file} is not a text file (it holds binary data: a zero byte at offset ${zero})`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw badInput(`${file} is not UTF-8 text: save it as UTF-8`);
  }
}

/** Reads the text file `file` (`what` it should be, for messages), refusing more than `maxBytes`. */
export function readTextFile(file: string, what: string, maxBytes: number): string {
  let fd: number;
  try {
    // Non-blocking, so that a named pipe cannot hold the open (and the whole process) forever.
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw badInput(`${what} ${file} does not exist`);
    if (code === 'ELOOP') throw badInput(`${what} ${file} is a link that leads back to itself (a symlink loop)`);
    throw badInput(`cannot read ${what} ${file} (${code ?? (e as Error).message})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw badInput(`${file} is ${kindOf(stat)}, not a ${what}`);
    if (stat.size > maxBytes) {
      throw badInput(`${file} is too large for a ${what} (${megabytes(stat.size)}; at most ${megabytes(maxBytes)})`);
    }
    // One byte more than the file had, to notice one that grows while being read.
    const buffer = Buffer.alloc(stat.size + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) {
      n = fs.readSync(fd, buffer, length, buffer.length - length, length);
    }
    if (length > stat.size) throw badInput(`${file} changed while it was read; import it again`);
    return decodeText(buffer.subarray(0, length), file);
  } finally {
    fs.closeSync(fd);
  }
}

/** Where the symbolic link `file` points; null when it is no link, undefined when it cannot be looked at. */
function linkTarget(file: string): string | null | undefined {
  try {
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!stat) return undefined;
    return stat.isSymbolicLink() ? fs.readlinkSync(file) : null;
  } catch {
    return undefined;
  }
}

/**
 * Why `file` (absolute, as the import names it) must not be read, or null when it leads
 * inside `root` (to something or nothing). Each step is resolved as the system would (symlinks included), and
 * the walk stops at the first step that leaves `root`, before looking at what is there.
 */
export function outsideRoot(root: string, file: string): string | null {
  const outside = `outside the import folder ${root}; only files under it are imported`;
  const inside = (base: string, target: string): string | null => {
    const relative = path.relative(base, target);
    const up = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
    return up ? null : relative;
  };
  const start = inside(root, path.resolve(root, file));
  if (start === null) return outside;
  const realRoot = fs.realpathSync(root);
  const resolved: string[] = [];
  const pending = start.split(path.sep);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) return outside;
      resolved.pop();
      continue;
    }
    const here = path.join(realRoot, ...resolved, part);
    const target = linkTarget(here);
    // Missing or unreadable here, inside the folder: reading it will say so.
    if (target === undefined) return null;
    if (target === null) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return 'a loop of symbolic links';
    if (path.isAbsolute(target)) {
      const within = inside(realRoot, target) ?? inside(root, target);
      if (within === null) return outside;
      resolved.length = 0;
      pending.unshift(...within.split(path.sep));
    } else {
      pending.unshift(...target.split(path.sep === '/' ? '/' : /[\\/]/));
    }
  }
  return null;
}
