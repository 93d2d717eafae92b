// The processes a process started, from /proc (Linux): for tests that kill a process and check
// nothing it started is left running.
import fs from 'node:fs';

/** Every process below `pid`. */
export function descendants(pid: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // it ended while we looked
      }
    })
    .map(Number);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

export const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

/** The command line of a process, its arguments joined by spaces ('' once it ended). */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Whether `done` holds within `seconds`, asked every 50 ms. */
export async function within(seconds: number, done: () => boolean): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
