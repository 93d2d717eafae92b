// The image view as the editor tests see it: where an image pixel is on screen, a drag with the
// mouse, and what the project file holds afterwards (read from the file, not from the page).
import path from 'node:path';
import type { Page } from 'playwright-core';
import { openProjectDatabase } from '../../electron/db/database.js';

export interface Placement {
  scale: number;
  offsetX: number;
  offsetY: number;
}

export const canvas = (page: Page) => page.getByTestId('image-canvas');

export async function placement(page: Page): Promise<Placement> {
  return JSON.parse((await canvas(page).getAttribute('data-placement'))!) as Placement;
}

/** Where image pixel (x, y) is on screen, from the placement the canvas publishes. */
export async function screenPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = (await canvas(page).boundingBox())!;
  const p = await placement(page);
  return { x: box.x + p.offsetX + x * p.scale, y: box.y + p.offsetY + y * p.scale };
}

export async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }): Promise<void> {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps: 6 });
  await page.mouse.up();
}

export interface SavedCorrection {
  image: string;
  position: number;
  x: number;
  y: number;
}

/** Every hand correction in a project file, by image file name and the position of its part's index in the run. */
export function corrections(projectFile: string): SavedCorrection[] {
  const db = openProjectDatabase(projectFile);
  try {
    const rows = db.sql
      .prepare(
        `SELECT i.path AS image, n.position, c.x, c.y FROM corrections c JOIN images i ON i.id = c.image_id
         JOIN indices n ON n.part_id = c.part_id ORDER BY i.path, n.position`,
      )
      .all() as SavedCorrection[];
    return rows.map((r) => ({ ...r, image: path.basename(r.image) }));
  } finally {
    db.close();
  }
}

/** The file names of the images marked reviewed in a project file. */
export function reviewed(projectFile: string): string[] {
  const db = openProjectDatabase(projectFile);
  try {
    const rows = db.sql
      .prepare('SELECT i.path FROM image_reviews r JOIN images i ON i.id = r.image_id ORDER BY i.path')
      .all() as Array<{ path: string }>;
    return rows.map((r) => path.basename(r.path));
  } finally {
    db.close();
  }
}
