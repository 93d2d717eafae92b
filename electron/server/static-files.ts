// The built UI's files (dist/renderer), for browsers (`skp serve`) and for the desktop window's
// skp-app:// protocol. They hold no data, so they need no token; the data lives behind /api/.
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';

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

export function contentTypeOf(file: string): string {
  return contentTypes[path.extname(file)] ?? 'application/octet-stream';
}

/** The file under `root` that `urlPath` names, or null when there is none or it would leave `root`. */
export function uiFileFor(root: string, urlPath: string): string | null {
  let relative: string;
  try {
    relative = decodeURIComponent(urlPath === '/' || urlPath === '' ? '/index.html' : urlPath);
  } catch {
    return null;
  }
  const file = path.join(root, path.normalize(relative));
  if (!file.startsWith(root + path.sep)) return null;
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ? file : null;
}

/** Built assets carry a content hash in their name; index.html must always be fresh. */
export function cacheControlOf(file: string): string {
  return path.extname(file) === '.html' ? 'no-store' : 'public, max-age=31536000, immutable';
}

/** Sends the file of `urlPath`; false when there is none (the caller answers 404). */
export function sendStaticFile(
  root: string,
  urlPath: string,
  res: ServerResponse,
  headers: Record<string, string>,
): boolean {
  const file = uiFileFor(root, urlPath);
  if (file === null) return false;
  res.writeHead(200, {
    ...headers,
    'Content-Type': contentTypeOf(file),
    'Content-Length': String(fs.statSync(file).size),
    'Cache-Control': cacheControlOf(file),
  });
  fs.createReadStream(file).pipe(res);
  return true;
}
