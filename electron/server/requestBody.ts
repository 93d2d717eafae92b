// Request bodies: at most maxBodyBytes of JSON is read; anything else a client sends is read and
// dropped before the answer, within bounds, since closing a connection on unread bytes resets it
// and the client never sees the answer (it would see "connection reset" instead of a 413).
import type http from 'node:http';
import { ApiError } from '../common/api/errors.js';

export const maxBodyBytes = 1 << 20;
/** How much of a body that will not be used is read and dropped before answering, and for how long. */
export const maxDrainBytes = 64 << 20;
export const maxDrainMs = 10_000;

export class BodyTooLarge extends Error {
  constructor() {
    super(`The request body is over ${maxBodyBytes} bytes.`);
    this.name = 'BodyTooLarge';
  }
}

export function declaredLength(req: http.IncomingMessage): number {
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) ? length : 0;
}

/** The JSON body ({} when empty); BodyTooLarge as soon as it passes maxBodyBytes. */
export function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (declaredLength(req) > maxBodyBytes) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size > maxBodyBytes) {
        req.off('data', onData);
        reject(new BodyTooLarge());
      }
    };
    req.on('data', onData);
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

/** Reads and drops the rest of the body: resolves when it has ended, or when the bounds are passed. */
export function discardBody(req: http.IncomingMessage): Promise<void> {
  if (req.complete) return Promise.resolve();
  return new Promise((resolve) => {
    let dropped = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > maxDrainBytes) done();
    };
    const timer = setTimeout(done, maxDrainMs);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}
