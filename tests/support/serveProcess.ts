// `skp serve` as a real process for the hardening tests, and raw HTTP/1.1 over a plain socket, so a
// test can send what no well-behaved client would (NUL bytes, broken encodings, odd methods) and
// see exactly what comes back — or that nothing did.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServeProcess {
  url: string;
  /** The address to open in a browser, token included. */
  openUrl: string;
  port: number;
  token: string;
  child: ChildProcess;
  output(): string;
  /** Resident memory of the server process in bytes (Linux /proc). */
  rss(): number;
  stop(): Promise<void>;
}

/** Runs `skp serve --port 0 …args` as a user starts it (bin/skp.mjs, one process) and waits for its address. */
export async function spawnServe(args: string[], env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'skp.mjs'), 'serve', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!/Access token: \S+/.test(output)) {
    if (child.exitCode !== null) throw new Error(`skp serve exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`skp serve printed no address within a minute:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pick = (re: RegExp) => re.exec(output)?.[1] as string;
  const url = pick(/serving at (\S+)/);
  return {
    url,
    openUrl: pick(/Open: (\S+)/),
    port: Number(new URL(url).port),
    token: pick(/Access token: (\S+)/),
    child,
    output: () => output,
    rss() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`skp serve has exited (${child.exitCode ?? child.signalCode}):\n${output.slice(-3000)}`);
      }
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    },
    /** SIGTERM, then SIGKILL after 5 s: a server frozen on a read cannot even run its signal handler. */
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** `skp serve` with its settings under `configHome`. */
export const startServe = (args: string[], configHome: string): Promise<ServeProcess> =>
  spawnServe(args, { XDG_CONFIG_HOME: configHome });

export interface RawResponse {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends `request` as is and reads one final response (interim 1xx answers are skipped). Null when
 * the server closed the connection without an answer; throws when it neither answered nor closed
 * within `timeoutMs`, or answered something that is not HTTP/1.1.
 */
export function rawRequest(
  port: number,
  request: Buffer | string,
  options: { head?: boolean; timeoutMs?: number; endAfterWrite?: boolean } = {},
): Promise<RawResponse | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (result: RawResponse | null | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    const tryParse = (closed: boolean) => {
      for (;;) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) break;
        const lines = received.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines[0] ?? '';
        const match = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine);
        if (!match) return finish(new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`));
        const status = Number(match[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon <= 0) return finish(new Error(`malformed header line: ${JSON.stringify(line)}`));
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const rest = received.subarray(end + 4);
        if (status >= 100 && status < 200 && status !== 101) {
          received = rest;
          continue;
        }
        const length =
          options.head || status === 101 || status === 204 || status === 304 ? 0 : headers['content-length'];
        if (length === undefined) {
          if (!closed) return;
          return finish({ status, statusLine, headers, body: rest });
        }
        if (rest.length < Number(length)) {
          if (closed) return finish(new Error(`body cut short: ${rest.length} of ${length} bytes`));
          return;
        }
        return finish({ status, statusLine, headers, body: rest.subarray(0, Number(length)) });
      }
      if (closed)
        finish(
          received.length === 0 ? null : new Error(`incomplete response: ${received.toString('latin1').slice(0, 200)}`),
        );
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse(false);
    });
    socket.on('close', () => tryParse(true));
    socket.on('error', () => tryParse(true));
    socket.write(request, () => {
      if (options.endAfterWrite) socket.end();
    });
  });
}
