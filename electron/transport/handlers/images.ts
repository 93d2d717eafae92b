// The project's images: the grid's pages, one image with its points, and the image files.
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../../services/imageFiles.js';
import { ApiError } from '../../common/api/errors.js';
import type { Handlers } from '../dispatcher.js';
import { isRegularFile, NotRegularFileError, readRegularFile } from '../regular-file.js';
import type { SessionContext } from './context.js';
import type { ImageFile, ImageRecord, Keypoint } from '../../common/api/types.js';

const mimeOf: Record<ImageRecord['format'], string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

function missingFile(image: ImageRecord): ApiError {
  return new ApiError(
    'not-found',
    `The image file ${image.absolutePath} is missing (moved or deleted); its keypoints are kept.`,
  );
}

/** Far more than any image file: a bigger file under an image's name is something else put there. */
const maxImageFileBytes = 512 << 20;

/** The bytes of the image's file, refused when it is missing or no longer a regular file. */
async function readBytes(image: ImageRecord, file: string): Promise<Buffer> {
  try {
    return await readRegularFile(file, maxImageFileBytes);
  } catch (error) {
    if (error instanceof NotRegularFileError)
      throw new ApiError('not-found', `${error.message}: no longer the image it was; its keypoints are kept.`);
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
    new ApiError(
      'not-found',
      `${image.absolutePath} is no longer a ${image.format} image${why}; its keypoints are kept.`,
    );
  // Decoding the header proves the file is still the image we listed, not something put in its place.
  const meta = await sharp(bytes)
    .metadata()
    .catch(() => null);
  if (meta?.format !== image.format) throw changed('');
  const fits = maxSide === undefined || Math.max(image.width, image.height) <= maxSide;
  if (fits && image.orientation === 1) return { mime, bytes };
  // Decoding costs memory by pixels, not by file size: a 1 MB PNG can hold 16383² pixels.
  if (image.width * image.height > MAX_IMAGE_PIXELS) {
    throw new ApiError(
      'bad-input',
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

export function imageHandlers({
  services,
  events,
  allowed,
  transport,
}: SessionContext): Pick<Handlers, 'images.list' | 'images.setReviewed' | 'images.get' | 'images.file'> {
  async function effectivePoints(imageId: number): Promise<Keypoint[]> {
    const { points } = await services.keypoints.getKeypoints(imageId);
    return points.flatMap((p) => (p.effective ? [p.effective] : []));
  }

  // A served project's image paths come from files anyone may have written (a COCO file_name can be
  // absolute or climb out with ../), so the browser gets only what lies inside the allowed folders,
  // by real path. The desktop window shows its own user the files they chose on their own machine.
  const sandboxed = transport === 'http';

  /** The real path to read, or null when the image lies outside the allowed folders. */
  function readablePath(image: ImageRecord): string | null {
    return sandboxed ? allowed.realPathInside(image.absolutePath) : image.absolutePath;
  }

  return {
    'images.list': async (query) => {
      const page = await services.images.list(query);
      const items = await Promise.all(
        page.items.map(async (item) => ({ ...item, points: await effectivePoints(item.id) })),
      );
      return { total: page.total, offset: page.offset, items };
    },

    'images.setReviewed': async ({ ids, reviewed }) => {
      const changed = await services.images.setReviewed(ids, reviewed);
      events.emit('project.edited', { part: 'reviews' });
      return changed;
    },

    'images.get': async ({ id }) => {
      const image = await services.images.get(id);
      const file = readablePath(image);
      return {
        image,
        // Outside the allowed folders it is unavailable here, whether or not it exists there.
        fileExists: file !== null && (await isRegularFile(file)),
        keypoints: await services.keypoints.getKeypoints(id),
        groundTruth: await services.groundTruth.forImage(id),
        reviewed: await services.images.isReviewed(id),
      };
    },

    'images.file': async ({ id, maxSide }) => {
      const image = await services.images.get(id);
      const file = readablePath(image);
      if (file === null) {
        // One message whatever is (or is not) at that path, so it cannot be used to probe the machine.
        throw new ApiError(
          'forbidden',
          `The image file of ${image.path} is outside the folders this server may read (${allowed.list().join(', ')}); ` +
            'its keypoints are kept. Restart `skp serve` with --allow for its folder to see it.',
        );
      }
      return readImage(image, file, maxSide);
    },
  };
}
