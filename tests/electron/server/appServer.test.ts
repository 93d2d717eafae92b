// `skp serve`'s API, over real HTTP and WebSocket against a real project: every /api/ request
// needs the access token, and no path outside the folders the user opened is reachable.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../../../electron/server/appServer.js';

let root: string;
let allowedFolder: string;
let outside: string;
let server: AppServer;

async function call(
  method: string,
  input: unknown,
  token: string | null = server.token,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${server.url}/api/call/${method}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: JSON.stringify(input),
  });
  const type = response.headers.get('Content-Type') ?? '';
  const body: unknown = type.startsWith('application/json') ? await response.json() : await response.arrayBuffer();
  return {
    status: response.status,
    type,
    body: body as { result?: unknown; error?: { code: string; message: string } },
  };
}

/** Resolves with the HTTP status that refused the upgrade, or 101 when the socket opened. */
function openSocket(protocols: string[]): Promise<{ status: number; first?: unknown }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/events`, protocols);
    socket.on('unexpected-response', (_, response) => resolve({ status: response.statusCode ?? 0 }));
    socket.on('message', (data) => {
      resolve({ status: 101, first: JSON.parse(String(data)) });
      socket.close();
    });
    socket.on('error', () => undefined);
  });
}

beforeAll(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'skp-serve-')));
  allowedFolder = path.join(root, 'allowed');
  outside = path.join(root, 'outside');
  for (const folder of [path.join(allowedFolder, 'images'), outside, path.join(root, 'ui')])
    fs.mkdirSync(folder, { recursive: true });
  for (const [i, folder] of [allowedFolder + '/images', outside].entries()) {
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 50 * i, b: 30 } } })
      .png()
      .toFile(path.join(folder, 'a.png'));
  }
  fs.symlinkSync(outside, path.join(allowedFolder, 'link-out'));
  fs.writeFileSync(path.join(root, 'ui', 'index.html'), '<!doctype html><title>ui</title>');
  server = await startAppServer({
    host: '127.0.0.1',
    port: 0,
    allow: [allowedFolder],
    configFolder: path.join(root, 'config'),
    uiFolder: path.join(root, 'ui'),
  });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the access token', () => {
  it('is required on every API request', async () => {
    for (const token of [null, '', 'wrong-token', server.token + 'x']) {
      const r = await call('app.info', {}, token);
      expect(r.status).toBe(401);
      expect(r.body.error?.code).toBe('unauthorized');
    }
    const unknown = await fetch(`${server.url}/api/anything/at/all`);
    expect(unknown.status).toBe(401);
    const get = await fetch(`${server.url}/api/call/app.info`);
    expect(get.status).toBe(401);
  });

  it('opens the API with the right token', async () => {
    const r = await call('app.info', {});
    expect(r.status).toBe(200);
    expect(r.body.result).toMatchObject({ transport: 'http', allowedFolders: [allowedFolder] });
  });

  it('is required to open the event socket', async () => {
    expect((await openSocket(['skp-events'])).status).toBe(401);
    expect((await openSocket(['skp-events', 'token.nope'])).status).toBe(401);
    const opened = await openSocket(['skp-events', `token.${server.token}`]);
    expect(opened.status).toBe(101);
    expect(opened.first).toMatchObject({ event: 'hello' });
  });

  it('is not needed for the UI files, which carry the content security policy', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Security-Policy')).toContain("default-src 'none'");
    expect((await fetch(`${server.url}/..%2Fconfig`)).status).toBe(404);
  });

  it('refuses requests addressed to another host name (DNS rebinding)', async () => {
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const request = http.request(`${server.url}/`, { headers: { Host: host } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        request.end();
      });
    expect(await status('attacker.example')).toBe(421);
    expect(await status(new URL(server.url).host)).toBe(200);
  });
});

describe('paths', () => {
  it('lists only inside the allowed folders', async () => {
    const inside = await call('files.list', { path: allowedFolder });
    expect(inside.status).toBe(200);
    for (const p of [outside, '/etc', path.join(allowedFolder, '..'), path.join(allowedFolder, 'link-out')]) {
      const r = await call('files.list', { path: p });
      expect(r.status, p).toBe(403);
      expect(r.body.error?.code).toBe('forbidden');
    }
  });

  it('refuses projects, images and exports outside the allowed folders', async () => {
    const refused = [
      await call('projects.create', { path: path.join(outside, 'p.skp'), images: path.join(allowedFolder, 'images') }),
      await call('projects.create', { path: path.join(allowedFolder, 'p.skp'), images: outside }),
      await call('projects.create', {
        path: path.join(allowedFolder, 'p.skp'),
        images: path.join(allowedFolder, 'link-out'),
      }),
      await call('projects.open', { path: '/etc/passwd' }),
      await call('projects.import', {
        kind: 'coco',
        path: path.join(allowedFolder, 'c.skp'),
        file: path.join(outside, 'x.json'),
      }),
    ];
    for (const r of refused) expect(r.body.error?.code).toBe('forbidden');
    expect(fs.existsSync(path.join(allowedFolder, 'p.skp'))).toBe(false);
    expect(fs.existsSync(path.join(outside, 'p.skp'))).toBe(false);

    const created = await call('projects.create', {
      path: path.join(allowedFolder, 'p.skp'),
      images: path.join(allowedFolder, 'images'),
    });
    expect(created.status).toBe(200);
    const exported = await call('export.coco', { file: path.join(outside, 'out.json') });
    expect(exported.body.error?.code).toBe('forbidden');
    expect(fs.existsSync(path.join(outside, 'out.json'))).toBe(false);
    const table = await call('export.csv', { file: path.join(outside, 'out.csv') });
    expect(table.body.error?.code).toBe('forbidden');
    expect(fs.existsSync(path.join(outside, 'out.csv'))).toBe(false);
    // Inside, the export passes the folder check and gets as far as the project: no run yet.
    const inside = await call('export.coco', { file: path.join(allowedFolder, 'out.json') });
    expect(inside.body.error?.code).toBe('bad-input');
    expect(inside.body.error?.message).toMatch(/no parts yet/);
  });

  it('serves image files of the open project by id only', async () => {
    const page = await call('images.list', {});
    const [image] = (page.body.result as { items: { id: number }[] }).items;
    const file = await call('images.file', { id: image!.id });
    expect(file.status).toBe(200);
    expect(file.type).toBe('image/png');
    expect((await sharp(Buffer.from(file.body as unknown as ArrayBuffer)).metadata()).width).toBe(40);
    const thumbnail = await call('images.file', { id: image!.id, maxSide: 20 });
    expect((await sharp(Buffer.from(thumbnail.body as unknown as ArrayBuffer)).metadata()).width).toBe(20);
    const bad = await call('images.file', { path: '/etc/passwd' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/Bad input to images\.file/);
  });
});
