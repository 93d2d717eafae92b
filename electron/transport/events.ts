// The services' side of ApiEvents: whoever does work (jobs, edits) emits here; each transport
// subscribes and forwards to its windows or browser sockets.
import type { ApiEvent, ApiEvents, EventName } from '../common/api/contract.js';

export type EventListener = (event: ApiEvent) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();

  emit<E extends EventName>(event: E, data: ApiEvents[E]): void {
    const message = { event, data } as ApiEvent;
    for (const listener of [...this.listeners]) listener(message);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
