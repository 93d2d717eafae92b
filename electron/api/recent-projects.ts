// The start screen's list of recently opened projects: a small JSON file in the user's config
// folder, so it survives restarts and is shared by the desktop app and `skp serve`.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { RecentProject } from './types.js';

const keep = 12;
const fileSchema = z.array(z.object({ path: z.string(), name: z.string(), openedAt: z.string() }));

export class RecentProjects {
  constructor(private readonly file: string) {}

  list(): RecentProject[] {
    return this.read().map((entry) => ({ ...entry, exists: fs.existsSync(entry.path) }));
  }

  remember(projectPath: string, name: string): void {
    const entries = this.read().filter((e) => e.path !== projectPath);
    entries.unshift({ path: projectPath, name, openedAt: new Date().toISOString() });
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    // Written whole and renamed into place: a crash mid-write leaves the old list.
    const temporary = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(entries.slice(0, keep), null, 2));
    fs.renameSync(temporary, this.file);
  }

  private read(): z.infer<typeof fileSchema> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    // A damaged list is not worth an error dialog: start a fresh one.
    const parsed = fileSchema.safeParse(JSON.parse(text.trim() === '' ? '[]' : text));
    return parsed.success ? parsed.data : [];
  }
}

/** Where the desktop app and `skp serve` keep per-user state when nothing else is said. */
export function defaultConfigFolder(): string {
  const base = process.env.XDG_CONFIG_HOME ?? path.join(process.env.HOME ?? process.cwd(), '.config');
  return path.join(base, 'keypoint-workstation');
}
