// `skp serve` as a real process against hostile and unlucky requests: no request ends it or freezes
// it, nothing outside the allowed folders is read, written or even probed, and bad input gets a 4xx
// that says what is wrong instead of a 500.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openProjectDatabase } from '../../../electron/db/database.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { createServices } from '../../../electron/services/container.js';
import { rawRequest, repoRoot, startServe, type ServeProcess } from '../../support/serveProcess.js';

let root: string;
let allowed: string;
let outside: string;
let serve: ServeProcess;

interface Answer {
  status: number;
  body: { result?: unknown; error?: { code: string; message: string } };
  bytes: Buffer;
}

/** One API call; a server that does not answer within 10 s fails the test instead of hanging it. */
async function call(method: string, input: unknown, token: string | null = serve.token): Promise<Answer> {
  const response = await fetch(`${serve.url}/api/call/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
    body: JSON.stringify(input),
    signal: AbortSignal.timeout(10_000),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  const json = (response.headers.get('Content-Type') ?? '').startsWith('application/json');
  return { status: response.status, body: json ? JSON.parse(bytes.toString()) : {}, bytes };
}

async function expectAlive(): Promise<void> {
  expect(serve.child.exitCode).toBeNull();
  expect((await call('app.info', {})).status).toBe(200);
}

async function png(file: string, shade: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: 24, height: 16, channels: 3, background: { r: shade, g: 90, b: 40 } } })
    .png()
    .toFile(file);
}

/** A project made with the services directly (as `skp new` does), its images wherever `images` is. */
async function makeProject(file: string, images: string): Promise<void> {
  const services = createServices();
  await services.project.create({ path: file, images });
  await services.project.close();
  services.dispose();
}

function listing(folder: string): string[] {
  return fs.readdirSync(folder).sort();
}

beforeAll(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'skp-hardening-')));
  allowed = path.join(root, 'allowed');
  outside = path.join(root, 'outside');
  await png(path.join(allowed, 'images', 'a.png'), 10);
  await png(path.join(allowed, 'linked', 'c.png'), 30);
  await png(path.join(outside, 'photos', 'secret.png'), 200);
  await makeProject(path.join(allowed, 'inside.skp'), path.join(allowed, 'images'));
  await makeProject(path.join(allowed, 'linked.skp'), path.join(allowed, 'linked'));
  // As a COCO file with absolute file_names would leave it: the project inside, its images not.
  await makeProject(path.join(allowed, 'elsewhere.skp'), path.join(outside, 'photos'));
  const db = openProjectDatabase(path.join(allowed, 'inside.skp'));
  const runs = new RunStore(db);
  runs.chooseIndices(runs.createRun({ settings: { tokens: 10 } }).id, [1, 2]);
  db.close();
  serve = await startServe(['--allow', allowed], path.join(root, 'config'));
});

afterAll(async () => {
  await serve?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('no request ends the process', () => {
  it('answers paths that are not paths with 400 JSON, with or without the token', async () => {
    const targets = ['/%00', '/a%00b/c.js', '/%E0%A4%A', '/%', '/%C0%AE%C0%AE/x', '//[', '/api/call/%00'];
    for (const target of targets) {
      for (const auth of ['', `Authorization: Bearer ${serve.token}\r\n`]) {
        const method = target.startsWith('/api/') ? 'POST' : 'GET';
        const answer = await rawRequest(
          serve.port,
          `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Length: 0\r\nConnection: close\r\n\r\n`,
        );
        expect(answer, target).not.toBeNull();
        expect([400, 401, 404], target).toContain(answer!.status);
        expect(answer!.headers['content-type'], target).toMatch(/^application\/json/);
        expect(JSON.parse(answer!.body.toString()).error.code, target).toMatch(/bad-input|unauthorized|not-found/);
      }
    }
    const nul = await rawRequest(serve.port, 'GET /%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(nul!.status).toBe(400);
    await expectAlive();
  });

  it('answers a malformed request and a CONNECT with JSON', async () => {
    const malformed = await rawRequest(serve.port, 'GET /\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(malformed!.status).toBe(400);
    expect(JSON.parse(malformed!.body.toString()).error.code).toBe('bad-input');
    const connect = await rawRequest(serve.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(connect!.status).toBe(405);
    await expectAlive();
  });

  it('answers an oversized body with 413 JSON instead of a reset, then serves on', async () => {
    const body = Buffer.alloc(20 << 20, 0x20);
    const head = (extra: string) =>
      `POST /api/call/app.info HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${serve.token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n${extra}\r\n`;
    const sent = await rawRequest(serve.port, Buffer.concat([Buffer.from(head('')), body]), { timeoutMs: 30_000 });
    expect(sent!.status).toBe(413);
    expect(JSON.parse(sent!.body.toString()).error.message).toMatch(/over 1048576 bytes/);
    // A client that asks first is refused before it sends anything.
    const asked = await rawRequest(serve.port, head('Expect: 100-continue\r\n'));
    expect(asked!.status).toBe(413);
    await expectAlive();
  });

  it('closes an event socket that sends an oversized frame with 1009, and only that one', async () => {
    const open = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${serve.url.replace('http', 'ws')}/api/events`, [
          'skp-events',
          `token.${serve.token}`,
        ]);
        ws.once('message', () => resolve(ws));
        ws.once('error', reject);
      });
    const [big, bystander] = [await open(), await open()];
    const closed = new Promise<number | 'still open'>((resolve) => {
      big.once('close', (code) => resolve(code));
      setTimeout(() => resolve('still open'), 10_000);
    });
    big.send(Buffer.alloc(1 << 20));
    expect(await closed).toBe(1009);
    expect(bystander.readyState).toBe(WebSocket.OPEN);
    bystander.close();
    await expectAlive();
  });
});

