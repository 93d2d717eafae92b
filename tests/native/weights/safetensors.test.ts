import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSafetensors, writeSafetensors, SafetensorsError } from '../../../native/weights/safetensors.js';
import { float32ToHalfBits, float32ToBfloat16Bits, halfToFloat32 } from '../../../native/weights/float16.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skp-st-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes a file with an arbitrary header (object or raw string) followed by `dataBytes` bytes. */
function rawFile(name: string, header: unknown, dataBytes: number, headerLength?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return p;
}

const entry = (dtype: string, shape: unknown[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

describe('safetensors reader on hostile files', () => {
  const reject = (p: string, ...fragments: string[]) => {
    let message = '';
    try {
      openSafetensors(p);
    } catch (e) {
      expect(e).toBeInstanceOf(SafetensorsError);
      message = (e as Error).message;
    }
    expect(message, 'file should be rejected').not.toBe('');
    expect(message).toContain(p);
    for (const f of fragments) expect(message).toContain(f);
  };

  it('rejects a file shorter than the length prefix', () => {
    const p = path.join(dir, 'tiny.safetensors');
    fs.writeFileSync(p, Buffer.from([1, 2, 3]));
    reject(p, 'too short');
  });

  it('rejects a header length beyond the file, huge, or below 2', () => {
    reject(rawFile('beyond.safetensors', { a: entry('F32', [1], 0, 4) }, 4, 1000n), 'header length 1000');
    reject(rawFile('huge.safetensors', {}, 0, 2n ** 63n), 'header length');
    reject(rawFile('small.safetensors', '{}', 0, 1n), 'header length 1');
  });

  it('rejects a truncated file whose tensors run past the end', () => {
    const p = rawFile('trunc.safetensors', { w: entry('F32', [4], 0, 16) }, 10);
    reject(p, "'w'", 'truncated');
  });

  it('rejects headers that are not a JSON object', () => {
    reject(rawFile('notjson.safetensors', '{"a": [1, 2', 0), 'not valid JSON');
    reject(rawFile('array.safetensors', '[1, 2, 3]', 0), 'not a JSON object');
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(4n);
    const p = path.join(dir, 'utf.safetensors');
    fs.writeFileSync(p, Buffer.concat([len, bytes]));
    reject(p, 'not valid JSON');
  });

  it('rejects offsets outside the data section, reversed, or overlapping', () => {
    reject(rawFile('outside.safetensors', { w: entry('F32', [2], 8, 16) }, 12), "'w'", 'past the data section');
    reject(rawFile('reversed.safetensors', { w: entry('F32', [0], 8, 4) }, 12), "'w'", 'end before');
    reject(
      rawFile('overlap.safetensors', { a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, 12),
      "'b' overlaps tensor 'a'",
    );
    reject(rawFile('negoff.safetensors', { w: entry('F32', [1], -4, 0) }, 4), "'w'", 'data_offsets');
    reject(rawFile('oneoff.safetensors', { w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), "'w'", 'pair');
  });

  it('rejects dtype, shape and byte-length mismatches', () => {
    reject(rawFile('dtype.safetensors', { w: entry('F33', [1], 0, 4) }, 4), "'w'", 'unknown dtype');
    reject(rawFile('len.safetensors', { w: entry('F16', [3], 0, 4) }, 4), "'w'", 'holds 4 bytes', 'needs 6');
    reject(rawFile('neg.safetensors', { w: entry('F32', [-1, 2], 0, 4) }, 4), "'w'", 'non-negative integer');
    reject(rawFile('frac.safetensors', { w: entry('F32', [1.5, 2], 0, 12) }, 12), "'w'", 'non-negative integer');
    reject(rawFile('strdim.safetensors', { w: entry('F32', ['2'], 0, 8) }, 8), "'w'", 'non-negative integer');
    reject(rawFile('noshape.safetensors', { w: { dtype: 'F32', data_offsets: [0, 4] } }, 4), "'w'", 'shape');
    reject(rawFile('bigshape.safetensors', { w: entry('F64', [2 ** 40, 2 ** 20], 0, 8) }, 8), "'w'", 'too large');
  });

  it('rejects metadata that is not a string map', () => {
    reject(rawFile('meta.safetensors', { __metadata__: { a: 1 } }, 0), '__metadata__');
  });

  it('accepts metadata, empty tensors and scalars', () => {
    const p = rawFile(
      'ok.safetensors',
      { __metadata__: { format: 'pt' }, e: entry('F32', [0, 3], 0, 0), s: entry('F32', [], 0, 4) },
      4,
    );
    const f = openSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.names().sort()).toEqual(['e', 's']);
    expect(f.info('s')).toMatchObject({ dtype: 'F32', shape: [], byteLength: 4 });
    expect(f.readFloat32('e').length).toBe(0);
    expect(() => f.info('missing')).toThrow(/no tensor named 'missing'/);
  });
});

describe('safetensors round trip', () => {
  it('writes and reads F32, F16 and BF16 with absolute offsets', () => {
    const values = Float32Array.from([0, 1, -2.5, 1e-3, 65504, 3.14159, -0.1, 1e-8]);
    const p = path.join(dir, 'rt.safetensors');
    writeSafetensors(
      p,
      {
        a: { dtype: 'F32', shape: [2, 4], data: values },
        b: { dtype: 'F16', shape: [8], data: values },
        c: { dtype: 'BF16', shape: [4, 2], data: values },
      },
      { note: 'test' },
    );
    const f = openSafetensors(p);
    expect(f.metadata).toEqual({ note: 'test' });
    expect(f.readFloat32('a')).toEqual(values);
    const b = f.readFloat32('b');
    const c = f.readFloat32('c');
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      expect(Math.abs(b[i]! - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
      expect(Math.abs(c[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
    }
    // The byte offset is absolute: reading the raw file there gives the same float32 bytes.
    const info = f.info('a');
    const raw = fs.readFileSync(p).subarray(info.byteOffset, info.byteOffset + info.byteLength);
    expect(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length))).toEqual(values);
    expect(info.byteOffset % 8).toBe(0);
  });
});

describe('float16 rounding', () => {
  it('rounds to nearest, ties to even, in normal and subnormal ranges', () => {
    expect(float32ToHalfBits(1)).toBe(0x3c00);
    // 1 + 2^-11 is exactly halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(float32ToHalfBits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is halfway between odd 1+2^-10 and even 1+2^-9: goes up.
    expect(float32ToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToHalfBits(65504)).toBe(0x7bff);
    expect(float32ToHalfBits(65520)).toBe(0x7c00);
    expect(float32ToHalfBits(-Infinity)).toBe(0xfc00);
    expect(float32ToHalfBits(2 ** -24)).toBe(0x0001);
    expect(float32ToHalfBits(2 ** -25)).toBe(0x0000);
    expect(float32ToHalfBits(3 * 2 ** -25)).toBe(0x0002);
    expect(float32ToHalfBits(2 ** -14)).toBe(0x0400);
    expect(Number.isNaN(halfToFloat32(Uint16Array.of(float32ToHalfBits(NaN)))[0])).toBe(true);
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it('agrees with exhaustive decode for every half value', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const decoded = halfToFloat32(all);
    const mismatches: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = decoded[h]!;
      if (!Number.isNaN(v) && float32ToHalfBits(v) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });
});
