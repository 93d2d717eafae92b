// The access token of `skp serve`: random per start (unless the user passes one), compared in
// constant time so its bytes cannot be guessed one by one from response times.
import crypto from 'node:crypto';

export function newAccessToken(): string {
  return crypto.randomBytes(24).toString('base64url');
}

export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Token from `Authorization: Bearer <token>`. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1];
}

/** Browsers cannot set headers on a WebSocket, so the token travels as a subprotocol `token.<token>`. */
export const tokenProtocolPrefix = 'token.';
export const eventsProtocol = 'skp-events';

export function tokenFromProtocols(header: string | undefined): string | undefined {
  const protocols = (header ?? '').split(',').map((p) => p.trim());
  const entry = protocols.find((p) => p.startsWith(tokenProtocolPrefix));
  return entry?.slice(tokenProtocolPrefix.length);
}