describe('the allowed folders, by real path', () => {
  it('refuses creating a project through a link that leads outside, and writes nothing there', async () => {
    fs.symlinkSync(path.join(outside, 'dangling.skp'), path.join(allowed, 'dangling.skp'));
    fs.writeFileSync(path.join(outside, 'existing.skp'), '');
    fs.symlinkSync(path.join(outside, 'existing.skp'), path.join(allowed, 'existing.skp'));
    fs.symlinkSync(outside, path.join(allowed, 'out-folder'));
    fs.symlinkSync(path.join(outside, 'p.skp-wal'), path.join(allowed, 'p.skp-wal'));
    const before = listing(outside);
    for (const file of ['dangling.skp', 'existing.skp', 'out-folder/new.skp', 'p.skp']) {
      const created = await call('projects.create', { path: path.join(allowed, file) });
      expect(created.status, file).toBe(403);
      expect(created.body.error?.message, file).toMatch(/outside the folders you opened/);
    }
    const imported = await call('projects.import', {
      kind: 'coco',
      path: path.join(allowed, 'dangling.skp'),
      file: path.join(allowed, 'images', 'none.json'),
    });
    expect(imported.status).toBe(403);
    expect(listing(outside)).toEqual(before);
    expect(fs.statSync(path.join(outside, 'existing.skp')).size).toBe(0);
  });

  it('serves no image bytes from outside, and says the same whatever is there', async () => {
    expect((await call('projects.open', { path: path.join(allowed, 'elsewhere.skp') })).status).toBe(200);
    const list = await call('images.list', {});
    const [image] = (list.body.result as { items: { id: number }[] }).items;
    const secret = path.join(outside, 'photos', 'secret.png');
    const answers: Answer[] = [];
    const details: unknown[] = [];
    const ask = async () => {
      answers.push(await call('images.file', { id: image!.id }));
      details.push((await call('images.get', { id: image!.id })).body.result);
    };
    await ask();
    fs.rmSync(secret);
    await ask();
    fs.mkdirSync(secret);
    await ask();
    fs.rmdirSync(secret);
    fs.writeFileSync(secret, 'not an image');
    await ask();
    for (const answer of answers) {
      expect(answer.status).toBe(403);
      expect(answer.body.error?.message).toBe(answers[0]!.body.error?.message);
    }
    expect(answers[0]!.body.error?.message).toMatch(/outside the folders this server may read/);
    for (const detail of details) expect(detail).toMatchObject({ fileExists: false });
  });

  it('serves no image that a link inside an allowed folder leads outside', async () => {
    expect((await call('projects.open', { path: path.join(allowed, 'linked.skp') })).status).toBe(200);
    const [image] = ((await call('images.list', {})).body.result as { items: { id: number }[] }).items;
    const first = await call('images.file', { id: image!.id });
    expect(first.status).toBe(200);
    expect((await sharp(first.bytes).metadata()).format).toBe('png');
    const file = path.join(allowed, 'linked', 'c.png');
    fs.rmSync(file);
    await png(path.join(outside, 'photos', 'other.png'), 30);
    fs.symlinkSync(path.join(outside, 'photos', 'other.png'), file);
    const linked = await call('images.file', { id: image!.id });
    expect(linked.status).toBe(403);
  });
});

