// Names the user gives (keypoint indices, projects): one schema for the API's edge and the services,
// so both accept the same names. They become COCO keypoint and category names and labels on screen,
// so control characters (NUL ends a string in SQLite) and bidirectional overrides (which make a
// name read differently from what it is) are refused.
import { z } from 'zod';

/** C0/C1 controls, and the Unicode bidirectional embedding/override/isolate marks. */
const forbidden = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

function userName(maxLength: number) {
  return z
    .string()
    .trim()
    .max(maxLength, `at most ${maxLength} characters`)
    .refine((name) => !forbidden.test(name), 'no control or text-direction characters');
}

/** An index name; '' (after trimming) clears it back to the default name. */
export const indexNameSchema = userName(100);

export const projectNameSchema = userName(200).min(1, 'a name is required');
