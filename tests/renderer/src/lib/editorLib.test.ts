// The image editor's pure parts: the undo history kept per (project, image), and the zoom and pan
// arithmetic every wheel, drag and click goes through.
import { describe, expect, it } from 'vitest';
import {
  changesPerImage,
  historyKey,
  imagesRemembered,
  UndoHistory,
  type Change,
  type KeyValueStore,
} from '../../../../renderer/src/lib/history.js';
import { clampToImage, fit, insideImage, oneToOne, panBy, zoomAt } from '../../../../renderer/src/lib/viewport.js';
import { toCanvas, toImage } from '../../../../renderer/src/lib/draw.js';

/** sessionStorage's part that the history uses, in memory; a reload is a new UndoHistory on it. */
function memoryStore(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

const move = (indexId: number, x: number): Change => ({
  points: [{ indexId, before: null, after: { x, y: 1, visibility: 2 } }],
});

describe('undo history per project and image', () => {
  it('keeps each image its own stacks, apart from other images and other projects', () => {
    const h = new UndoHistory(memoryStore());
    const a1 = historyKey('/p/a.skp', 1);
    h.record(a1, move(1, 10));
    expect(h.stacks(historyKey('/p/a.skp', 2))).toEqual({ undo: [], redo: [] });
    expect(h.undo(historyKey('/p/a.skp', 2)).change).toBeUndefined();
    expect(h.stacks(a1).undo).toHaveLength(1);

    const undone = h.undo(a1);
    expect(undone.change).toEqual(move(1, 10));
    expect(undone.stacks).toEqual({ undo: [], redo: [move(1, 10)] });
    expect(h.redo(historyKey('/p/b.skp', 1)).change).toBeUndefined();
    expect(h.stacks(a1).redo).toHaveLength(1);
  });

  it('drops the redo stack on a new change, and survives a reload', () => {
    const store = memoryStore();
    const key = historyKey('/p/a.skp', 3);
    const h = new UndoHistory(store);
    h.record(key, move(1, 1));
    h.record(key, move(1, 2));
    h.undo(key);
    expect(h.record(key, move(2, 5))).toEqual({ undo: [move(1, 1), move(2, 5)], redo: [] });
    expect(new UndoHistory(store).stacks(key)).toEqual({ undo: [move(1, 1), move(2, 5)], redo: [] });
  });

  it('is bounded: the oldest changes and the least recently used images go first', () => {
    const store = memoryStore();
    const h = new UndoHistory(store);
    const key = historyKey('/p/a.skp', 0);
    for (let i = 0; i < changesPerImage + 5; i++) h.record(key, move(1, i));
    const { undo } = h.stacks(key);
    expect(undo).toHaveLength(changesPerImage);
    expect(undo[0]).toEqual(move(1, 5));
    for (let i = 1; i <= imagesRemembered; i++) h.record(historyKey('/p/a.skp', i), move(1, i));
    expect(h.stacks(key).undo).toEqual([]);
    expect(h.stacks(historyKey('/p/a.skp', 1)).undo).toHaveLength(1);
  });

  it('reads the one-point changes a tab kept before a step could move several points', () => {
    const store = memoryStore();
    const key = historyKey('/p/a.skp', 4);
    const bare = { indexId: 3, before: null, after: { x: 7, y: 8, visibility: 1 } };
    store.data.set('skp.undo-history', JSON.stringify([[key, { undo: [bare], redo: [] }]]));
    const h = new UndoHistory(store);
    expect(h.undo(key).change).toEqual({ points: [bare] });
    expect(h.redo(key).change).toEqual({ points: [bare] });
  });

  it('starts empty from unreadable storage instead of failing', () => {
    const store = memoryStore();
    store.data.set('skp.undo-history', '{not json');
    expect(new UndoHistory(store).stacks(historyKey('/p', 1))).toEqual({ undo: [], redo: [] });
  });
});

describe('zoom and pan', () => {
  const image = { width: 4000, height: 3000 };
  const box = { width: 1100, height: 780 };

  it('fits the image inside the box with a margin', () => {
    const p = fit(image, box, 24);
    expect(p.scale).toBeCloseTo(732 / 3000, 10);
    expect(toCanvas(p, 0, 0)[1]).toBeCloseTo(24, 10);
    expect(toCanvas(p, 2000, 1500)).toEqual([550, 390]);
  });

  it('zooms about the pointer: the image pixel under it stays under it', () => {
    const p = fit(image, box, 24);
    const under = toImage(p, 300, 200);
    const q = zoomAt(p, 3, 300, 200, image, box);
    expect(q.scale).toBeCloseTo(p.scale * 3, 10);
    const [x, y] = toCanvas(q, ...under);
    expect(x).toBeCloseTo(300, 9);
    expect(y).toBeCloseTo(200, 9);
    expect(zoomAt(q, 1e6, 0, 0, image, box).scale).toBe(32);
    expect(zoomAt(q, 1e-6, 0, 0, image, box).scale).toBeGreaterThan(0.1);
  });

  it('goes to 1:1 on whole canvas pixels, keeping the point under the pointer within a pixel', () => {
    const p = fit(image, box, 24);
    const under = toImage(p, 413.7, 287.2);
    const q = oneToOne(p, 413.7, 287.2);
    expect(q.scale).toBe(1);
    expect(Number.isInteger(q.offsetX) && Number.isInteger(q.offsetY)).toBe(true);
    const [x, y] = toCanvas(q, ...under);
    expect(Math.abs(x - 413.7)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(y - 287.2)).toBeLessThanOrEqual(0.5);
    expect(panBy(q, -150, 40)).toEqual({ scale: 1, offsetX: q.offsetX - 150, offsetY: q.offsetY + 40 });
  });

  it('keeps points on the image: its edges count as inside, beyond them is clamped', () => {
    expect(clampToImage(-23.3, 10, image)).toEqual([0, 10]);
    expect(clampToImage(4100, 3200, image)).toEqual([4000, 3000]);
    expect(insideImage(4000, 0, image)).toBe(true);
    expect(insideImage(-0.1, 5, image)).toBe(false);
  });
});
