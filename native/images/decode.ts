// Image files → the engine's input: float32 [3, S, S] in [0, 1], channel-major (CHW).
//
// The whole picture is squeezed to S×S (sharp `fit: 'fill'`, no crop, no padding) with a
// cubic kernel, as the reference resizes every image to S×S regardless of aspect ratio; the
// original size is kept so a point found on the S×S grid maps back to the file's pixels.
// Pixels stay in their stored orientation (EXIF rotation is not applied) because the
// project's keypoints are in stored pixels. Transparency is flattened onto white.
import sharp, { type OutputInfo } from 'sharp';

export interface DecodedImage {
  /** float32 [3, size, size], values in [0, 1]. */
  pixels: Float32Array;
  size: number;
  /** The file's own pixel size. */
  width: number;
  height: number;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}`);
    this.name = 'ImageDecodeError';
  }
}

export function decodeImage(file: string, size: number): Promise<DecodedImage> {
  return decode(file, file, size);
}

/** An image file's bytes, sent from elsewhere (a worker's input); `name` says which file in errors. */
export function decodeImageBytes(bytes: Uint8Array, name: string, size: number): Promise<DecodedImage> {
  return decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), name, size);
}

async function decode(input: string | Buffer, file: string, size: number): Promise<DecodedImage> {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`decodeImage: size must be a positive integer, got ${size}`);
  let raw: { data: Buffer; info: OutputInfo };
  let width: number;
  let height: number;
  try {
    const image = sharp(input, { failOn: 'error' });
    const meta = await image.metadata();
    if (!meta.width || !meta.height) throw new Error('no pixel size in the file');
    width = meta.width;
    height = meta.height;
    raw = await image
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'fill', kernel: 'cubic' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageDecodeError(file, code ? `cannot be read (${code})` : (e as Error).message.split('\n')[0]!);
  }
  const { data, info } = raw;
  if (info.channels !== 3) throw new ImageDecodeError(file, `decoded to ${info.channels} channels, expected 3`);
  const area = size * size;
  const pixels = new Float32Array(3 * area);
  for (let i = 0; i < area; i++) for (let c = 0; c < 3; c++) pixels[c * area + i] = data[i * 3 + c]! / 255;
  return { pixels, size, width, height };
}

/**
 * A normalised point (y, x in [0, 1] of the S×S grid) in the file's pixels: x right, y down,
 * origin at the top-left corner of the top-left pixel. Because the grid is a stretch of the
 * whole image, this is a plain scale per axis.
 */
export function toImagePixels(
  point: { y: number; x: number },
  width: number,
  height: number,
): { x: number; y: number } {
  return { x: point.x * width, y: point.y * height };
}

/** The inverse of toImagePixels. */
export function toNormalised(point: { x: number; y: number }, width: number, height: number): { y: number; x: number } {
  return { y: point.y / height, x: point.x / width };
}
