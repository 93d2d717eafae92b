// The project's images: the grid's pages, one image with its points, and the image files.
import { ApiError } from '../../common/api/errors.js';
import type { Handlers } from '../dispatcher.js';
import type { SessionContext } from './context.js';
import type { ImageRecord, Keypoint } from '../../common/api/types.js';

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
        fileExists: file !== null && (await services.imageFiles.exists(file)),
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
      return services.imageFiles.read(image, file, maxSide);
    },
  };
}
