// The desktop window's safety settings, checked as plain values (the Electron binary is not
// available here): isolation, sandbox, no Node in the page, a strict CSP, and a preload that
// exposes the typed API bridge and nothing else.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { transformWithOxc } from 'vite';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, uiSecurityHeaders } from '../../../electron/transport/contentSecurityPolicy.js';
import { callChannel, eventChannel } from '../../../electron/common/api/channels.js';
import { appEntry, isAppUrl, mainWindowOptions } from '../../../electron/shell/window.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('desktop window options', () => {
  const options = mainWindowOptions('/app/preload.cjs');
  const web = options.webPreferences!;

  it('isolates the page, sandboxes it and gives it no Node', () => {
    expect(web.contextIsolation).toBe(true);
    expect(web.sandbox).toBe(true);
    expect(web.nodeIntegration).toBe(false);
    expect(web.nodeIntegrationInWorker).toBe(false);
    expect(web.nodeIntegrationInSubFrames).toBe(false);
    expect(web.webSecurity).toBe(true);
    expect(web.allowRunningInsecureContent).toBe(false);
    expect(web.webviewTag).toBe(false);
    expect(web.preload).toBe('/app/preload.cjs');
  });

  it('loads only the app’s own origin', () => {
    expect(isAppUrl(appEntry)).toBe(true);
    expect(isAppUrl('https://example.com/index.html')).toBe(false);
    expect(isAppUrl('file:///etc/passwd')).toBe(false);
    expect(isAppUrl('skp-app://other/index.html')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
  });
});

describe('content security policy', () => {
  const directives = new Map(
    contentSecurityPolicy.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values];
    }),
  );

  it('denies by default and allows scripts, styles and connections only from the app itself', () => {
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('style-src')).toEqual(["'self'"]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
  });

  it('allows no inline code, no eval and no remote host anywhere', () => {
    expect(contentSecurityPolicy).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(uiSecurityHeaders['Content-Security-Policy']).toBe(contentSecurityPolicy);
    expect(uiSecurityHeaders['X-Content-Type-Options']).toBe('nosniff');
  });
});

describe('preload', () => {
  async function runPreload() {
    const file = path.join(repoRoot, 'electron/shell/preload.cts');
    const { code } = await transformWithOxc(fs.readFileSync(file, 'utf8'), file, { lang: 'ts' });
    const exposed: Record<string, unknown> = {};
    const invoked: unknown[][] = [];
    const listening: string[] = [];
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, value: unknown) => (exposed[key] = value) },
      ipcRenderer: {
        invoke: (...args: unknown[]) => {
          invoked.push(args);
          return Promise.resolve({ ok: true, value: null });
        },
        on: (channel: string) => listening.push(channel),
        removeListener: () => undefined,
      },
    };
    const required: string[] = [];
    // A sandboxed preload gets only a `require` limited to Electron's own modules.
    const sandboxRequire = (name: string) => {
      required.push(name);
      if (name !== 'electron') throw new Error(`a sandboxed preload cannot require ${name}`);
      return electron;
    };
    // Electron runs a sandboxed preload as `(function (require, process, exports, module, …) { … })`.
    const exports = {};
    vm.runInNewContext(code, { require: sandboxRequire, exports, module: { exports } });
    return { exposed, invoked, listening, required };
  }

  it('exposes one `skp` object with call and on, over the channels the main process serves', async () => {
    const { exposed, invoked, listening, required } = await runPreload();
    expect(required).toEqual(['electron']);
    expect(Object.keys(exposed)).toEqual(['skp']);
    const bridge = exposed.skp as {
      call: (m: string, i: unknown) => Promise<unknown>;
      on: (l: () => void) => () => void;
    };
    expect(Object.keys(bridge).sort()).toEqual(['call', 'on']);
    await bridge.call('app.info', {});
    expect(invoked).toEqual([[callChannel, 'app.info', {}]]);
    bridge.on(() => undefined);
    expect(listening).toEqual([eventChannel]);
  });
});