describe('names that are not regular files never freeze the server', () => {
  it('refuses FIFOs named like a model, a project, a dataset or an export at once', async () => {
    const fifo = (name: string) => {
      const file = path.join(allowed, 'fifos', name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      execFileSync('mkfifo', [file]);
      return file;
    };
    const requests: [string, unknown][] = [
      ['model.check', { path: fifo('x.safetensors') }],
      ['model.set', { path: path.join(allowed, 'fifos', 'x.safetensors') }],
      ['projects.open', { path: fifo('p.skp') }],
      ['projects.import', { kind: 'coco', path: path.join(allowed, 'fifos', 'new.skp'), file: fifo('c.json') }],
      ['files.list', { path: path.join(allowed, 'fifos', 'c.json') }],
      ['export.coco', { file: fifo('out.json') }],
      ['export.csv', { file: fifo('out.csv') }],
    ];
    for (const [method, input] of requests) {
      const answer = await call(method, input);
      expect(answer.status, method).toBe(400);
      expect(answer.body.error?.message, method).toMatch(/not a regular file|neither a file nor a folder|not a folder/);
    }
    // Inside a model folder the engine itself opens nothing but regular files.
    fs.mkdirSync(path.join(allowed, 'model', 'unet'), { recursive: true });
    fs.mkdirSync(path.join(allowed, 'model', 'vae'), { recursive: true });
    execFileSync('mkfifo', [path.join(allowed, 'model', 'unet', 'config.json')]);
    const folder = await call('model.check', { path: path.join(allowed, 'model') });
    expect(folder.status).toBe(200);
    expect(folder.body.result).toMatchObject({ ok: false });
    await expectAlive();
  });

  it('answers an image file replaced by a FIFO, a huge file or a damaged copy as no longer the image', async () => {
    expect((await call('projects.open', { path: path.join(allowed, 'inside.skp') })).status).toBe(200);
    const [image] = ((await call('images.list', {})).body.result as { items: { id: number }[] }).items;
    const file = path.join(allowed, 'images', 'a.png');
    fs.renameSync(file, file + '.kept');
    execFileSync('mkfifo', [file]);
    const answer = await call('images.file', { id: image!.id });
    expect(answer.status).toBe(404);
    expect(answer.body.error?.message).toMatch(/a\.png is not a regular file: no longer the image it was/);
    expect((await call('images.get', { id: image!.id })).body.result).toMatchObject({ fileExists: false });
    fs.rmSync(file);
    // Sparse: 600 MiB on paper, nothing on disk.
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 600 << 20);
    const huge = await call('images.file', { id: image!.id });
    expect(huge.status).toBe(404);
    expect(huge.body.error?.message).toMatch(/a\.png is 629145600 bytes, over 536870912/);
    // The header still reads as a PNG; the pixels end early. A thumbnail has to decode them.
    const kept = fs.readFileSync(file + '.kept');
    fs.writeFileSync(file, kept.subarray(0, kept.length - 30));
    const damaged = await call('images.file', { id: image!.id, maxSide: 8 });
    expect(damaged.status).toBe(404);
    expect(damaged.body.error?.message).toMatch(/a\.png is no longer a png image \(.+\); its keypoints are kept/);
    fs.rmSync(file);
    fs.renameSync(file + '.kept', file);
    expect((await call('images.file', { id: image!.id })).status).toBe(200);
  });

  it('refuses a FIFO in the model reader itself, without waiting for a writer', () => {
    const fifo = path.join(allowed, 'fifos', 'direct.safetensors');
    fs.mkdirSync(path.dirname(fifo), { recursive: true });
    execFileSync('mkfifo', [fifo]);
    // In a process of its own: a reader that blocks would freeze this test's process too.
    const script =
      "import('./native/weights/safetensors.ts').then(({ openSafetensors }) => {" +
      ' try { openSafetensors(process.argv[1]); } catch (e) { console.log(e.message); } })';
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script, fifo], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(out).toMatch(/direct\.safetensors: not a regular file/);
  });
});

