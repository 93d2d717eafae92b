// Every keypoint edit goes through this queue. An edit the server cannot take right now (it is
// away or restarting) stays queued — also in localStorage, so a reload keeps it — and is sent, in
// order, once the project is open on the server again. Nothing the user placed is dropped silently.
// Browser tabs on one server share that storage: each adds and removes only its own edits there
// (by id), so one tab's queue never overwrites another's.
import { api, CallError } from '../api/index.js';
import type { CorrectedPointInput } from '../../../electron/common/api/types.js';
import { notices } from './notices.svelte.js';

export type Edit =
  | { kind: 'correct'; imageId: number; points: CorrectedPointInput[] }
  | { kind: 'uncorrect'; imageId: number; partIds: number[] };

export type PendingEdit = Edit & { projectPath: string; id: string };

const storageKey = 'skp.pending-edits';

/** Unique enough among one browser's queued edits. Not crypto.randomUUID: a page served over plain
 * HTTP from another machine (`skp serve --host`) is not a secure context, where it does not exist. */
function newId(): string {
  return Array.from(crypto.getRandomValues(new Uint32Array(4)), (n) => n.toString(36)).join('-');
}

/** What is queued in this browser, by every tab. An edit kept before edits had ids gets one, kept
 * at once, so that every tab knows it by that id. */
function stored(): PendingEdit[] {
  let kept: Array<Edit & { projectPath: string; id?: string }>;
  try {
    kept = JSON.parse(localStorage.getItem(storageKey) ?? '[]') as typeof kept;
  } catch {
    return [];
  }
  if (kept.every((e) => e.id !== undefined)) return kept as PendingEdit[];
  const named = kept.map((e) => ({ ...e, id: e.id ?? newId() }));
  localStorage.setItem(storageKey, JSON.stringify(named));
  return named;
}

/** Changes the stored queue as it is now (another tab may have written it since this one read it). */
function store(change: (all: PendingEdit[]) => PendingEdit[]): void {
  localStorage.setItem(storageKey, JSON.stringify(change(stored())));
}

class EditQueue {
  pending = $state<PendingEdit[]>(stored());
  /** The flush under way: edits go out one at a time, in order. */
  private sending: Promise<number> | null = null;

  /** Queues the edit and sends what can be sent; resolves once it is saved or safely queued. */
  async submit(projectPath: string, edit: Edit): Promise<void> {
    const queued = { ...edit, projectPath, id: newId() };
    this.pending = [...this.pending, queued];
    store((all) => [...all, queued]);
    await this.flush(projectPath);
  }

  /** Sends what is queued for this project (left by a server away, or by an earlier session that
   * closed before it could send it), and says so once it is saved. */
  async sendQueued(projectPath: string): Promise<void> {
    if (this.waitingFor(projectPath) === 0) return;
    const saved = await this.flush(projectPath);
    if (saved > 0) notices.show('info', `${saved} queued correction(s) saved.`);
  }

  waitingFor(projectPath: string): number {
    return this.pending.filter((e) => e.projectPath === projectPath).length;
  }

  /** Sends queued edits of the open project in order; stops at the first the server cannot take
   * yet. A call while another is under way waits for it and then sends what is left, so that what
   * follows (an export) sees every edit the server took. Resolves to how many this call saved. */
  async flush(projectPath: string): Promise<number> {
    while (this.sending) await this.sending;
    const sending = this.sendAll(projectPath);
    this.sending = sending;
    try {
      return await sending;
    } finally {
      this.sending = null;
    }
  }

  private async sendAll(projectPath: string): Promise<number> {
    let saved = 0;
    for (;;) {
      const edit = this.pending.find((e) => e.projectPath === projectPath);
      if (!edit) break;
      try {
        await send(edit);
        saved++;
      } catch (error) {
        if (error instanceof CallError && (error.code === 'offline' || error.code === 'unauthorized')) break;
        if (error instanceof CallError && error.code === 'conflict') break;
        notices.show(
          'error',
          `A correction on image ${edit.imageId} could not be saved and was dropped: ${(error as Error).message}`,
        );
      }
      this.pending = this.pending.filter((e) => e.id !== edit.id);
      store((all) => all.filter((e) => e.id !== edit.id));
    }
    return saved;
  }
}

function send(edit: PendingEdit): Promise<unknown> {
  return edit.kind === 'correct'
    ? api.call('keypoints.correct', { imageId: edit.imageId, points: edit.points })
    : api.call('keypoints.uncorrect', { imageId: edit.imageId, partIds: edit.partIds });
}

export const edits = new EditQueue();
