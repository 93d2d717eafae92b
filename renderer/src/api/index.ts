// The one API object the UI uses: the preload bridge in the desktop window, HTTP in a browser.
import type { KeypointApi } from '../../../electron/common/api/contract.js';
import { HttpApi, takeTokenFromLocation } from './http.js';
import { IpcApi, type PreloadBridge } from './ipc.js';
import { connection } from './connection.svelte.js';

declare global {
  interface Window {
    skp?: PreloadBridge;
  }
}

function createApi(): { api: KeypointApi; http: HttpApi | null } {
  if (window.skp) return { api: new IpcApi(window.skp), http: null };
  const token = takeTokenFromLocation();
  const http = new HttpApi(token ?? '');
  if (token === null) connection.state = 'needs-token';
  http.connect();
  return { api: http, http };
}

const created = createApi();
export const api: KeypointApi = created.api;
/** Set in a browser: lets the user paste a new access token after a server restart. */
export const httpApi: HttpApi | null = created.http;
export { CallError, messageOf } from './errors.js';
