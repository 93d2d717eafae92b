// A small Redis connection (RESP2 over TCP or TLS) shaped like Bun's built-in RedisClient, which
// BullMQ 6 drives through its own adapter (reconnects, scripts, transactions, blocking pops).
// BullMQ 6 no longer ships a Node driver and none (ioredis, node-redis) is installed here; this
// class is only the wire: connect, authenticate, select the database, send commands in order.
import net from 'node:net';
import tls from 'node:tls';

export interface RespOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  /** TLS options (rediss://); absent: plain TCP. */
  tls?: tls.ConnectionOptions;
  connectTimeoutMs?: number;
}

export type RespValue = string | number | null | Error | RespValue[];

export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

/**
 * Parses one RESP2 value at `at`. When the buffer does not hold all of it yet: how many bytes it
 * needs at least, so a large reply (an image) is parsed once it is all there, not per packet.
 */
function parse(buf: Buffer, at: number): { value: RespValue; end: number } | { need: number } {
  const more = { need: buf.length + 1 };
  if (at >= buf.length) return more;
  const lineEnd = buf.indexOf('\r\n', at);
  if (lineEnd < 0) return more;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buf.length < next + length + 2) return { need: next + length + 2 };
      return { value: buf.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, end);
        if ('need' in item) return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new RespError(`unexpected reply type ${JSON.stringify(type)} from Redis`);
  }
}

/** One command as RESP, written into one buffer (Buffer.from of a large string is many times slower). */
function encode(command: string, args: ReadonlyArray<string | Buffer | number>): Buffer {
  const items = [command, ...args].map((a) => (Buffer.isBuffer(a) ? a : String(a)));
  const lengths = items.map((a) => (typeof a === 'string' ? Buffer.byteLength(a) : a.length));
  const head = `*${items.length}\r\n`;
  const size = lengths.reduce((sum, n) => sum + `$${n}\r\n`.length + n + 2, head.length);
  const out = Buffer.allocUnsafe(size);
  let at = out.write(head, 0, 'latin1');
  items.forEach((item, i) => {
    at += out.write(`$${lengths[i]}\r\n`, at, 'latin1');
    at += typeof item === 'string' ? out.write(item, at, 'utf8') : item.copy(out, at);
    at += out.write('\r\n', at, 'latin1');
  });
  return out;
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (e: Error) => void;
}

export class RespClient {
  connected = false;
  onconnect: (() => void) | null = null;
  onclose: ((error?: Error) => void) | null = null;
  private socket: net.Socket | null = null;
  private buffer: Buffer = Buffer.alloc(0);
  /** Packets received since the last parse, and the length the next reply needs at least. */
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  private need = 0;
  private readonly pending: Pending[] = [];
  private closing = false;

  constructor(readonly options: RespOptions) {}

  /** An unconnected client to the same server (BullMQ's adapter opens one per blocking reader). */
  async duplicate(): Promise<RespClient> {
    return new RespClient(this.options);
  }

  async connect(): Promise<void> {
    const o = this.options;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = o.tls
        ? tls.connect({ host: o.host, port: o.port, servername: o.host, ...o.tls })
        : net.connect({ host: o.host, port: o.port });
      const timer = setTimeout(
        () => s.destroy(new Error(`no answer within ${o.connectTimeoutMs ?? 10_000} ms`)),
        o.connectTimeoutMs ?? 10_000,
      );
      s.once(o.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.received.length = 0;
    this.receivedBytes = 0;
    this.need = 0;
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', () => {
      // 'close' follows and reports it.
    });
    socket.on('close', () => this.closed());
    try {
      if (o.password !== undefined) {
        await this.send('AUTH', o.username ? [o.username, o.password] : [o.password]);
      }
      if (o.db !== 0) await this.send('SELECT', [String(o.db)]);
    } catch (e) {
      this.closing = true;
      socket.destroy();
      throw e;
    }
    this.connected = true;
    this.onconnect?.();
  }

  send<T = RespValue>(command: string, args: ReadonlyArray<string | Buffer | number> = []): Promise<T> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error('Connection closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (value: RespValue) => void, reject });
      socket.write(encode(command, args));
    });
  }

  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  get(key: string): Promise<string | null> {
    return this.send('GET', [key]) as Promise<string | null>;
  }

  smembers(key: string): Promise<RespValue[]> {
    return this.send('SMEMBERS', [key]) as Promise<RespValue[]>;
  }

  incr(key: string): Promise<number> {
    return this.send('INCR', [key]) as Promise<number>;
  }

  /** The same as close(); BullMQ recognises a client by connect, disconnect and duplicate. */
  disconnect(): void {
    this.close();
  }

  private receive(chunk: Buffer): void {
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    if (this.buffer.length + this.receivedBytes < this.need) return;
    this.buffer = Buffer.concat([this.buffer, ...this.received.splice(0)]);
    this.receivedBytes = 0;
    this.need = 0;
    let at = 0;
    for (;;) {
      const reply = parse(this.buffer, at);
      if ('need' in reply) {
        this.need = reply.need - at;
        break;
      }
      at = reply.end;
      const waiter = this.pending.shift();
      if (!waiter) continue;
      if (reply.value instanceof Error) waiter.reject(reply.value);
      else waiter.resolve(reply.value);
    }
    this.buffer = this.buffer.subarray(at);
  }

  private closed(): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.socket = null;
    for (const waiter of this.pending.splice(0)) waiter.reject(new Error('Connection closed'));
    if (wasConnected) this.onclose?.(this.closing ? undefined : new Error('Connection closed by Redis'));
  }
}
