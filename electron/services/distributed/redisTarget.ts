// The Redis server a coordinator or worker talks to, from the URL the user gives:
// redis://[user:password@]host[:port][/db] or rediss:// for TLS. The password may instead come
// from SKP_REDIS_PASSWORD, which keeps it out of `ps` listings; SKP_REDIS_CA names a PEM file
// of the certificate authority a rediss:// server's certificate is checked against.
import fs from 'node:fs';
import { badInput } from '../../common/errors.js';
import { Redis, type RedisOptions } from 'ioredis';

/** What ioredis needs to reach the server; the same for every connection to it. */
export type RedisEndpoint = Pick<RedisOptions, 'host' | 'port' | 'db' | 'username' | 'password' | 'tls'>;

export interface RedisTarget {
  /** The URL without its password, for messages. */
  label: string;
  options: RedisEndpoint;
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
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const shown = new URL(url);
  shown.password = '';
  shown.username = '';
  return {
    label: shown.toString().replace(/\/$/, ''),
    options: { host, port, db, username, password, tls: tlsOptions },
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
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    const message = (e as Error).message;
    const why = /WRONGPASS|NOAUTH|invalid password/i.test(message)
      ? `${message} (give the password in the URL, redis://:password@host, or in SKP_REDIS_PASSWORD)`
      : message;
    throw badInput(`Redis at ${target.label}: ${why}`);
  }
  return client;
}
