// Reading image files for import: find them, recognise the format from the bytes, decode
// them fully (a file that only has a valid header is still broken), hash the content.
// No database here; callers decide how to store what comes back.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { badInput } from '../common/errors.js';
import type { ImageFormat, SkippedFile } from '../common/images.js';
import type { NewImage } from '../db/imageStore.js';

// libvips keeps decoded images in a cache meant for repeated edits; an import reads each file once.
sharp.cache(false);

/** Files under `folder`, recursively, sorted; unreadable subfolders are reported, not dropped. */
export function listFiles(folder: string): { files: string[]; unreadable: SkippedFile[] } {
  const root = path.resolve(folder);
  if (!fs.existsSync(root)) throw badInput(`image folder ${root} does not exist`);
  if (!fs.statSync(root).isDirectory()) throw badInput(`${root} is a file; give the folder that holds the images`);
  const files: string[] = [];
  const unreadable: SkippedFile[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      unreadable.push({ path: dir, reason: `folder cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(full);
      else if (entry.isSymbolicLink()) {
        const target = fs.statSync(full, { throwIfNoEntry: false });
        if (target?.isFile()) files.push(full);
        else unreadable.push({ path: full, reason: 'link to something that is not a file' });
      }
    }
  };
  walk(root);
  files.sort();
  return { files, unreadable };
}

const SIGNATURES: Array<{ format: ImageFormat | string; test: (b: Buffer) => boolean }> = [
  { format: 'jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  {
    format: 'png',
    test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  { format: 'webp', test: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' },
  { format: 'GIF', test: (b) => b.toString('latin1', 0, 4) === 'GIF8' },
  { format: 'TIFF', test: (b) => ['II*\0', 'MM\0*'].includes(b.toString('latin1', 0, 4)) },
  { format: 'BMP', test: (b) => b.toString('latin1', 0, 2) === 'BM' },
  {
    format: 'HEIF/AVIF',
    test: (b) =>
      b.toString('latin1', 4, 8) === 'ftyp' && /^(avif|avis|heic|heix|mif1|msf1)$/.test(b.toString('latin1', 8, 12)),
  },
];

const SUPPORTED = new Set(['jpeg', 'png', 'webp']);
const FORMAT_LABEL: Record<ImageFormat, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP' };

export type ReadOutcome = { image: NewImage } | { skipped: SkippedFile };

function readStart(file: string, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    return buffer.subarray(0, fs.readSync(fd, buffer, 0, length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one file; anything wrong with it becomes a reason, never an exception. */
export async function readImageFile(file: string): Promise<ReadOutcome> {
  const skip = (reason: string): ReadOutcome => ({ skipped: { path: file, reason } });
  let format: string | undefined;
  try {
    const size = fs.statSync(file).size;
    if (size === 0) return skip('empty file (0 bytes)');
    const start = readStart(file, 16);
    format = SIGNATURES.find((s) => s.test(start))?.format;
    if (!format) return skip('not an image (not JPEG, PNG or WebP)');
    if (!SUPPORTED.has(format)) return skip(`unsupported image format ${format}; use JPEG, PNG or WebP`);
    const bytes = fs.readFileSync(file);
    const metadata = await sharp(bytes).metadata();
    // Decoding every pixel is what catches truncated and damaged files; the header alone looks
    // fine. (Raw output is several times faster than stats(), which also builds histograms.)
    await sharp(bytes, { failOn: 'error' }).raw().toBuffer();
    if (!metadata.width || !metadata.height) return skip(`${FORMAT_LABEL[format as ImageFormat]} without a pixel size`);
    return {
      image: {
        file,
        width: metadata.width,
        height: metadata.height,
        format: format as ImageFormat,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        orientation: metadata.orientation ?? 1,
      },
    };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) return skip(`cannot be read (${code})`);
    const what = format && SUPPORTED.has(format) ? `damaged ${FORMAT_LABEL[format as ImageFormat]}` : 'damaged image';
    return skip(`${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Reads files with a few in flight at once (sharp decodes on its own thread pool). */
export async function readImageFiles(
  files: string[],
  onEach: (done: number) => void = () => {},
  concurrency = 8,
): Promise<ReadOutcome[]> {
  const outcomes = new Array<ReadOutcome>(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      outcomes[i] = await readImageFile(files[i] as string);
      onEach(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return outcomes;
}
