// The image view's state: the image with its points, which index is selected and shown, what is
// drawn besides (heat map, names, ground truth), and undo/redo of corrections — one history per
// image of each project. A change shows at once and is saved through the edit queue.
import { api, CallError } from '../api/index.js';
import type {
  GroundTruthPart,
  ImageDetail,
  PartPoint,
  Keypoint,
  Visibility,
} from '../../../electron/common/api/types.js';
import { edits } from './edits.svelte.js';
import { historyKey, UndoHistory, type Change, type Placement, type Stacks } from './history.js';
import { notices } from './notices.svelte.js';
import { app } from './project.svelte.js';
import { clampToImage } from './viewport.js';

function placementOf(point: PartPoint | undefined): Placement {
  const c = point?.corrected;
  return c ? { x: c.x, y: c.y, visibility: c.visibility } : null;
}

const history = new UndoHistory(sessionStorage);

class Editor {
  detail = $state<ImageDetail | null>(null);
  /** Why the image could not be loaded at all (e.g. removed from the project). */
  loadError = $state<string | null>(null);
  selectedIndexId = $state<number | null>(null);
  /** Indices switched off in this view only (the project's "hidden" is set in the index panel). */
  switchedOff = $state<number[]>([]);
  heatMapOn = $state(false);
  heatMapOpacity = $state(0.6);
  namesOn = $state(false);
  groundTruthOn = $state(true);
  /** The labelled parts' names, for the ground truth's labels; loaded once per project. */
  groundTruthParts = $state<GroundTruthPart[]>([]);
  /** Undo and redo of the open image (of the open project). */
  stacks = $state<Stacks>({ undo: [], redo: [] });
  private partsOf: string | null = null;
  /** The project `detail` belongs to. */
  private detailOf: string | null = null;

  /** Points of the image by index id. */
  points = $derived(new Map((this.detail?.keypoints.points ?? []).map((p) => [p.partId, p])));

  async load(imageId: number): Promise<void> {
    const project = app.project?.path ?? null;
    this.stacks = project ? history.stacks(historyKey(project, imageId)) : { undo: [], redo: [] };
    // Image ids repeat across projects: another project's image is never shown as this one's.
    if (project !== this.detailOf) this.detail = null;
    if (project !== this.partsOf) void this.loadGroundTruthParts(project);
    const stillOpen = () => app.imageId === imageId && app.project?.path === project;
    try {
      const detail = await api.call('images.get', { id: imageId });
      if (stillOpen()) {
        this.detail = detail;
        this.detailOf = project;
        this.loadError = null;
        if (project) this.showQueued(project, imageId);
      }
    } catch (error) {
      // While the server is away, keep showing (and editing) what is already here.
      if (error instanceof CallError && error.code === 'offline' && this.detail?.image.id === imageId) return;
      // A late failure for an image the user has left says nothing about the one on screen.
      if (!stillOpen()) return;
      this.detail = null;
      this.loadError = (error as Error).message;
    }
    if (this.selectedIndexId === null || !app.parts.some((i) => i.id === this.selectedIndexId)) {
      this.selectedIndexId = app.ordered.find((i) => !i.hidden)?.id ?? null;
    }
  }

  private async loadGroundTruthParts(project: string | null): Promise<void> {
    this.partsOf = project;
    this.groundTruthParts = [];
    if (!project) return;
    try {
      const summary = await api.call('groundTruth.summary', {});
      if (this.partsOf === project) this.groundTruthParts = summary.parts;
    } catch {
      // Without names the ground truth is still drawn; only its labels fall back to numbers.
      this.partsOf = null;
    }
  }

  isShown(indexId: number): boolean {
    const index = app.parts.find((i) => i.id === indexId);
    return index !== undefined && !index.hidden && !this.switchedOff.includes(indexId);
  }

  toggleShown(indexId: number): void {
    this.switchedOff = this.switchedOff.includes(indexId)
      ? this.switchedOff.filter((id) => id !== indexId)
      : [...this.switchedOff, indexId];
  }

  /** Places (or with null, un-corrects) one index on the open image, undoably. The point is kept
   * inside the image. */
  async place(indexId: number, wanted: Placement): Promise<void> {
    await this.placeMany([{ indexId, placement: wanted }]);
  }

