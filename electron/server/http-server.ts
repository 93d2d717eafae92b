// `skp serve`'s transport: the typed API as POST /api/call/<method>, pushed events over the
// WebSocket /api/events, and the built UI as static files. Every /api/ request needs the access token.
// No request may end the process (it may be training): each one runs inside an error boundary that
// answers 500 JSON, and every path, header and body is checked before it reaches fs or URL parsing.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiEvent } from '../api/contract.js';
import { uiSecurityHeaders } from '../api/content-security-policy.js';
import type { Dispatch } from '../api/dispatcher.js';
import { ApiError, httpStatusOf, type ApiErrorCode } from '../api/errors.js';
import type { EventHub } from '../api/events.js';
import type { ImageFile } from '../api/types.js';
import { answeredHostNames, hostForUrl, hostOfHeader, reachingAddresses } from './addresses.js';
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
  /** Where failures that are bugs are reported (the log); console.error by default. */
  logError?: (error: unknown) => void;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:4173 */
  url: string;
  /** Every base URL that reaches the server (several when it listens on all interfaces). */
  urls: string[];
  /** What to open in a browser: the URL with the token in its fragment (never sent to the server). */
  openUrl: string;
  close(): Promise<void>;
}

export const maxBodyBytes = 1 << 20;
/** An oversized body is read on and dropped up to this much, so the client gets the 413 before the
 * connection closes; closing on unread bytes would reset it and lose the answer. */
const maxDrainBytes = 64 << 20;
const maxDrainMs = 10_000;
/** The event socket only sends; anything a client sends is a few bytes at most. */
export const maxFrameBytes = 64 << 10;

class BodyTooLarge extends Error {
  constructor() {
    super(`The request body is over ${maxBodyBytes} bytes.`);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, error: ApiError): void {
  sendJson(res, httpStatusOf[error.code], { error: error.toBody() });
}

function sendTooLarge(res: http.ServerResponse, error: BodyTooLarge): void {
  sendJson(res, 413, { error: { code: 'bad-input', message: error.message } }, { Connection: 'close' });
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

function declaredLength(req: http.IncomingMessage): number {
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) ? length : 0;
}

/** The JSON body, at most maxBodyBytes of it; a longer one is drained and refused with BodyTooLarge. */
function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (declaredLength(req) > maxBodyBytes + maxDrainBytes) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    let drainTimer: NodeJS.Timeout | undefined;
    const tooLarge = () => {
      clearTimeout(drainTimer);
      reject(new BodyTooLarge());
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
      else if (drainTimer === undefined) {
        chunks.length = 0;
        drainTimer = setTimeout(tooLarge, maxDrainMs);
      }
      if (size > maxBodyBytes + maxDrainBytes) tooLarge();
    });
    req.on('end', () => {
      if (size > maxBodyBytes) return tooLarge();
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ApiError('bad-input', 'Request body is not valid JSON.'));
      }
    });
    req.on('error', (error) => {
      clearTimeout(drainTimer);
      reject(error);
    });
  });
}

/** The path of a request target; ApiError when the target is not a URL path. */
function pathnameOf(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'http://server').pathname;
  } catch {
    throw new ApiError('bad-input', 'The request target is not a URL path.');
  }
}

