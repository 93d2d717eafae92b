// The project's images: the grid's pages, one image with its points, and the image files.
import fs from 'node:fs';
import sharp from 'sharp';
import { ApiError } from '../errors.js';
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from '../session.js';
import type { ImageFile, ImageRecord, Keypoint } from '../types.js';

const mimeOf: Record<ImageRecord['format'], string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

function missingFile(image: ImageRecord): ApiError {
  return new ApiError(
    'not-found',
    `The image file ${image.absolutePath} is missing (moved or deleted); its keypoints are kept.`,
  );
}

/**
 * The file in its stored pixel orientation (keypoints are in those pixels): the original bytes
 * when nothing needs changing, else a copy made by sharp, which drops the EXIF orientation.
 */
async function readImage(image: ImageRecord, maxSide: number | undefined): Promise<ImageFile> {
  if (!fs.existsSync(image.absolutePath)) throw missingFile(image);
  const mime = mimeOf[image.format];
  const fits = maxSide === undefined || Math.max(image.width, image.height) <= maxSide;
  if (fits && image.orientation === 1) {
    // Decoding the header proves the file is still the image we listed, not something put in its place.
    const meta = await sharp(image.absolutePath).metadata();
    if (meta.format !== image.format)
      throw new ApiError('not-found', `${image.absolutePath} is no longer a ${image.format} image.`);
    return { mime, bytes: await fs.promises.readFile(image.absolutePath) };
  }
  let pipeline = sharp(image.absolutePath);
  if (!fits) pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside' });
  if (image.format === 'png') return { mime, bytes: await pipeline.png().toBuffer() };
  if (image.format === 'webp') return { mime, bytes: await pipeline.webp({ quality: 85 }).toBuffer() };
  return { mime, bytes: await pipeline.jpeg({ quality: 85 }).toBuffer() };
}

export function imageHandlers({
  services,
  events,
}: SessionContext): Pick<Handlers, 'images.list' | 'images.setReviewed' | 'images.get' | 'images.file'> {
  async function effectivePoints(imageId: number): Promise<Keypoint[]> {
    const { points } = await services.keypoints.getKeypoints(imageId);
    return points.flatMap((p) => (p.effective ? [p.effective] : []));
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
      return {
        image,
        fileExists: fs.existsSync(image.absolutePath),
        keypoints: await services.keypoints.getKeypoints(id),
        groundTruth: await services.groundTruth.forImage(id),
        reviewed: await services.images.isReviewed(id),
      };
    },

    'images.file': async ({ id, maxSide }) => readImage(await services.images.get(id), maxSide),
  };
}