  /** Places several indices at once (every point of the image moved together), as one undoable step. */
  async placeMany(moves: ReadonlyArray<{ indexId: number; placement: Placement }>): Promise<void> {
    const open = this.editable();
    if (!open) return;
    const { detail, project } = open;
    const points = moves
      .map(({ indexId, placement }) => ({
        indexId,
        before: placementOf(this.points.get(indexId)),
        after: placement && { ...placement, ...xy(clampToImage(placement.x, placement.y, detail.image)) },
      }))
      .filter((p) => JSON.stringify(p.before) !== JSON.stringify(p.after));
    if (points.length === 0) return;
    this.stacks = history.record(historyKey(project, detail.image.id), { points });
    await this.apply(
      detail.image.id,
      points.map((p) => ({ indexId: p.indexId, placement: p.after })),
    );
  }

  /** Cycles the selected point: visible → occluded → not labelled → visible. */
  async cycleVisibility(indexId: number): Promise<void> {
    const point = this.points.get(indexId)?.effective;
    if (!point) return;
    const next: Visibility = point.visibility === 2 ? 1 : point.visibility === 1 ? 0 : 2;
    await this.place(indexId, { x: point.x, y: point.y, visibility: next });
  }

  undo(): Promise<void> {
    return this.step((key) => history.undo(key), 'before');
  }

  redo(): Promise<void> {
    return this.step((key) => history.redo(key), 'after');
  }

  private async step(
    take: (key: string) => { change: Change | undefined; stacks: Stacks },
    side: 'before' | 'after',
  ): Promise<void> {
    const open = this.editable();
    if (!open) return;
    const { project } = open;
    const imageId = open.detail.image.id;
    const { change, stacks } = take(historyKey(project, imageId));
    this.stacks = stacks;
    if (change) {
      await this.apply(
        imageId,
        change.points.map((p) => ({ indexId: p.indexId, placement: p[side] })),
      );
    }
  }

  /**
   * The image on screen and its project, when a change to it can be saved. While the next image
   * loads, the previous one's points are still here: a key pressed then (R, V, Ctrl+Z) would
   * change an image the user has left, unseen, so it changes nothing. A project open read-only
   * takes no change: the user is told, and nothing is queued to be replayed over later work.
   */
  private editable(): { detail: ImageDetail; project: string } | null {
    const detail = this.detail;
    const project = app.project;
    if (!detail || !project || detail.image.id !== app.imageId) return null;
    if (project.readOnly) {
      notices.show(
        'error',
        `Not saved: this project is open read-only (${project.readOnlyReason ?? 'it cannot be changed here'}).`,
      );
      return null;
    }
    return { detail, project: project.path };
  }

  /** Corrections of this image still on their way to the server show as made, over what it sent. */
  private showQueued(project: string, imageId: number): void {
    for (const edit of edits.pending) {
      if (edit.projectPath !== project || edit.imageId !== imageId) continue;
      if (edit.kind === 'correct') {
        for (const { partId, ...placement } of edit.points) this.showLocally(imageId, partId, placement);
      } else {
        for (const partId of edit.partIds) this.showLocally(imageId, partId, null);
      }
    }
  }

  private async apply(imageId: number, placements: Array<{ indexId: number; placement: Placement }>): Promise<void> {
    const project = app.project;
    if (!project) return;
    for (const { indexId, placement } of placements) this.showLocally(imageId, indexId, placement);
    const points = placements.flatMap(({ indexId, placement }) =>
      placement ? [{ partId: indexId, ...placement }] : [],
    );
    const partIds = placements.filter((p) => p.placement === null).map((p) => p.indexId);
    if (points.length > 0) await edits.submit(project.path, { kind: 'correct', imageId, points });
    if (partIds.length > 0) await edits.submit(project.path, { kind: 'uncorrect', imageId, partIds });
  }

  private showLocally(imageId: number, indexId: number, placement: Placement): void {
    const detail = this.detail;
    if (!detail || detail.image.id !== imageId) return;
    const corrected: Keypoint | null =
      placement === null
        ? null
        : {
            imageId,
            partId: indexId,
            source: 'corrected',
            ...placement,
            score: null,
            runId: null,
            updatedAt: new Date().toISOString(),
          };
    const old = this.points.get(indexId);
    const point: PartPoint = {
      partId: indexId,
      predicted: old?.predicted ?? null,
      corrected,
      effective: corrected ?? old?.predicted ?? null,
    };
    const others = detail.keypoints.points.filter((p) => p.partId !== indexId);
    this.detail = { ...detail, keypoints: { ...detail.keypoints, points: [...others, point] } };
  }
}

function xy([x, y]: [number, number]): { x: number; y: number } {
  return { x, y };
}

export const editor = new Editor();
