// The only bridge from the page to the app: `window.skp` with call(method, input) and on(listener).
// Sandboxed preloads run as plain scripts that may only require 'electron', hence no imports and
// the channel names written out (electron/common/api/channels.ts has them; a test checks they agree).
{
  const { contextBridge, ipcRenderer } = require('electron') as typeof import('electron');
  const callChannel = 'skp:call';
  const eventChannel = 'skp:event';

  contextBridge.exposeInMainWorld('skp', {
    call: (method: string, input: unknown): Promise<unknown> => ipcRenderer.invoke(callChannel, method, input),
    on: (listener: (event: unknown) => void): (() => void) => {
      const forward = (_: unknown, event: unknown) => listener(event);
      ipcRenderer.on(eventChannel, forward);
      return () => ipcRenderer.removeListener(eventChannel, forward);
    },
  });
}
