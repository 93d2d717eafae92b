// Image files arrive through the API as bytes; the UI shows them as blob: URLs. Thumbnails are
// kept in a bounded cache (oldest released first) so scrolling through thousands stays light.
import { api } from '../api/index.js';

const thumbnailSide = 256;
const keepThumbnails = 600;
const thumbnails = new Map<number, Promise<string>>();

async function blobUrl(id: number, maxSide?: number): Promise<string> {
  const file = await api.call('images.file', maxSide === undefined ? { id } : { id, maxSide });
  return URL.createObjectURL(new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: file.mime }));
}

export function thumbnailUrl(id: number): Promise<string> {
  const cached = thumbnails.get(id);
  if (cached) {
    // Re-insert: Map order is the eviction order.
    thumbnails.delete(id);
    thumbnails.set(id, cached);
    return cached;
  }
  const loading = blobUrl(id, thumbnailSide);
  thumbnails.set(id, loading);
  loading.catch(() => thumbnails.delete(id));
  while (thumbnails.size > keepThumbnails) {
    const [oldest, url] = thumbnails.entries().next().value as [number, Promise<string>];
    thumbnails.delete(oldest);
    void url.then(
      (u) => URL.revokeObjectURL(u),
      () => undefined,
    );
  }
  return loading;
}

/** The image view first shows a copy at most this large (the file itself when it is smaller),
 * and asks for the full file only once zoomed in past it. */
export const previewSide = 2048;

/** The caller revokes the URL when it shows another. */
export function previewImageUrl(id: number): Promise<string> {
  return blobUrl(id, previewSide);
}

/** The full image; the caller revokes the URL when it shows another. */
export function fullImageUrl(id: number): Promise<string> {
  return blobUrl(id);
}

export function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('The image could not be decoded.'));
    image.src = url;
  });
}
