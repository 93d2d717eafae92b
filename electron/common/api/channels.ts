// The two IPC channels between the preload and the main process. The sandboxed preload cannot
// import this file (it may only require 'electron'), so it repeats the names; a test holds them equal.
import type { ApiErrorBody } from './errors.js';

/** renderer → main: invoke(method, input) → IpcReply */
export const callChannel = 'skp:call';
/** main → renderer: one ApiEvent per message */
export const eventChannel = 'skp:event';

/** Errors travel as values: Electron would reduce a thrown error to its message. */
export type IpcReply = { ok: true; value: unknown } | { ok: false; error: ApiErrorBody };
