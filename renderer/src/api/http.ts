// The typed API over HTTP + WebSocket, for the UI in a browser pointed at `skp serve`. Calls are
// POST /api/call/<method> with the access token; events arrive on /api/events and the socket
// reconnects by itself, so the banner can say when the server is away and when it restarted.
import type {
  ApiEvent,
  ApiEvents,
  EventName,
  KeypointApi,
  MethodInput,
  MethodName,
  MethodOutput,
} from '../../../electron/common/api/contract.js';
import { CallError, callErrorFrom } from './errors.js';
import { connection } from './connection.svelte.js';

const tokenKey = 'skp.token';
const tokenProtocolPrefix = 'token.';
const eventsProtocol = 'skp-events';

/** The token arrives in the URL fragment (never sent to the server, never in its logs) and is kept for reloads. */
export function takeTokenFromLocation(): string | null {
  const match = /(?:^|[#&])token=([\w-]+)/.exec(location.hash);
  if (match?.[1]) {
    sessionStorage.setItem(tokenKey, match[1]);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(tokenKey);
}

export function rememberToken(token: string): void {
  sessionStorage.setItem(tokenKey, token);
}

type Listener = (data: unknown) => void;

export class HttpApi implements KeypointApi {
  private readonly listeners = new Map<EventName, Set<Listener>>();
  private socket: WebSocket | null = null;
  private retryDelay = 250;

  constructor(private token: string) {}

  setToken(token: string): void {
    this.token = token;
    rememberToken(token);
    this.socket?.close();
    this.connect();
  }

  async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>> {
    let response: Response;
    try {
      response = await fetch(`api/call/${method}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(input),
      });
    } catch {
      connection.state = 'offline';
      throw new CallError(
        'offline',
        'The server cannot be reached; your changes are kept and sent when it is back.',
        method,
      );
    }
    if (response.status === 401) connection.state = 'needs-token';
    // One call lost on the way (the socket stayed open, so no new greeting will come): the server
    // answering again is what "back" means.
    else if (connection.state === 'offline' && this.socket?.readyState === WebSocket.OPEN) connection.state = 'online';
    if (!response.ok) {
      const body: unknown = await response.json().catch(() => null);
      throw callErrorFrom(body, method, `${method} failed with HTTP ${response.status}.`);
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (type.startsWith('application/json')) return ((await response.json()) as { result: MethodOutput<M> }).result;
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { mime: type, bytes } as MethodOutput<M>;
  }

  on<E extends EventName>(event: E, handler: (data: ApiEvents[E]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set<Listener>();
    this.listeners.set(event, set);
    set.add(handler as Listener);
    return () => set.delete(handler as Listener);
  }

  /** Opens the event socket; on loss, retries with growing pauses until the server answers again. */
  connect(): void {
    const url = new URL('api/events', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url, [eventsProtocol, tokenProtocolPrefix + this.token]);
    this.socket = socket;
    socket.onopen = () => {
      this.retryDelay = 250;
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(String(message.data)) as ApiEvent;
      if (event.event === 'hello') this.greet(event.data.serverId);
      for (const listener of this.listeners.get(event.event) ?? []) listener(event.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (connection.state === 'online') connection.state = 'offline';
      void this.probe();
      setTimeout(() => this.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 4000);
    };
  }

  private greet(serverId: string): void {
    if (connection.serverId !== null && connection.serverId !== serverId) connection.restarts++;
    connection.serverId = serverId;
    connection.state = 'online';
  }

  /** A WebSocket refused for a wrong token looks like any other close: ask over HTTP which it was. */
  private async probe(): Promise<void> {
    try {
      const response = await fetch('api/call/app.info', {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.token}` },
      });
      if (response.status === 401) connection.state = 'needs-token';
    } catch {
      connection.state = 'offline';
    }
  }
}
