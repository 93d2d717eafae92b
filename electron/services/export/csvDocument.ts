// The keypoints as one CSV table, a row per image and part, for spreadsheets and pandas. It is
// made from the COCO document of the same export, so the two files never disagree: same images,
// parts, order, rounding and visibility. A point not labelled (v = 0) has empty x and y rather
// than COCO's 0, 0, which a spreadsheet would take for a corner of the image.
import type { CocoDocument } from '../../common/coco.js';

export const CSV_COLUMNS = [
  'image',
  'image_id',
  'category',
  'part',
  'part_order',
  'x',
  'y',
  'visibility',
  'source',
  'score',
] as const;

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function field(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export interface CsvTable {
  text: string;
  rows: number;
}

export function csvFromCoco(doc: CocoDocument): CsvTable {
  const images = new Map(doc.images.map((image) => [image.id, image]));
  const categories = new Map(doc.categories.map((category) => [category.id, category]));
  const lines = [CSV_COLUMNS.join(',')];
  for (const annotation of doc.annotations) {
    const image = images.get(annotation.image_id)!;
    const category = categories.get(annotation.category_id)!;
    category.keypoints.forEach((part, k) => {
      const [x, y, v] = annotation.keypoints.slice(3 * k, 3 * k + 3) as [number, number, number];
      const labelled = v > 0;
      lines.push(
        [
          image.file_name,
          image.id,
          category.name,
          part,
          k + 1,
          labelled ? x : null,
          labelled ? y : null,
          v,
          annotation.keypoint_sources?.[k],
          annotation.keypoint_scores?.[k],
        ]
          .map(field)
          .join(','),
      );
    });
  }
  return { text: lines.join('\r\n') + '\r\n', rows: lines.length - 1 };
}
