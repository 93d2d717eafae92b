// Everything `skp serve` runs: the services, one UI session over them, and the HTTP + WebSocket
// transport. Tests start it in-process; the command wraps it with argument parsing and signals.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServices } from '../services/container.js';
import { AllowedFolders } from '../transport/allowedFolders.js';
import { OpenProjects } from '../transport/openProjects.js';
import { RecentProjects, defaultConfigFolder } from '../transport/recentProjects.js';
import { createSession } from '../transport/session.js';
import { startServer } from './httpServer.js';
import { newAccessToken } from './token.js';

/** The folder with the app's package.json: the repository, or the packaged app. Found by walking up, so
 * it is the same whether this runs from source (tsx) or compiled (dist/electron/...). */
function findAppRoot(): string {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error('cannot find the app folder (no package.json above this file)');
    folder = parent;
  }
  return folder;
}

const repoRoot = findAppRoot();

export const builtUiFolder = path.join(repoRoot, 'dist', 'renderer');

export function appVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export interface AppServerOptions {
  host: string;
  port: number;
  /** Folders the browser may open projects, images and exports in. */
  allow: string[];
  /** Kept across restarts when given, so open browser tabs carry on; random otherwise. */
  token?: string;
  /** A project to open at start. */
  open?: string;
  configFolder?: string;
  uiFolder?: string;
}

export interface AppServer {
  url: string;
  /** Every base URL that reaches the server (several when it listens on all interfaces). */
  urls: string[];
  openUrl: string;
  token: string;
  allowedFolders: string[];
  close(): Promise<void>;
}

export async function startAppServer(options: AppServerOptions): Promise<AppServer> {
  const allowed = new AllowedFolders();
  for (const folder of options.allow) {
    if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory())
      throw new Error(`--allow ${folder}: no such folder`);
    allowed.add(folder);
  }
  const serverId = crypto.randomUUID();
  const services = createServices();
  const session = createSession({
    services,
    allowed,
    recent: new RecentProjects(path.join(options.configFolder ?? defaultConfigFolder(), 'recent-projects.json')),
    openProjects: new OpenProjects(),
    transport: 'http',
    serverId,
    version: appVersion(),
  });
  if (options.open) await session.dispatch('projects.open', { path: options.open });
  const token = options.token ?? newAccessToken();
  const server = await startServer({
    host: options.host,
    port: options.port,
    token,
    serverId,
    dispatch: session.dispatch,
    events: session.events,
    uiFolder: options.uiFolder ?? builtUiFolder,
  });
  return {
    url: server.url,
    urls: server.urls,
    openUrl: server.openUrl,
    token,
    allowedFolders: allowed.list(),
    async close() {
      await server.close();
      await session.dispose();
      services.dispose();
    },
  };
}
