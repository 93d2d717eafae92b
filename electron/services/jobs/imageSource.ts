// The project's images as the method reads them: decoded on demand at the run's image size.
import type { ImageRecord } from '../../common/images.js';
import type { ImageSource } from '../../../native/keypoints/method.js';
import { decodeImage } from '../../../native/images/decode.js';

export function projectImageSource(images: ImageRecord[], size: number): ImageSource {
  return {
    count: images.length,
    load: async (i) => (await decodeImage(images[i]!.absolutePath, size)).pixels,
  };
}
