// The image files the views show: the stored file's bytes, or a smaller copy, always in the
// stored pixel orientation (the one keypoints are in). Which path may be read is the caller's
// rule (the server reads only inside the folders it was allowed); this module only reads.
import sharp from 'sharp';
import { badInput, notFound, type ServiceError } from '../common/errors.js';
import type { ImageFile, ImageRecord } from '../common/api/types.js';
import { MAX_IMAGE_PIXELS } from './imageFiles.js';
import { isRegularFile, NotRegularFileError, readRegularFile } from './regularFile.js';

const mimeOf: Record<ImageRecord['format'], string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

function missingFile(image: ImageRecord): ServiceError {
  return notFound(`The image file ${image.absolutePath} is missing (moved or deleted); its keypoints are kept.`);
}

/** Far more than any image file: a bigger file under an image's name is something else put there. */
const maxImageFileBytes = 512 << 20;

/** The bytes of the image's file, refused when it is missing or no longer a regular file. */
async function readBytes(image: ImageRecord, file: string): Promise<Buffer> {
  try {
    return await readRegularFile(file, maxImageFileBytes);
  } catch (error) {
    if (error instanceof NotRegularFileError)
      throw notFound(`${error.message}: no longer the image it was; its keypoints are kept.`);
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw missingFile(image);
    throw error;
  }
}

/**
 * The file in its stored pixel orientation (keypoints are in those pixels): the original bytes
 * when nothing needs changing, else a copy made by sharp, which drops the EXIF orientation.
 */
async function readImage(image: ImageRecord, file: string, maxSide: number | undefined): Promise<ImageFile> {
  const bytes = await readBytes(image, file);
  const mime = mimeOf[image.format];
  const changed = (why: string) =>
    notFound(`${image.absolutePath} is no longer a ${image.format} image${why}; its keypoints are kept.`);
  // Decoding the header proves the file is still the image we listed, not something put in its place.
  const meta = await sharp(bytes)
    .metadata()
    .catch(() => null);
  if (meta?.format !== image.format) throw changed('');
  const fits = maxSide === undefined || Math.max(image.width, image.height) <= maxSide;
  if (fits && image.orientation === 1) return { mime, bytes };
  // Decoding costs memory by pixels, not by file size: a 1 MB PNG can hold 16383² pixels.
  if (image.width * image.height > MAX_IMAGE_PIXELS) {
    throw badInput(
      `${image.absolutePath} has ${image.width}×${image.height} pixels, over the ${MAX_IMAGE_PIXELS / 1e6} megapixels the view decodes`,
    );
  }
  let pipeline = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS });
  if (!fits) pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside' });
  const encoded =
    image.format === 'png'
      ? pipeline.png()
      : image.format === 'webp'
        ? pipeline.webp({ quality: 85 })
        : pipeline.jpeg({ quality: 85 });
  try {
    return { mime, bytes: await encoded.toBuffer() };
  } catch (error) {
    // A damaged file can have a good header; its pixels are found broken only here.
    throw changed(` (${(error as Error).message.split('\n')[0]})`);
  }
}

export class ImageFileService {
  /** True when `file` is a regular file (a FIFO or device under an image's name is not). */
  exists(file: string): Promise<boolean> {
    return isRegularFile(file);
  }

  /** The image's file at `file`; `maxSide` asks for a smaller copy (thumbnails). */
  read(image: ImageRecord, file: string, maxSide: number | undefined): Promise<ImageFile> {
    return readImage(image, file, maxSide);
  }
}
