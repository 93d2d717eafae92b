// The typed API through the desktop app's preload bridge (window.skp).
import type {
  ApiEvent,
  ApiEvents,
  EventName,
  KeypointApi,
  MethodInput,
  MethodName,
  MethodOutput,
} from '../../../electron/common/api/contract.js';
import type { IpcReply } from '../../../electron/common/api/channels.js';
import { CallError } from './errors.js';
import { connection } from './connection.svelte.js';

export interface PreloadBridge {
  call(method: string, input: unknown): Promise<IpcReply>;
  on(listener: (event: ApiEvent) => void): () => void;
}

export class IpcApi implements KeypointApi {
  constructor(private readonly bridge: PreloadBridge) {
    connection.state = 'online';
  }

  async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>> {
    const reply = await this.bridge.call(method, input);
    if (!reply.ok) throw new CallError(reply.error.code, reply.error.message, method);
    return reply.value as MethodOutput<M>;
  }

  on<E extends EventName>(event: E, handler: (data: ApiEvents[E]) => void): () => void {
    return this.bridge.on((message) => {
      if (message.event === event) handler(message.data as ApiEvents[E]);
    });
  }
}
