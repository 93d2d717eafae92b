// The desktop app's main process: one window per project, each with its own services session.
// The page reaches the services only through the preload's `skp` bridge; it is sandboxed, loads
// only the app's files from skp-app://ui/, may not navigate away, open windows or load remote content.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, protocol, session as electronSession, type WebContents } from 'electron';
import { AllowedFolders } from '../transport/allowedFolders.js';
import { uiSecurityHeaders } from '../transport/contentSecurityPolicy.js';
import type { PickKind } from '../common/api/contract.js';
import { toApiError } from '../transport/dispatcher.js';
import { OpenProjects } from '../transport/openProjects.js';
import { RecentProjects } from '../transport/recentProjects.js';
import { createSession, type Session } from '../transport/session.js';
import { createServices } from '../services/container.js';
import { appVersion, builtUiFolder } from '../server/appServer.js';
import { cacheControlOf, contentTypeOf, uiFileFor } from '../server/staticFiles.js';
import { callChannel, eventChannel, type IpcReply } from '../common/api/channels.js';
import { appEntry, appScheme, isAppUrl, mainWindowOptions } from './window.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// A packaged app carries the CUDA addon as a resource (package.json "extraResources"); the engine
// finds it through SKP_CUDA_ADDON and falls back to ONNX Runtime where it is absent or cannot load.
const packagedCudaAddon = path.join(process.resourcesPath, 'cuda', 'skp_cuda.node');
if (app.isPackaged && !process.env.SKP_CUDA_ADDON && fs.existsSync(packagedCudaAddon)) {
  process.env.SKP_CUDA_ADDON = packagedCudaAddon;
}
const preloadPath = path.join(here, 'preload.cjs');
const serverId = crypto.randomUUID();
const allowed = new AllowedFolders();
const openProjects = new OpenProjects();
const sessions = new Map<number, Session>();

protocol.registerSchemesAsPrivileged([
  { scheme: appScheme, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

const dialogFilters: Partial<Record<PickKind, Electron.FileFilter[]>> = {
  project: [{ name: 'Keypoint Workstation project', extensions: ['skp'] }],
  'new-project': [{ name: 'Keypoint Workstation project', extensions: ['skp'] }],
  'coco-file': [{ name: 'COCO keypoints', extensions: ['json'] }],
  model: [{ name: 'SDXL weights', extensions: ['safetensors'] }],
  'export-file': [{ name: 'COCO keypoints', extensions: ['json'] }],
};

async function pick(window: BrowserWindow, kind: PickKind, title: string): Promise<string | null> {
  const filters = dialogFilters[kind];
  if (kind === 'new-project' || kind === 'export-file') {
    const result = await dialog.showSaveDialog(window, { title, ...(filters ? { filters } : {}) });
    return result.canceled || !result.filePath ? null : result.filePath;
  }
  const properties: ('openDirectory' | 'openFile')[] =
    kind === 'folder' ? ['openDirectory'] : kind === 'model' ? ['openFile', 'openDirectory'] : ['openFile'];
  const result = await dialog.showOpenDialog(window, { title, properties, ...(filters ? { filters } : {}) });
  return result.canceled ? null : (result.filePaths[0] ?? null);
}

function openWindow(): void {
  const window = new BrowserWindow(mainWindowOptions(preloadPath));
  const contents = window.webContents;
  const services = createServices();
  const session = createSession({
    services,
    allowed,
    recent: new RecentProjects(path.join(app.getPath('userData'), 'recent-projects.json')),
    openProjects,
    transport: 'ipc',
    serverId,
    version: appVersion(),
    pick: (kind, title) => pick(window, kind, title),
  });
  sessions.set(contents.id, session);
  const unsubscribe = session.events.subscribe((event) => {
    if (!contents.isDestroyed()) contents.send(eventChannel, event);
  });
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    unsubscribe();
    sessions.delete(contents.id);
    void session.dispose().finally(() => services.dispose());
  });
  void window.loadURL(appEntry);
}

/** No page of this app may leave the app, open windows, embed others or ask for permissions. */
function lockDown(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

ipcMain.handle(callChannel, async (event, method: unknown, input: unknown): Promise<IpcReply> => {
  const session = sessions.get(event.sender.id);
  if (!session || !event.senderFrame || !isAppUrl(event.senderFrame.url) || typeof method !== 'string') {
    return { ok: false, error: { code: 'unauthorized', message: 'Calls come only from the app’s own window.' } };
  }
  try {
    const result = await session.dispatch(method, input);
    return { ok: true, value: result.value };
  } catch (error) {
    return { ok: false, error: toApiError(error).toBody() };
  }
});

app.on('web-contents-created', (_, contents) => lockDown(contents));

app.whenReady().then(() => {
  const ui = builtUiFolder;
  protocol.handle(appScheme, async (request) => {
    const file = uiFileFor(ui, new URL(request.url).pathname);
    if (file === null) return new Response('Not found', { status: 404 });
    return new Response(await fs.promises.readFile(file), {
      headers: { ...uiSecurityHeaders, 'Content-Type': contentTypeOf(file), 'Cache-Control': cacheControlOf(file) },
    });
  });
  const defaultSession = electronSession.defaultSession;
  defaultSession.setPermissionRequestHandler((_, __, callback) => callback(false));
  // No remote content: only the app's own scheme and the blob: URLs it makes.
  defaultSession.webRequest.onBeforeRequest(
    { urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'file://*/*'] },
    (_, callback) => callback({ cancel: true }),
  );
  openWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow();
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
