// A few hundred random requests against a real `skp serve`: random methods, paths, percent-encodings,
// headers and bodies, with and without the access token. The process must stay up, its memory
// bounded, and every request must get a well-formed HTTP answer (JSON for /api/ and for every
// error). Seeded: SKP_FUZZ_SEED=<n> replays a failing run exactly; SKP_FUZZ_REQUESTS=<n> digs deeper.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { methods } from '../../../electron/common/api/contract.js';
import { openProjectDatabase } from '../../../electron/db/database.js';
import { RunStore } from '../../../electron/db/runStore.js';
import { createServices } from '../../../electron/services/container.js';
import { rawRequest, startServe, type RawResponse, type ServeProcess } from '../../support/serveProcess.js';

const seed = Number(process.env.SKP_FUZZ_SEED ?? 20261129);
const requestCount = Number(process.env.SKP_FUZZ_REQUESTS ?? 400);
const parallel = 4;
const maxRssGrowth = 256 << 20;

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Fuzzed {
  bytes: Buffer;
  target: string;
  head: boolean;
}

function requestMaker(random: () => number, serve: ServeProcess, allowed: string) {
  const chance = (p: number) => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (max: number) => Math.floor(random() * max);
  const methodNames = Object.keys(methods);

  const segments = [
    'api',
    'call',
    'events',
    'index.html',
    'assets',
    '..',
    '.',
    '%2e%2e',
    '%2E%2e%2f',
    '%2f',
    '%5c',
    '%00',
    'a%00b',
    '%',
    '%z',
    '%zz',
    '%C0%AE',
    '%E0%A4%A',
    '%FF%FE',
    '%F0%9F%90%A6',
    'é',
    '\u202e',
    '~',
    '*',
    ';x=1',
    'con',
    'x'.repeat(300),
    '%25',
    '%%',
    'app.info',
    'images.file',
    '__proto__',
    'constructor',
    '%u0041',
  ];
  const strings = [
    '',
    ' ',
    '/',
    '/etc/passwd',
    '../../../../etc/passwd',
    allowed,
    `${allowed}/..`,
    `${allowed}/nope.skp`,
    `${allowed}/p.skp`,
    `${allowed}/images`,
    `${allowed}/images/a.png`,
    `${allowed}/fifo.safetensors`,
    `${allowed}/out-link`,
    `${allowed}/out-link/p.skp`,
    `${allowed}/out-link/secret.png`,
    `${allowed}/dangling.skp`,
    `${allowed}/images/a.png/sub`,
    `${allowed}/new.skp`,
    `${allowed}/export.json`,
    `${allowed}/coco.json`,
    'a\u0000b',
    '\u0000\u202e',
    '\u202egnp.exe',
    'x'.repeat(5000),
    '%00',
    'C:\\Windows',
    '~',
    'é名',
    '#ff00ff',
    'coco',
    'cub',
    'train',
    'path',
    'min-score',
  ];
  const keys = [
    'path',
    'id',
    'imageId',
    'partId',
    'points',
    'name',
    'kind',
    'file',
    'folder',
    'maxSide',
    'offset',
    'limit',
    'settings',
    'runId',
    'jobId',
    'edges',
    'ids',
    'readOnly',
    'imagesRoot',
    'colour',
    'hidden',
    'x',
    'y',
    'visibility',
    'sort',
    'split',
    '__proto__',
    'constructor',
    'title',
  ];

  function value(depth: number): unknown {
    const roll = random();
    if (roll < 0.3) return pick(strings);
    if (roll < 0.55) return pick([0, 1, 2, -1, 0.5, 1e308, -1e308, 2 ** 53, 4096, 9007199254740993, 1e-320]);
    if (roll < 0.62) return pick([true, false, null]);
    if (depth > 2) return pick(strings);
    if (roll < 0.8) return Array.from({ length: int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(keys), value(depth + 1)]));
  }

  function body(): Buffer {
    const roll = random();
    if (roll < 0.45) return Buffer.from(JSON.stringify(value(0)));
    if (roll < 0.55) return Buffer.alloc(0);
    if (roll < 0.65) return Buffer.from(pick(['{', '{"path":', 'null', '[]', '"x"', '{"a":1}}', '\u0000', 'NaN']));
    if (roll < 0.75) return Buffer.from(Array.from({ length: int(2000) }, () => int(256)));
    if (roll < 0.82) return Buffer.from('['.repeat(20000) + ']'.repeat(20000));
    if (roll < 0.87) return Buffer.alloc((1 << 20) + int(1 << 20), 0x61);
    return Buffer.from(JSON.stringify({ path: pick(strings), id: int(5), name: pick(strings) }));
  }

  function encoded(): string {
    return Array.from({ length: 1 + int(6) }, () =>
      chance(0.7) ? `%${int(256).toString(16).padStart(2, '0')}` : String.fromCharCode(33 + int(94)),
    )
      .join('')
      .replace(/[#?\s]/g, '');
  }

  function target(): string {
    const roll = random();
    if (roll < 0.35) return `/api/call/${chance(0.85) ? pick(methodNames) : encoded()}${chance(0.1) ? encoded() : ''}`;
    if (roll < 0.45) return '/api/events' + (chance(0.3) ? `?${encoded()}` : '');
    if (roll < 0.8) {
      const path = '/' + Array.from({ length: int(5) }, () => (chance(0.3) ? encoded() : pick(segments))).join('/');
      return path + (chance(0.15) ? `?${encoded()}` : '');
    }
    if (roll < 0.85) return pick(['*', 'http://127.0.0.1/api/call/app.info', '//', '//[', '/\\..\\..', '/%2F%2F']);
    if (roll < 0.9) return '/' + String.fromCharCode(pick([1, 9, 11, 127, 0xe9]));
    return '/' + encoded();
  }

  const headerNames = [
    'Accept',
    'Origin',
    'Referer',
    'Cookie',
    'Range',
    'If-None-Match',
    'Content-Type',
    'Upgrade',
    'Connection',
    'Expect',
    'Sec-WebSocket-Protocol',
    'Sec-WebSocket-Version',
    'Sec-WebSocket-Key',
    'X-Forwarded-For',
    'X-Forwarded-Host',
    'Accept-Encoding',
    'Bad Header',
    'Ünicode',
    'X-Null',
  ];
  const headerValues = [
    'websocket',
    'Upgrade',
    'close',
    'keep-alive',
    '100-continue',
    '13',
    'dGhlIHNhbXBsZSBub25jZQ==',
    'skp-events',
    `skp-events, token.${serve.token}`,
    'token.x',
    'application/json',
    'text/plain',
    'bytes=0-1',
    'gzip',
    '*/*',
    'attacker.example',
    '\u00e9',
    'x'.repeat(9000),
    '',
  ];

  const id = () => pick([0, 1, 2, 3, -1, 2 ** 31, 1.5]);
  const text = () => pick(strings);
  const maybe = <T>(make: () => T): T | undefined => (chance(0.5) ? make() : undefined);
  /** Inputs of the contract's shape with hostile values: what gets past the schema to the handlers. */
  const shaped: Record<string, () => unknown> = {
    'files.list': () => ({ path: maybe(text) }),
    'projects.create': () => ({ path: text(), images: maybe(text), name: maybe(text) }),
    'projects.open': () => ({ path: text(), readOnly: maybe(() => chance(0.5)) }),
    'projects.import': () =>
      chance(0.5)
        ? { kind: 'coco', path: text(), file: text(), imagesRoot: maybe(text) }
        : { kind: 'cub', path: text(), folder: text() },
    'model.check': () => ({ path: text() }),
    'images.list': () => ({ offset: maybe(id), limit: maybe(() => pick([1, 1000, 1001])), sort: maybe(text) }),
    'images.get': () => ({ id: id() }),
    'images.file': () => ({ id: id(), maxSide: maybe(() => pick([1, 8, 8192, 9000])) }),
    'keypoints.correct': () => ({
      imageId: id(),
      points: [{ partId: id(), x: value(2), y: pick([0, 5, 1e308, -1]), visibility: pick([0, 1, 2, 3]) }],
    }),
    'keypoints.uncorrect': () => ({ imageId: id(), partIds: [id()] }),
    'parts.update': () => ({ id: id(), name: maybe(text), colour: maybe(() => pick(['#ff00ff', '#FFF', 'red'])) }),
    'parts.reorder': () => ({ ids: [id(), id()] }),
    'skeleton.set': () => ({ edges: [{ from: id(), to: id() }] }),
    'export.coco': () => ({ file: text(), onlyCorrected: maybe(() => chance(0.5)) }),
    'export.csv': () => ({ file: text(), groundTruth: maybe(() => chance(0.5)) }),
    'attention.map': () => ({ imageId: id(), partId: id() }),
    'jobs.cancel': () => ({ jobId: text() }),
  };

  /** A well-formed call with hostile input, to reach the handlers rather than stop at the transport. */
  function apiCall(): Fuzzed {
    const method = chance(0.7) ? pick(Object.keys(shaped)) : pick(methodNames);
    const requestTarget = `/api/call/${method}`;
    const input = shaped[method] && chance(0.9) ? shaped[method]() : value(0);
    const payload = Buffer.from(JSON.stringify(input));
    const head =
      `POST ${requestTarget} HTTP/1.1\r\nHost: 127.0.0.1:${serve.port}\r\nAuthorization: Bearer ${serve.token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`;
    return { bytes: Buffer.concat([Buffer.from(head), payload]), target: requestTarget, head: false };
  }

  return (): Fuzzed => {
    if (chance(0.3)) return apiCall();
    const head = chance(0.05);
    const method = head
      ? 'HEAD'
      : pick([
          'POST',
          'POST',
          'POST',
          'GET',
          'GET',
          'PUT',
          'DELETE',
          'OPTIONS',
          'PATCH',
          'TRACE',
          'CONNECT',
          'FOO',
          'get',
        ]);
    const requestTarget = target();
    const lines = [
      `${method} ${requestTarget} ${chance(0.97) ? 'HTTP/1.1' : pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9'])}`,
    ];
    const host = random();
    if (host < 0.8) lines.push(`Host: 127.0.0.1:${serve.port}`);
    else if (host < 0.9)
      lines.push(`Host: ${pick(['localhost', 'attacker.example', '[::1]', '', '127.0.0.1:x', 'a b'])}`);
    const auth = random();
    if (auth < 0.55) lines.push(`Authorization: Bearer ${serve.token}`);
    else if (auth < 0.75)
      lines.push(`Authorization: ${pick(['Bearer', 'Bearer x', `Basic ${serve.token}`, `Bearer ${serve.token}x`])}`);
    for (let i = int(4); i > 0; i--) lines.push(`${pick(headerNames)}: ${pick(headerValues)}`);
    const payload = method === 'GET' || head ? (chance(0.1) ? body() : Buffer.alloc(0)) : body();
    const framing = random();
    let bodyBytes = payload;
    if (framing < 0.85) lines.push(`Content-Length: ${payload.length}`);
    else if (framing < 0.95) {
      lines.push('Transfer-Encoding: chunked');
      const size = payload.length.toString(16);
      bodyBytes = Buffer.concat([
        Buffer.from(`${size}\r\n`),
        payload,
        Buffer.from(payload.length ? '\r\n0\r\n\r\n' : '\r\n'),
      ]);
    } else {
      // Both framings at once: the request smuggling shape, refused by the parser.
      lines.push(`Content-Length: ${payload.length}`, 'Transfer-Encoding: chunked');
    }
    lines.push('Connection: close');
    return {
      bytes: Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), bodyBytes]),
      target: requestTarget,
      head,
    };
  };
}

