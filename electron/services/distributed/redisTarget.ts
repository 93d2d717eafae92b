// The Redis server a coordinator or worker talks to, from the URL the user gives:
// redis://[user:password@]host[:port][/db] or rediss:// for TLS. The password may instead come
// from SKP_REDIS_PASSWORD, which keeps it out of `ps` listings; SKP_REDIS_CA names a PEM file
// of the certificate authority a rediss:// server's certificate is checked against.
// SKP_REDIS_TIMEOUT (seconds, default 60) is how long the server may go without answering
// before a coordinator or worker gives up with an error naming it; a restart within that time
// loses nothing. A server that is up but stuck (paused, swapping) answers no command, so every
// command is bounded too (ANSWER_MS), or a coordinator would wait on it forever.
import fs from 'node:fs';
import { badInput } from '../../common/errors.js';
import { Redis, type RedisOptions } from 'ioredis';

/** What ioredis needs to reach the server; the same for every connection to it. */
export type RedisEndpoint = Pick<RedisOptions, 'host' | 'port' | 'db' | 'username' | 'password' | 'tls'>;

export interface RedisTarget {
  /** The URL without its password, for messages. */
  label: string;
  options: RedisEndpoint;
  /** How long the server may go without answering before the work stops (SKP_REDIS_TIMEOUT). */
  timeoutSeconds: number;
}

const DEFAULT_TIMEOUT_S = 60;
/** The longest one command or connection attempt may wait for an answer. */
const ANSWER_MS = 5000;

/** How long one command may wait for the server: at most ANSWER_MS, less when the whole timeout is shorter. */
export const answerMs = (target: RedisTarget) => Math.min(ANSWER_MS, target.timeoutSeconds * 1000);

/** The server went without answering for longer than SKP_REDIS_TIMEOUT allows. */
export class RedisUnanswered extends Error {
  constructor(target: RedisTarget, why: string) {
    super(
      `Redis at ${target.label} has not answered for ${target.timeoutSeconds} s (last error: ${why}); ` +
        'set SKP_REDIS_TIMEOUT (seconds) to wait longer',
    );
    this.name = 'RedisUnanswered';
  }
}

/** Why a command failed, in the user's words. */
export function redisFailure(target: RedisTarget, e: unknown): string {
  const message = (e as Error).message;
  if (/Command timed out|connect ETIMEDOUT/.test(message)) {
    return `no answer within ${answerMs(target) / 1000} s: is the server paused, overloaded or behind a firewall?`;
  }
  if (/WRONGPASS|NOAUTH|invalid password/i.test(message)) {
    return `${message} (give the password in the URL, redis://:password@host, or in SKP_REDIS_PASSWORD)`;
  }
  return message;
}

export function redisTarget(url: string, env: NodeJS.ProcessEnv = process.env): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badInput(`Redis: "${url}" is not a URL; expected redis://host:6379 (or rediss:// for TLS)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw badInput(`Redis: "${url}" must start with redis:// or rediss:// (TLS)`);
  }
  if (!parsed.hostname) throw badInput(`Redis: "${url}" names no host`);
  const port = parsed.port ? Number(parsed.port) : 6379;
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw badInput(`Redis: "${dbText}" in "${url}" is not a database number`);
  const password = parsed.password ? decodeURIComponent(parsed.password) : env.SKP_REDIS_PASSWORD || undefined;
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  let tlsOptions: RedisEndpoint['tls'];
  if (parsed.protocol === 'rediss:') {
    const caFile = env.SKP_REDIS_CA;
    let ca: Buffer | undefined;
    if (caFile) {
      try {
        ca = fs.readFileSync(caFile);
      } catch (e) {
        throw badInput(`SKP_REDIS_CA: ${caFile} cannot be read (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    tlsOptions = ca ? { ca } : {};
  }
  const timeoutText = env.SKP_REDIS_TIMEOUT;
  const timeoutSeconds = timeoutText ? Number(timeoutText) : DEFAULT_TIMEOUT_S;
  if (!(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0)) {
    throw badInput(`SKP_REDIS_TIMEOUT must be a number of seconds above 0, not "${timeoutText}"`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const shown = new URL(url);
  shown.password = '';
  shown.username = '';
  return {
    label: shown.toString().replace(/\/$/, ''),
    options: { host, port, db, username, password, tls: tlsOptions },
    timeoutSeconds,
  };
}

/** Connects once, or says why not in the user's words (wrong password, nothing listening). */
export async function connectRedis(target: RedisTarget): Promise<Redis> {
  // No retries while connecting: the user hears at once that the server is not there.
  const client = new Redis({
    ...target.options,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than the "Connection is closed" it causes.
  let socketError: Error | null = null;
  client.on('error', (e: Error) => (socketError ??= e));
  let timer: NodeJS.Timeout | undefined;
  // ioredis bounds the TCP connect, but a stuck server accepts connections and then says nothing.
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('Command timed out')), answerMs(target));
  });
  const attempt = client.connect().then(() => client.ping());
  attempt.catch(() => undefined); // after a timeout, its failure has been told already
  try {
    await Promise.race([attempt, silence]);
  } catch (e) {
    client.disconnect();
    const closed = /Connection is closed/.test((e as Error).message);
    throw badInput(`Redis at ${target.label}: ${redisFailure(target, closed && socketError ? socketError : e)}`);
  } finally {
    clearTimeout(timer);
  }
  // Only now: during the connection ioredis would turn a command's timeout into "Connection is closed".
  client.options.commandTimeout = answerMs(target);
  return client;
}
