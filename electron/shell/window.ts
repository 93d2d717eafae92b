// How the desktop window is made, as plain values so a test can check them without Electron: the
// page gets no Node, runs sandboxed and isolated from the preload, and loads only the app's own files
// from the app's own scheme (never remote content).
import type { BrowserWindowConstructorOptions } from 'electron';

/** The UI is served from skp-app://ui/ so that 'self' in the CSP means exactly the app's files. */
export const appScheme = 'skp-app';
export const appOrigin = `${appScheme}://ui`;
export const appEntry = `${appOrigin}/index.html`;

export function isAppUrl(url: string): boolean {
  try {
    // Compared part by part: a URL of a non-web scheme has the opaque origin "null" in Node.
    const parsed = new URL(url);
    return parsed.protocol === `${appScheme}:` && parsed.host === 'ui';
  } catch {
    return false;
  }
}

export function mainWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    title: 'Keypoint Workstation',
    backgroundColor: '#1b1d21',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      safeDialogs: true,
    },
  };
}
