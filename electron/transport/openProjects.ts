// Which window (session) has which project open in this process. A project is edited by one window
// at a time: a second window asking for it is told where it is open instead of racing the first,
// and may open it read-only. Other processes are kept out by the project's lock file
// (services/projectLock.ts).
import { ApiError } from '../common/api/errors.js';

export class OpenProjects {
  private readonly owners = new Map<string, string>();

  /** Reserves `projectPath` for the session before it opens it; refuses when another session has it. */
  claim(projectPath: string, sessionId: string): void {
    const owner = this.owners.get(projectPath);
    if (owner !== undefined && owner !== sessionId) {
      throw new ApiError(
        'locked',
        `${projectPath} is already open in another window. Close it there first (your work there is saved), or open it read-only here.`,
      );
    }
    this.owners.set(projectPath, sessionId);
  }

  /** Lets go of every project of the session except `keep`. */
  release(sessionId: string, keep?: string): void {
    for (const [projectPath, owner] of this.owners) {
      if (owner === sessionId && projectPath !== keep) this.owners.delete(projectPath);
    }
  }

  ownedBy(sessionId: string): string | undefined {
    for (const [projectPath, owner] of this.owners) if (owner === sessionId) return projectPath;
    return undefined;
  }
}
