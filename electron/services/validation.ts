// Validation of outside input at the service boundary: one zod schema per input, and error
// messages that name the field (`annotations[3].keypoints`) and the file it came from.

import { z } from 'zod';
import { badInput } from '../common/errors.js';

/**
 * `text` as it can be shown in a message: control and invisible format characters (a byte-order
 * mark, a right-to-left override, NUL) written as \u{…}, so the message shows what is really there.
 */
export function visible(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u{${(c.codePointAt(0) as number).toString(16)}}`);
}

/** How far outside its image a keypoint or box may reach, in percent of the image's side: annotators click just past the edge. */
export const IMAGE_MARGIN_PERCENT = 10;

/**
 * A point (x, y) in the pixels of a `width`×`height` image, up to IMAGE_MARGIN_PERCENT outside it: the
 * bound on imported labels and on predictions (a label may sit just past the edge). Hand corrections
 * are held to the image itself (KeypointService.setCorrected). Extra fields pass through.
 */
export function imagePointSchema(width: number, height: number) {
  const axis = (size: number, side: string) => {
    const margin = (size * IMAGE_MARGIN_PERCENT) / 100;
    const low = -margin;
    const high = size + margin;
    return z
      .number()
      .refine(Number.isFinite, 'must be a finite number')
      .refine(
        (v) => v >= low && v <= high,
        `must lie within the image (${size} px ${side}, ${IMAGE_MARGIN_PERCENT} % margin: ${low} to ${high})`,
      );
  };
  return z.looseObject({ x: axis(width, 'wide'), y: axis(height, 'high') });
}

/** `["annotations", 3, "keypoints"]` → `annotations[3].keypoints`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(top level)';
}

/** Parses `value` or throws one bad-input error naming `where` and the first wrong field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problems)` : '';
  throw badInput(`${where}: ${fieldPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}${more}`);
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

class SyntaxAt {
  constructor(readonly offset: number) {}
}

/**
 * Offset of the first JSON syntax error in `text`, or null if it is valid. Node's own
 * JSON.parse message does not always say where, and users need the line.
 */
export function jsonErrorOffset(text: string): number | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw new SyntaxAt(i);
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!match) fail();
    i += (match as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else number();
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (e) {
    if (e instanceof SyntaxAt) return e.offset;
    return null;
  }
}

/** JSON.parse with an error that names the file, line and column. */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const offset = jsonErrorOffset(text);
    let where = '';
    if (offset !== null) {
      const { line, column } = lineAndColumn(text, offset);
      where = ` at line ${line}, column ${column}`;
    }
    throw badInput(`${file} is not valid JSON${where}: ${visible((e as Error).message.split('\n')[0] as string)}`);
  }
}
