// `skp serve`'s transport: the typed API as POST /api/call/<method>, pushed events over the
// WebSocket /api/events, and the built UI as static files. Every /api/ request needs the access token.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiEvent } from '../api/contract.js';
import { uiSecurityHeaders } from '../api/content-security-policy.js';
import type { Dispatch } from '../api/dispatcher.js';
import { ApiError, httpStatusOf } from '../api/errors.js';
import type { EventHub } from '../api/events.js';
import type { ImageFile } from '../api/types.js';
import { sendStaticFile } from './static-files.js';
import { bearerToken, eventsProtocol, tokenFromProtocols, tokenMatches } from './token.js';

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  serverId: string;
  dispatch: Dispatch;
  events: EventHub;
  /** The built UI (dist/renderer). */
  uiFolder: string;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:4173 */
  url: string;
  /** What to open in a browser: the URL with the token in its fragment (never sent to the server). */
  openUrl: string;
  close(): Promise<void>;
}

const maxBodyBytes = 1 << 20;
const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, error: ApiError): void {
  sendJson(res, httpStatusOf[error.code], { error: error.toBody() });
}

function sendFile(res: http.ServerResponse, file: ImageFile): void {
  res.writeHead(200, {
    'Content-Type': file.mime,
    'Content-Length': String(file.bytes.byteLength),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(file.bytes);
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new ApiError('bad-input', `Request body over ${maxBodyBytes} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ApiError('bad-input', 'Request body is not valid JSON.'));
      }
    });
    req.on('error', reject);
  });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { token, dispatch, events, serverId } = options;
  const loopbackOnly = loopbackHosts.has(options.host);

  // A page on another site could point a DNS name at 127.0.0.1; refusing foreign Host headers stops
  // it from reading even the static UI through this server.
  function hostAllowed(req: http.IncomingMessage): boolean {
    if (!loopbackOnly) return true;
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    return loopbackHosts.has(host);
  }

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    if (!tokenMatches(token, bearerToken(req.headers.authorization))) {
      throw new ApiError('unauthorized', 'This server needs its access token (printed by `skp serve` at start).');
    }
    const call = /^\/api\/call\/([\w.-]+)$/.exec(pathname);
    if (!call?.[1]) throw new ApiError('not-found', `No API endpoint at ${pathname}.`);
    if (req.method !== 'POST') throw new ApiError('bad-input', `${pathname} takes POST.`);
    const result = await dispatch(call[1], await readBody(req));
    if (result.kind === 'bytes') sendFile(res, result.value as ImageFile);
    else sendJson(res, 200, { result: result.value ?? null });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://server');
    if (!hostAllowed(req)) {
      sendJson(res, 421, { error: { code: 'forbidden', message: 'Unexpected Host header.' } });
      return;
    }
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      handleApi(req, res, url.pathname).catch((error: unknown) => {
        if (error instanceof ApiError) sendError(res, error);
        else {
          console.error(error);
          sendError(res, new ApiError('internal', 'Internal error.'));
        }
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'bad-input', message: 'Only GET here.' } });
      return;
    }
    if (!sendStaticFile(options.uiFolder, url.pathname, res, uiSecurityHeaders)) {
      sendJson(res, 404, { error: { code: 'not-found', message: `No file at ${url.pathname}.` } });
    }
  });

  const sockets = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has(eventsProtocol) ? eventsProtocol : false),
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://server');
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!hostAllowed(req)) return refuse('421 Misdirected Request');
    if (!tokenMatches(token, tokenFromProtocols(req.headers['sec-websocket-protocol']))) {
      return refuse('401 Unauthorized');
    }
    if (url.pathname !== '/api/events') return refuse('404 Not Found');
    sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
  });

  sockets.on('connection', (ws: WebSocket) => {
    const send = (event: ApiEvent): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
    };
    send({ event: 'hello', data: { serverId } });
    const unsubscribe = events.subscribe(send);
    ws.on('close', unsubscribe);
    ws.on('error', unsubscribe);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${hostInUrl}:${port}`;

  return {
    url,
    openUrl: `${url}/#token=${token}`,
    close: () =>
      new Promise((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
