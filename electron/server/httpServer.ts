// `skp serve`'s transport: the typed API as POST /api/call/<method>, pushed events over the
// WebSocket /api/events, and the built UI as static files. Every /api/ request needs the access token.
// No request may end the process (it may be training): each one runs inside an error boundary that
// answers 500 JSON, every path, header and body is checked before it reaches fs or URL parsing, and
// every refusal is JSON, sent only once the client has stopped sending (see requestBody.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiEvent } from '../common/api/contract.js';
import { uiSecurityHeaders } from '../transport/contentSecurityPolicy.js';
import type { Dispatch } from '../transport/dispatcher.js';
import { ApiError } from '../common/api/errors.js';
import type { EventHub } from '../transport/events.js';
import type { ImageFile } from '../common/api/types.js';
import { answeredHostNames, hostForUrl, hostOfHeader, reachingAddresses } from './addresses.js';
import { answerAndClose, Refusal, sendError, sendFile, sendJson } from './answers.js';
import { BodyTooLarge, declaredLength, discardBody, maxBodyBytes, readBody } from './requestBody.js';
import { sendStaticFile } from './staticFiles.js';
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

const wrongHost = 'Unexpected Host header: open the server at one of the addresses `skp serve` printed.';

/** The event socket only sends; anything a client sends is a few bytes at most. */
const maxFrameBytes = 64 << 10;

/** The path of a request target; ApiError when the target is not a URL path. */
function pathnameOf(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'http://server').pathname;
  } catch {
    throw new ApiError('bad-input', 'The request target is not a URL path.');
  }
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
  answerAndClose(socket, status, 'bad-input', `Malformed HTTP request (${error.code}).`);
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
    if (!hostAllowed(req)) throw new Refusal(421, 'forbidden', wrongHost);
    const pathname = pathnameOf(req.url);
    if (pathname === '/api' || pathname.startsWith('/api/')) return handleApi(req, res, pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refusal(405, 'bad-input', 'Only GET here.');
    await discardBody(req);
    if (!(await sendStaticFile(options.uiFolder, pathname, res, uiSecurityHeaders))) {
      throw new ApiError('not-found', `No file at ${pathname}.`);
    }
  }

  /** The last resort: whatever a request did, it gets an answer and the process carries on. */
  async function answerFailure(req: http.IncomingMessage, res: http.ServerResponse, error: unknown): Promise<void> {
    if (res.headersSent) {
      // Mid-response (e.g. the client went away while a file streamed): nothing more can be said.
      res.destroy();
      return;
    }
    await discardBody(req);
    if (error instanceof BodyTooLarge) return sendError(res, new Refusal(413, 'bad-input', error.message));
    if (error instanceof ApiError || error instanceof Refusal) return sendError(res, error);
    logError(error);
    sendError(res, new ApiError('internal', 'Internal error (details are in the server log).'));
  }

  function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    handleRequest(req, res)
      .catch((error: unknown) => answerFailure(req, res, error))
      .catch((failure: unknown) => {
        logError(failure);
        res.destroy();
      });
  }

  // A missing Host header is refused by the Host check, in JSON, rather than by Node with an empty 400.
  const server = http.createServer({ requireHostHeader: false }, serve);
  server.on('clientError', answerClientError);
  // curl and others ask before sending a large body: refuse an oversized one before it is sent.
  server.on('checkContinue', (req, res) => {
    if (declaredLength(req) > maxBodyBytes)
      return sendError(res, new Refusal(413, 'bad-input', new BodyTooLarge().message));
    res.writeContinue();
    serve(req, res);
  });
  server.on('checkExpectation', (req, res) => {
    const message = `Cannot meet "Expect: ${req.headers.expect}"; only 100-continue is known.`;
    answerFailure(req, res, new Refusal(417, 'bad-input', message)).catch(() => res.destroy());
  });
  // CONNECT asks this server to be a proxy, which it is not; unanswered, Node would just hang up.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    answerAndClose(socket, 405, 'bad-input', 'This server is not a proxy.');
  });

  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    handleProtocols: (protocols) => (protocols.has(eventsProtocol) ? eventsProtocol : false),
  });

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!hostAllowed(req)) return answerAndClose(socket, 421, 'forbidden', wrongHost);
    if (!tokenMatches(token, tokenFromProtocols(req.headers['sec-websocket-protocol']))) {
      const message = 'The event socket needs the access token (as the subprotocol token.<token>).';
      return answerAndClose(socket, 401, 'unauthorized', message);
    }
    let pathname: string;
    try {
      pathname = pathnameOf(req.url);
    } catch {
      return answerAndClose(socket, 400, 'bad-input', 'The request target is not a URL path.');
    }
    if (pathname !== '/api/events') return answerAndClose(socket, 404, 'not-found', `No event socket at ${pathname}.`);
    sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
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
