// The built UI's files (dist/renderer), for browsers (`skp serve`) and for the desktop window's
// skp-app:// protocol. They hold no data, so they need no token; the data lives behind /api/.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ServerResponse } from 'node:http';
import { ApiError } from '../common/api/errors.js';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/** O_NONBLOCK: a FIFO put in the UI folder must not hold the reader until something writes to it. */
const openForReading = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

export function contentTypeOf(file: string): string {
  return contentTypes[path.extname(file)] ?? 'application/octet-stream';
}

/**
 * The path under `root` that `urlPath` names; null when it would leave `root`. A URL path that is
 * no path at all (broken percent-encoding, a NUL byte) is bad input.
 */
export function uiPathOf(root: string, urlPath: string): string | null {
  let relative: string;
  try {
    relative = decodeURIComponent(urlPath === '/' || urlPath === '' ? '/index.html' : urlPath);
  } catch {
    throw new ApiError('bad-input', 'The URL path has a broken percent-encoding.');
  }
  if (relative.includes('\0')) throw new ApiError('bad-input', 'The URL path contains a NUL byte.');
  const file = path.join(root, path.normalize(relative));
  return file.startsWith(root + path.sep) ? file : null;
}

/** The file under `root` that `urlPath` names, or null when there is none, it would leave `root`, or
 * the path is malformed. */
export function uiFileFor(root: string, urlPath: string): string | null {
  let file: string | null;
  try {
    file = uiPathOf(root, urlPath);
  } catch {
    return null;
  }
  return file !== null && fs.statSync(file, { throwIfNoEntry: false })?.isFile() ? file : null;
}

/** Built assets carry a content hash in their name; index.html must always be fresh. */
export function cacheControlOf(file: string): string {
  return path.extname(file) === '.html' ? 'no-store' : 'public, max-age=31536000, immutable';
}

async function openRegularFile(file: string): Promise<fs.promises.FileHandle | null> {
  const handle = await fs.promises.open(file, openForReading).catch(() => null);
  if (handle === null) return null;
  const stat = await handle.stat().catch(() => null);
  if (stat?.isFile()) return handle;
  await handle.close();
  return null;
}

/** Sends the file of `urlPath`; false when there is none (the caller answers 404). */
export async function sendStaticFile(
  root: string,
  urlPath: string,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<boolean> {
  const file = uiPathOf(root, urlPath);
  const handle = file === null ? null : await openRegularFile(file);
  if (file === null || handle === null) return false;
  try {
    res.writeHead(200, {
      ...headers,
      'Content-Type': contentTypeOf(file),
      'Content-Length': String((await handle.stat()).size),
      'Cache-Control': cacheControlOf(file),
    });
    await pipeline(handle.createReadStream({ autoClose: false }), res);
  } finally {
    await handle.close();
  }
  return true;
}
