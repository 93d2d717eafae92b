// Every keypoint edit goes through this queue. An edit the server cannot take right now (it is
// away or restarting) stays queued — also in localStorage, so a reload keeps it — and is sent, in
// order, once the project is open on the server again. Nothing the user placed is dropped silently.
import { api, CallError } from '../api/index.js';
import type { CorrectedPointInput } from '../../../electron/common/api/types.js';
import { notices } from './notices.svelte.js';

export type Edit =
  | { kind: 'correct'; imageId: number; points: CorrectedPointInput[] }
  | { kind: 'uncorrect'; imageId: number; partIds: number[] };

export type PendingEdit = Edit & { projectPath: string };

const storageKey = 'skp.pending-edits';

function load(): PendingEdit[] {
  try {
    return JSON.parse(localStorage.getItem(storageKey) ?? '[]') as PendingEdit[];
  } catch {
    return [];
  }
}

class EditQueue {
  pending = $state<PendingEdit[]>(load());
  private flushing = false;

  /** Queues the edit and sends what can be sent; resolves once it is saved or safely queued. */
  async submit(projectPath: string, edit: Edit): Promise<void> {
    this.pending = [...this.pending, { ...edit, projectPath }];
    this.persist();
    await this.flush(projectPath);
  }

  waitingFor(projectPath: string): number {
    return this.pending.filter((e) => e.projectPath === projectPath).length;
  }

  /** Sends queued edits of the open project in order; stops at the first the server cannot take yet. */
  async flush(projectPath: string): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const edit = this.pending.find((e) => e.projectPath === projectPath);
        if (!edit) break;
        try {
          await send(edit);
        } catch (error) {
          if (error instanceof CallError && (error.code === 'offline' || error.code === 'unauthorized')) break;
          if (error instanceof CallError && error.code === 'conflict') break;
          notices.show(
            'error',
            `A correction on image ${edit.imageId} could not be saved and was dropped: ${(error as Error).message}`,
          );
        }
        this.pending = this.pending.filter((e) => e !== edit);
        this.persist();
      }
    } finally {
      this.flushing = false;
    }
  }

  private persist(): void {
    localStorage.setItem(storageKey, JSON.stringify(this.pending));
  }
}

function send(edit: PendingEdit): Promise<unknown> {
  return edit.kind === 'correct'
    ? api.call('keypoints.correct', { imageId: edit.imageId, points: edit.points })
    : api.call('keypoints.uncorrect', { imageId: edit.imageId, partIds: edit.partIds });
}

export const edits = new EditQueue();
