// Undo and redo belong to one image of one project: each (project file, image) has its own two
// stacks, so Ctrl+Z never reaches an image that is not on screen, nor another project. They are
// kept in the tab's sessionStorage, so a reload keeps them; both the stacks and the number of
// images remembered are bounded, oldest dropped first.
import type { Visibility } from '../../../electron/common/api/types.js';

/** A hand-placed point; null means "no correction": the prediction shows. */
export type Placement = { x: number; y: number; visibility: Visibility } | null;

export interface PointChange {
  indexId: number;
  before: Placement;
  after: Placement;
}

/** One undoable step: one point dragged, or every point of the image moved together. */
export interface Change {
  points: PointChange[];
}

export interface Stacks {
  undo: Change[];
  redo: Change[];
}

/** What the history needs of sessionStorage. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const changesPerImage = 100;
export const imagesRemembered = 200;
const storageKey = 'skp.undo-history';

/** One entry per image, least recently used first. */
type Saved = Array<[string, Stacks]>;

/** A change as this tab may have kept it before a step could hold several points: one point, bare. */
function oneStep(change: Change | PointChange): Change {
  return 'points' in change ? change : { points: [change] };
}

export function historyKey(projectPath: string, imageId: number): string {
  return `${projectPath}#${imageId}`;
}

export class UndoHistory {
  constructor(private readonly store: KeyValueStore) {}

  private read(): Map<string, Stacks> {
    try {
      const saved = JSON.parse(this.store.getItem(storageKey) ?? '[]') as Saved;
      return new Map(saved.map(([key, s]) => [key, { undo: s.undo.map(oneStep), redo: s.redo.map(oneStep) }]));
    } catch {
      return new Map();
    }
  }

  private write(all: Map<string, Stacks>): void {
    const entries = [...all].filter(([, s]) => s.undo.length + s.redo.length > 0).slice(-imagesRemembered);
    try {
      this.store.setItem(storageKey, JSON.stringify(entries));
    } catch {
      // Storage full: the stacks still work in this page, they just would not survive a reload.
    }
  }

  stacks(key: string): Stacks {
    return this.read().get(key) ?? { undo: [], redo: [] };
  }

  private update(key: string, change: (s: Stacks) => Stacks): Stacks {
    const all = this.read();
    const next = change(all.get(key) ?? { undo: [], redo: [] });
    all.delete(key);
    all.set(key, { undo: next.undo.slice(-changesPerImage), redo: next.redo.slice(-changesPerImage) });
    this.write(all);
    return all.get(key) as Stacks;
  }

  /** A new change: it can be undone; what was undone before can no longer be redone. */
  record(key: string, change: Change): Stacks {
    return this.update(key, (s) => ({ undo: [...s.undo, change], redo: [] }));
  }

  /** The change to undo, now moved to the redo stack; undefined when there is none. */
  undo(key: string): { change: Change | undefined; stacks: Stacks } {
    let change: Change | undefined;
    const stacks = this.update(key, (s) => {
      change = s.undo.at(-1);
      return change ? { undo: s.undo.slice(0, -1), redo: [...s.redo, change] } : s;
    });
    return { change, stacks };
  }

  redo(key: string): { change: Change | undefined; stacks: Stacks } {
    let change: Change | undefined;
    const stacks = this.update(key, (s) => {
      change = s.redo.at(-1);
      return change ? { undo: [...s.undo, change], redo: s.redo.slice(0, -1) } : s;
    });
    return { change, stacks };
  }
}