describe('bad input is a 4xx that says what is wrong', () => {
  it('starts a fresh list of recent projects when the old one is damaged, keeping a copy and saying so once', async () => {
    const file = path.join(root, 'config', 'keypoint-workstation', 'recent-projects.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '[{"path": "/a", "name": ');
    const recent = await call('projects.recent', {});
    expect(recent.status).toBe(200);
    expect(recent.body.result).toEqual([]);
    const copies = fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith('recent-projects.json.damaged-'));
    expect(copies).toHaveLength(1);
    expect(fs.readFileSync(path.join(path.dirname(file), copies[0]!), 'utf8')).toBe('[{"path": "/a", "name": ');
    fs.writeFileSync(file, '{"not": "a list"}');
    expect((await call('projects.open', { path: path.join(allowed, 'inside.skp') })).status).toBe(200);
    expect((await call('projects.recent', {})).body.result).toMatchObject([{ path: path.join(allowed, 'inside.skp') }]);
    expect(serve.output().match(/recent projects .* was damaged/g)).toHaveLength(2);
  });

  it('says a file is not a folder when asked to list one', async () => {
    const answer = await call('files.list', { path: path.join(allowed, 'images', 'a.png') });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toMatch(/a\.png is not a folder/);
    const file = path.join(allowed, 'images', 'a.png');
    for (const [method, input] of [
      ['files.list', { path: path.join(file, 'sub') }],
      ['projects.create', { path: path.join(file, 'p.skp') }],
      ['export.coco', { file: path.join(file, 'out.json') }],
    ] as const) {
      const under = await call(method, input);
      expect(under.status, method).toBe(400);
      expect(under.body.error?.message, method).toMatch(/a part of this path is a file, not a folder/);
    }
  });

  it('checks part names at the edge with the service’s own rule', async () => {
    expect((await call('projects.open', { path: path.join(allowed, 'inside.skp') })).status).toBe(200);
    const [part] = (await call('parts.list', {})).body.result as { id: number }[];
    for (const name of ['\u0000\u202e', 'beak\u202egnp', 'tab\there', 'x'.repeat(101)]) {
      const answer = await call('parts.update', { id: part!.id, name });
      expect(answer.status, JSON.stringify(name)).toBe(400);
      expect(answer.body.error?.message).toMatch(/Bad input to parts\.update: name: /);
    }
    const trimmed = await call('parts.update', { id: part!.id, name: '  left eye  ' });
    expect(trimmed.body.result).toMatchObject({ name: 'left eye' });
    const longest = await call('parts.update', { id: part!.id, name: 'é'.repeat(100) });
    expect(longest.status).toBe(200);
    await expectAlive();
  });
});

describe('listening on every interface', () => {
  let open: ServeProcess;
  beforeAll(async () => {
    open = await startServe(['--host', '0.0.0.0', '--allow', allowed], path.join(root, 'config-open'));
  });
  afterAll(() => open?.stop());

  it('prints the addresses that reach it and says the traffic is unencrypted', () => {
    expect(open.output()).not.toMatch(/0\.0\.0\.0:\d/);
    expect(open.output()).toMatch(/NOT encrypted/);
    const printed = [...open.output().matchAll(/http:\/\/([^/:\s]+):\d+/g)].map((m) => m[1]);
    expect(printed).toContain('127.0.0.1');
  });

  it('keeps the Host check: its own names and addresses only', async () => {
    const status = async (host: string) =>
      (await rawRequest(open.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`))!.status;
    expect(await status('attacker.example')).toBe(421);
    expect(await status(`attacker.example:${open.port}`)).toBe(421);
    const own = [os.hostname(), 'localhost', ...[...open.output().matchAll(/http:\/\/([^/\s]+)/g)].map((m) => m[1]!)];
    for (const host of own) expect(await status(host), host).not.toBe(421);
  });
});