/** What is wrong with an answer, or null when it is a well-formed answer of this server. */
function problemOf(request: Fuzzed, answer: RawResponse | null): string | null {
  if (answer === null) return 'the connection closed without an answer';
  if (answer.status >= 500) return `status ${answer.status}: ${answer.body.toString().slice(0, 300)}`;
  if (answer.status === 101 || request.head) return null;
  const type = answer.headers['content-type'] ?? '';
  const isApi = /^\/api(\/|$|\?)/.test(request.target);
  if (answer.status === 200 && (!isApi || type.startsWith('image/'))) return null;
  if (!type.startsWith('application/json')) return `status ${answer.status} with Content-Type "${type}"`;
  let parsed: { result?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    parsed = JSON.parse(answer.body.toString());
  } catch {
    return `status ${answer.status} with a body that is not JSON: ${answer.body.toString().slice(0, 200)}`;
  }
  if (answer.status === 200) return 'result' in parsed ? null : 'a 200 without a result';
  const error = parsed.error;
  return typeof error?.code === 'string' && typeof error.message === 'string'
    ? null
    : 'an error without code and message';
}

let root: string;
let outside: string;
let serve: ServeProcess;

beforeAll(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'skp-fuzz-')));
  outside = path.join(root, 'outside');
  const allowed = path.join(root, 'allowed');
  fs.mkdirSync(path.join(allowed, 'images'), { recursive: true });
  for (const [i, name] of ['a.png', 'b.png'].entries()) {
    await sharp({ create: { width: 20 + i, height: 12, channels: 3, background: { r: 80 * i, g: 20, b: 20 } } })
      .png()
      .toFile(path.join(allowed, 'images', name));
  }
  const services = createServices();
  await services.project.create({ path: path.join(allowed, 'p.skp'), images: path.join(allowed, 'images') });
  await services.project.close();
  services.dispose();
  const db = openProjectDatabase(path.join(allowed, 'p.skp'));
  const runs = new RunStore(db);
  runs.chooseIndices(runs.createRun({ settings: { tokens: 10 } }).id, [1, 2, 3]);
  db.close();
  // What the sandbox must hold against: a link out, a dangling link out, a FIFO named like a model.
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.png'), 'not for the browser');
  fs.symlinkSync(outside, path.join(allowed, 'out-link'));
  fs.symlinkSync(path.join(outside, 'made.skp'), path.join(allowed, 'dangling.skp'));
  execFileSync('mkfifo', [path.join(allowed, 'fifo.safetensors')]);
  serve = await startServe(['--allow', allowed, '--open', path.join(allowed, 'p.skp')], path.join(root, 'config'));
});

