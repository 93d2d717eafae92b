// Serves the built UI (dist/renderer) to browsers. It holds no data, so it needs no token; the
// data lives behind /api/.
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

/** Sends the file of `urlPath` under `root`; false when there is none (the caller answers 404). */
export function sendStaticFile(
  root: string,
  urlPath: string,
  res: ServerResponse,
  headers: Record<string, string>,
): boolean {
  const relative = decodeURIComponent(urlPath === '/' ? '/index.html' : urlPath);
  const file = path.join(root, path.normalize(relative));
  if (!file.startsWith(root + path.sep)) return false;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return false;
  }
  if (!stat.isFile()) return false;
  const ext = path.extname(file);
  res.writeHead(200, {
    ...headers,
    'Content-Type': contentTypes[ext] ?? 'application/octet-stream',
    'Content-Length': String(stat.size),
    // Built assets carry a content hash in their name; index.html must always be fresh.
    'Cache-Control': ext === '.html' ? 'no-store' : 'public, max-age=31536000, immutable',
  });
  fs.createReadStream(file).pipe(res);
  return true;
}
