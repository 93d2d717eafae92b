// The start screen's list of recently opened projects: a small JSON file in the user's config
// folder, so it survives restarts and is shared by the desktop app and `skp serve`.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { RecentProject } from '../common/api/types.js';

const keep = 12;
const fileSchema = z.array(z.object({ path: z.string(), name: z.string(), openedAt: z.string() }));
type Entries = z.infer<typeof fileSchema>;

export class RecentProjects {
  private readonly told = new Set<string>();

  /** `warn` hears, once each, that a damaged list was set aside or that the list cannot be saved. */
  constructor(
    private readonly file: string,
    private readonly warn: (message: string) => void = (message) => console.error(message),
  ) {}

  list(): RecentProject[] {
    return this.read().map((entry) => ({ ...entry, exists: fs.existsSync(entry.path) }));
  }

  /** Remembering is a convenience: failing to save the list never fails the open that asked for it. */
  remember(projectPath: string, name: string): void {
    const entries = this.read().filter((e) => e.path !== projectPath);
    entries.unshift({ path: projectPath, name, openedAt: new Date().toISOString() });
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      // Written whole and renamed into place: a crash mid-write leaves the old list.
      const temporary = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(temporary, JSON.stringify(entries.slice(0, keep), null, 2));
      fs.renameSync(temporary, this.file);
    } catch (error) {
      this.tell(`Cannot save the list of recent projects in ${this.file}: ${(error as Error).message}`);
    }
  }

  private read(): Entries {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    if (text.trim() === '') return [];
    const parsed = (() => {
      try {
        return fileSchema.safeParse(JSON.parse(text));
      } catch {
        return null;
      }
    })();
    if (parsed?.success) return parsed.data;
    // A damaged list is not worth an error dialog: start a fresh one, keeping the old bytes to look at.
    this.setAside();
    return [];
  }

  private setAside(): void {
    const copy = `${this.file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      fs.renameSync(this.file, copy);
      this.tell(`The list of recent projects ${this.file} was damaged: kept it as ${copy} and started a new list.`);
    } catch (error) {
      this.tell(
        `The list of recent projects ${this.file} is damaged and cannot be set aside: ${(error as Error).message}`,
      );
    }
  }

  private tell(message: string): void {
    if (this.told.has(message)) return;
    this.told.add(message);
    this.warn(message);
  }
}

/** Where the desktop app and `skp serve` keep per-user state when nothing else is said. */
export function defaultConfigFolder(): string {
  const base = process.env.XDG_CONFIG_HOME ?? path.join(process.env.HOME ?? process.cwd(), '.config');
  return path.join(base, 'keypoint-workstation');
}