afterAll(async () => {
  await serve?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

it(`stays up, bounded and well-formed through ${requestCount} random requests (seed ${seed})`, async () => {
  const next = requestMaker(prng(seed), serve, path.join(root, 'allowed'));
  const requests = Array.from({ length: requestCount }, next);
  const rssBefore = serve.rss();
  const problems: string[] = [];
  let handled = 0;
  const statuses = new Map<string, number>();
  let cursor = 0;
  const worker = async () => {
    while (cursor < requests.length) {
      const n = cursor++;
      const request = requests[n] as Fuzzed;
      const problem = await rawRequest(serve.port, request.bytes, { head: request.head, timeoutMs: 15_000 })
        .then((answer) => {
          const status = String(answer?.status ?? 'none');
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          return problemOf(request, answer);
        })
        .catch((error: Error) => error.message);
      if (problem === null) handled++;
      else problems.push(`#${n} ${JSON.stringify(request.bytes.subarray(0, 300).toString('latin1'))}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const rssGrowth = serve.rss() - rssBefore;

  console.log(
    `fuzz seed ${seed}: ${requestCount} requests, ${handled} answered well, ${problems.length} not; ` +
      `RSS grew ${(rssGrowth / 2 ** 20).toFixed(0)} MiB; statuses ` +
      [...statuses]
        .sort()
        .map(([status, count]) => `${status}×${count}`)
        .join(' '),
  );
  expect(problems, `replay with SKP_FUZZ_SEED=${seed}`).toEqual([]);
  expect(fs.readdirSync(outside)).toEqual(['secret.png']);
  expect(serve.child.exitCode).toBeNull();
  expect(rssGrowth).toBeLessThan(maxRssGrowth);
  const info = await fetch(`${serve.url}/api/call/app.info`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${serve.token}` },
  });
  expect(info.status).toBe(200);
});
