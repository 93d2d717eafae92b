// Reading image files for import: find them, recognise the format from the bytes, decode
// them fully (a file that only has a valid header is still broken), hash the content.
// No database here; callers decide how to store what comes back.
// A small PNG can hold a huge image (16383² pixels in 1 MB decode to over 1 GB), so the pixel
// size is read from the header first: images over MAX_IMAGE_PIXELS are refused, and decoding
// is budgeted by pixels in flight, not by file count. Decoding makes a small copy, never the
// full-size pixels, so memory stays bounded whatever the image.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { badInput } from '../common/errors.js';
import type { ImageFormat, SkippedFile } from '../common/images.js';
import { kindOf } from '../db/projectFile.js';
import type { NewImage } from '../db/imageStore.js';
import { outsideRoot } from './import/inputFiles.js';

// libvips keeps decoded images in a cache meant for repeated edits; an import reads each file once.
sharp.cache(false);

/** The most pixels one image may have (10000 × 10000): beyond, one decode alone needs gigabytes. */
export const MAX_IMAGE_PIXELS = 100_000_000;
/** The most bytes one image file may have (read whole, to hash it). */
export const MAX_IMAGE_BYTES = 512_000_000;
/** Side of the copy that a check decodes to: every byte of the file is read, few pixels are kept. */
const CHECK_SIDE = 64;

/** Pixels being decoded at once, shared by every import and image view of this process. */
export class PixelBudget {
  private inUse = 0;
  private readonly waiting: Array<{ pixels: number; start: () => void }> = [];

  constructor(private readonly limit: number) {}

  /** Waits until `pixels` more fit (an image larger than the whole budget runs alone); returns the release. */
  async take(pixels: number): Promise<() => void> {
    const wanted = Math.min(pixels, this.limit);
    if (this.waiting.length === 0 && this.inUse + wanted <= this.limit) this.inUse += wanted;
    else await new Promise<void>((start) => this.waiting.push({ pixels: wanted, start }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= wanted;
      for (let next = this.waiting[0]; next && this.inUse + next.pixels <= this.limit; next = this.waiting[0]) {
        this.waiting.shift();
        this.inUse += next.pixels;
        next.start();
      }
    };
  }
}

const decoding = new PixelBudget(2 * MAX_IMAGE_PIXELS);

/** Why an image of this pixel size must not be decoded, or null. */
function pixelProblem(width: number, height: number): string | null {
  if (width * height <= MAX_IMAGE_PIXELS) return null;
  return (
    `too large to decode: ${width}×${height} is ${Math.round((width * height) / 1e6)} megapixels ` +
    `(at most ${MAX_IMAGE_PIXELS / 1e6}); make a smaller copy`
  );
}

/** Why the symbolic link `link` in the folder `root` is not an image file to read, or null. */
function linkProblem(root: string, link: string): string | null {
  try {
    const outside = outsideRoot(root, link);
    if (outside !== null) return outside;
    const target = fs.statSync(link, { throwIfNoEntry: false });
    if (target?.isFile()) return null;
    // Links to folders are not followed: they could lead back up and round for ever.
    return `link to ${target ? kindOf(target) : 'nothing'}, not to a file`;
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
}

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
        const problem = linkProblem(root, full);
        if (problem === null) files.push(full);
        else unreadable.push({ path: full, reason: problem });
      } else unreadable.push({ path: full, reason: 'not a regular file (a device, pipe or socket)' });
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
    const stat = fs.statSync(file);
    if (!stat.isFile()) return skip(`${kindOf(stat)}, not an image file`);
    if (stat.size === 0) return skip('empty file (0 bytes)');
    if (stat.size > MAX_IMAGE_BYTES)
      return skip(`too large (${Math.round(stat.size / 1e6)} MB; at most ${MAX_IMAGE_BYTES / 1e6})`);
    const start = readStart(file, 16);
    format = SIGNATURES.find((s) => s.test(start))?.format;
    if (!format) return skip('not an image (not JPEG, PNG or WebP)');
    if (!SUPPORTED.has(format)) return skip(`unsupported image format ${format}; use JPEG, PNG or WebP`);
    const bytes = fs.readFileSync(file);
    const metadata = await sharp(bytes).metadata();
    if (!metadata.width || !metadata.height) return skip(`${FORMAT_LABEL[format as ImageFormat]} without a pixel size`);
    const tooLarge = pixelProblem(metadata.width, metadata.height);
    if (tooLarge) return skip(tooLarge);
    // Decoding every pixel is what catches truncated and damaged files; the header alone looks
    // fine. Shrinking as it decodes reads the whole file but keeps only a small copy.
    const release = await decoding.take(metadata.width * metadata.height);
    try {
      await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
        .resize(CHECK_SIDE, CHECK_SIDE, { fit: 'inside' })
        .raw()
        .toBuffer();
    } finally {
      release();
    }
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

/**
 * Reads files with a few in flight at once (sharp decodes on its own thread pool; the pixel
 * budget keeps big ones from piling up).
 */
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

/**
 * A copy of the image file `file` (`width`×`height` as stored) at most `maxSide` pixels on its
 * longer side, in its stored pixel orientation (keypoints are in those pixels), encoded as `format`: what the image view and thumbnails show. The decode
 * shrinks as it reads and counts against the pixel budget, so a huge image costs no more memory
 * than its copy.
 */
export async function renderImage(
  file: string,
  size: { width: number; height: number },
  maxSide: number,
  format: ImageFormat,
): Promise<Buffer> {
  const tooLarge = pixelProblem(size.width, size.height);
  if (tooLarge) throw badInput(`${file} is ${tooLarge}`);
  const release = await decoding.take(size.width * size.height);
  try {
    const pipeline = sharp(file, { failOn: 'none', limitInputPixels: MAX_IMAGE_PIXELS }).resize(maxSide, maxSide, {
      fit: 'inside',
      withoutEnlargement: true,
    });
    if (format === 'png') return await pipeline.png().toBuffer();
    if (format === 'webp') return await pipeline.webp({ quality: 85 }).toBuffer();
    return await pipeline.jpeg({ quality: 85 }).toBuffer();
  } finally {
    release();
  }
}
