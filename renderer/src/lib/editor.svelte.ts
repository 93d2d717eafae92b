// The image view's state: the image with its points, which index is selected and shown, the heat
// map, and undo/redo of corrections. A change shows at once and is saved through the edit queue.
import { api, CallError } from '../api/index.js';
import type { ImageDetail, PartPoint, Keypoint, Visibility } from '../../../electron/api/types.js';
import { edits } from './edits.svelte.js';
import { app } from './project.svelte.js';

/** A hand-placed point; null means "no correction": the prediction shows. */
export type Placement = { x: number; y: number; visibility: Visibility } | null;

interface Change {
  imageId: number;
  indexId: number;
  before: Placement;
  after: Placement;
}

function placementOf(point: PartPoint | undefined): Placement {
  const c = point?.corrected;
  return c ? { x: c.x, y: c.y, visibility: c.visibility } : null;
}

class Editor {
  detail = $state<ImageDetail | null>(null);
  /** Why the image could not be loaded at all (e.g. removed from the project). */
  loadError = $state<string | null>(null);
  selectedIndexId = $state<number | null>(null);
  /** Indices switched off in this view only (the project's "hidden" is set in the index panel). */
  switchedOff = $state<number[]>([]);
  heatMapOn = $state(false);
  heatMapOpacity = $state(0.6);
  undoStack = $state<Change[]>([]);
  redoStack = $state<Change[]>([]);

  /** Points of the image by index id. */
  points = $derived(new Map((this.detail?.keypoints.points ?? []).map((p) => [p.partId, p])));

  async load(imageId: number): Promise<void> {
    try {
      const detail = await api.call('images.get', { id: imageId });
      if (app.imageId === imageId) {
        this.detail = detail;
        this.loadError = null;
      }
    } catch (error) {
      // While the server is away, keep showing (and editing) what is already here.
      if (error instanceof CallError && error.code === 'offline' && this.detail?.image.id === imageId) return;
      this.detail = null;
      this.loadError = (error as Error).message;
    }
    if (this.selectedIndexId === null || !app.parts.some((i) => i.id === this.selectedIndexId)) {
      this.selectedIndexId = app.ordered.find((i) => !i.hidden)?.id ?? null;
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

  /** Places (or with null, un-corrects) one index on the open image, undoably. */
  async place(indexId: number, after: Placement): Promise<void> {
    const detail = this.detail;
    if (!detail) return;
    const before = placementOf(this.points.get(indexId));
    if (JSON.stringify(before) === JSON.stringify(after)) return;
    this.redoStack = [];
    this.undoStack = [...this.undoStack, { imageId: detail.image.id, indexId, before, after }];
    await this.apply(detail.image.id, indexId, after);
  }

  /** Cycles the selected point: visible → occluded → not labelled → visible. */
  async cycleVisibility(indexId: number): Promise<void> {
    const point = this.points.get(indexId)?.effective;
    if (!point) return;
    const next: Visibility = point.visibility === 2 ? 1 : point.visibility === 1 ? 0 : 2;
    await this.place(indexId, { x: point.x, y: point.y, visibility: next });
  }

  async undo(): Promise<void> {
    const change = this.undoStack.at(-1);
    if (!change) return;
    this.undoStack = this.undoStack.slice(0, -1);
    this.redoStack = [...this.redoStack, change];
    await this.apply(change.imageId, change.indexId, change.before);
  }

  async redo(): Promise<void> {
    const change = this.redoStack.at(-1);
    if (!change) return;
    this.redoStack = this.redoStack.slice(0, -1);
    this.undoStack = [...this.undoStack, change];
    await this.apply(change.imageId, change.indexId, change.after);
  }

  private async apply(imageId: number, indexId: number, placement: Placement): Promise<void> {
    const project = app.project;
    if (!project) return;
    this.showLocally(imageId, indexId, placement);
    await edits.submit(
      project.path,
      placement === null
        ? { kind: 'uncorrect', imageId, partIds: [indexId] }
        : { kind: 'correct', imageId, points: [{ partId: indexId, ...placement }] },
    );
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

export const editor = new Editor();
