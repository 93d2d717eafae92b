// How `skp serve` answers: JSON for every error, on a response or straight on a socket that no
// response owns (malformed requests, CONNECT, refused WebSocket upgrades).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, httpStatusOf, type ApiErrorCode } from '../common/api/errors.js';
import type { ImageFile } from '../common/api/types.js';
import { maxDrainBytes, maxDrainMs } from './requestBody.js';

/** A refusal whose HTTP status is not the usual one of its code (421, 405, 413, 417). */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
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

export function sendError(res: http.ServerResponse, error: ApiError | Refusal): void {
  if (error instanceof ApiError) return sendJson(res, httpStatusOf[error.code], { error: error.toBody() });
  // Whatever is left of a refused request is not read: the connection cannot carry another one.
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, { Connection: 'close' });
}

export function sendFile(res: http.ServerResponse, file: ImageFile): void {
  res.writeHead(200, {
    'Content-Type': file.mime,
    'Content-Length': String(file.bytes.byteLength),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(file.bytes);
}

/**
 * Answers on a bare socket and closes it, reading and dropping what the client still sends for a
 * while: closing on unread bytes makes the kernel reset the connection, which loses the answer.
 */
export function answerAndClose(socket: Duplex, status: number, code: ApiErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  // Nothing after this is a request: the HTTP parser lets go of the socket.
  socket.removeAllListeners('data');
  let dropped = 0;
  const timer = setTimeout(() => socket.destroy(), maxDrainMs);
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxDrainBytes) socket.destroy();
  });
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
