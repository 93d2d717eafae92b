// VS Code-style events: a service exposes `onDidX: Event<T>`; transports (IPC, WebSocket)
// forward the payloads, which are plain JSON.

export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (payload: T) => void) => Disposable;

/** Owns the listeners of one event; the service keeps the emitter and exposes `emitter.event`. */
export class Emitter<T> {
  private readonly listeners = new Set<(payload: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(payload: T): void {
    for (const listener of [...this.listeners]) listener(payload);
  }
}
