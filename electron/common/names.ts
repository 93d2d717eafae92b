// Names the user gives (parts, projects): one schema for the API's edge and the services,
// so both accept the same names. They become COCO keypoint and category names and labels on screen,
// so control characters (NUL ends a string in SQLite), invisible format characters and
// bidirectional overrides (which make a name read differently from what it is) are refused.
import { z } from 'zod';

/** Controls (Cc), format characters (Cf: bidirectional marks, zero-width joiners…) and line/paragraph separators. */
const forbidden = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function userName(maxLength: number) {
  return z
    .string()
    .trim()
    .max(maxLength, `at most ${maxLength} characters`)
    .refine((name) => !forbidden.test(name), 'must not contain control or invisible characters');
}

/** A part name; '' (after trimming) clears it back to the default name. */
export const partNameSchema = userName(100);

export const projectNameSchema = userName(200).min(1, 'a name is required');
