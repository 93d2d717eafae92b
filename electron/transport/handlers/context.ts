// What every handler module gets from its session. It lives apart from session.ts, which builds
// the handlers, so that the handlers never import the module that imports them.
import type { PickKind } from '../../common/api/contract.js';
import type { ServiceHost } from '../../services/container.js';
import type { EventHub } from '../events.js';
import type { AllowedFolders } from '../allowedFolders.js';
import type { OpenProjects } from '../openProjects.js';
import type { RecentProjects } from '../recentProjects.js';

export interface SessionOptions {
  services: ServiceHost;
  allowed: AllowedFolders;
  recent: RecentProjects;
  openProjects: OpenProjects;
  transport: 'ipc' | 'http';
  serverId: string;
  version: string;
  /** The system file dialog (desktop only). */
  pick?: (kind: PickKind, title: string) => Promise<string | null>;
}

/** What every handler module gets. */
export interface SessionContext extends SessionOptions {
  id: string;
  events: EventHub;
}