/** A whole HTTP response with a JSON error, for sockets that no http.ServerResponse owns. */
function rawJsonResponse(status: number, code: ApiErrorCode, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** A malformed request never reached a handler: answer it in JSON too, unless a response is under way. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // Node's own handler checks the same: raw bytes written during a response would corrupt it.
  const responding = (socket as { _httpMessage?: unknown })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || responding) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  socket.end(rawJsonResponse(status, 'bad-input', `Malformed HTTP request (${error.code}).`));
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { token, dispatch, events, serverId } = options;
  const logError = options.logError ?? ((error: unknown) => console.error(error));
  const hostNames = answeredHostNames(options.host);

  // A page on another site could point a DNS name at this machine; refusing foreign Host headers
  // stops it from reading even the static UI through this server.
  function hostAllowed(req: http.IncomingMessage): boolean {
    const host = hostOfHeader(req.headers.host);
    return host !== null && hostNames.has(host);
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

  async function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!hostAllowed(req)) {
      sendJson(res, 421, { error: { code: 'forbidden', message: 'Unexpected Host header.' } });
      return;
    }
    const pathname = pathnameOf(req.url);
    if (pathname === '/api' || pathname.startsWith('/api/')) return handleApi(req, res, pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'bad-input', message: 'Only GET here.' } });
      return;
    }
    if (!(await sendStaticFile(options.uiFolder, pathname, res, uiSecurityHeaders))) {
      sendJson(res, 404, { error: { code: 'not-found', message: `No file at ${pathname}.` } });
    }
  }

  /** The last resort: whatever a request did, it gets an answer and the process carries on. */
  function answerFailure(res: http.ServerResponse, error: unknown): void {
    if (res.headersSent) {
      // Mid-response (e.g. the client went away while a file streamed): nothing more can be said.
      res.destroy();
      return;
    }
    if (error instanceof BodyTooLarge) return sendTooLarge(res, error);
    if (error instanceof ApiError) return sendError(res, error);
    logError(error);
    sendError(res, new ApiError('internal', 'Internal error (details are in the server log).'));
  }

  function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    handleRequest(req, res).catch((error: unknown) => {
      try {
        answerFailure(res, error);
      } catch (failure) {
        logError(failure);
        res.destroy();
      }
    });
  }

  const server = http.createServer(serve);
  server.on('clientError', answerClientError);
  // curl and others ask before sending a large body: refuse an oversized one before it is sent.
  server.on('checkContinue', (req, res) => {
    if (declaredLength(req) > maxBodyBytes) return sendTooLarge(res, new BodyTooLarge());
    res.writeContinue();
    serve(req, res);
  });

  // CONNECT asks this server to be a proxy, which it is not; unanswered, Node would just hang up.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawJsonResponse(405, 'bad-input', 'This server is not a proxy.'));
  });

  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    handleProtocols: (protocols) => (protocols.has(eventsProtocol) ? eventsProtocol : false),
  });

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, code: ApiErrorCode, message: string) => {
      if (!socket.destroyed) socket.end(rawJsonResponse(status, code, message));
    };
    if (!hostAllowed(req)) return refuse(421, 'forbidden', 'Unexpected Host header.');
    if (!tokenMatches(token, tokenFromProtocols(req.headers['sec-websocket-protocol']))) {
      return refuse(401, 'unauthorized', 'The event socket needs the access token (as the subprotocol token.<token>).');
    }
    let pathname: string;
    try {
      pathname = pathnameOf(req.url);
    } catch {
      return refuse(400, 'bad-input', 'The request target is not a URL path.');
    }
    if (pathname !== '/api/events') return refuse(404, 'not-found', `No event socket at ${pathname}.`);
    sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    // A reset during the handshake is the client's business, not a reason to stop.
    socket.on('error', () => socket.destroy());
    try {
      upgrade(req, socket, head);
    } catch (error) {
      logError(error);
      socket.destroy();
    }
  });

  sockets.on('connection', (ws: WebSocket) => {
    const send = (event: ApiEvent): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
    };
    send({ event: 'hello', data: { serverId } });
    const unsubscribe = events.subscribe(send);
    ws.on('close', unsubscribe);
    // An oversized frame lands here; ws has already closed that socket with 1009.
    ws.on('error', unsubscribe);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  // Later server errors (e.g. out of file descriptors on accept) are logged; the server goes on.
  server.on('error', logError);
  const { port } = server.address() as AddressInfo;
  const urls = reachingAddresses(options.host).map((address) => `http://${hostForUrl(address)}:${port}`);
  const url = urls[0] ?? `http://${hostForUrl(options.host)}:${port}`;

  return {
    url,
    urls,
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
