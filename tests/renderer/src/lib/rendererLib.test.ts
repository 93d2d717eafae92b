// The UI's pure helpers: path arithmetic on the server's paths (POSIX or Windows), the
// image ↔ canvas placement every click and drag goes through, and memory sizes in words.
import { describe, expect, it } from 'vitest';
import { basename, dirname, join, projectFileFor } from '../../../../renderer/src/lib/paths.js';
import { fitInside, toCanvas, toImage } from '../../../../renderer/src/lib/draw.js';
import { bytesText } from '../../../../renderer/src/lib/bytes.js';

describe('paths of the machine that runs the services', () => {
  it('splits and joins POSIX paths', () => {
    expect(basename('/data/birds/')).toBe('birds');
    expect(dirname('/data/birds/a.json')).toBe('/data/birds');
    expect(dirname('/a.json')).toBe('/');
    expect(join('/data/birds', 'x.skp')).toBe('/data/birds/x.skp');
    expect(projectFileFor('/data/birds')).toBe('/data/birds/birds.skp');
  });

  it('splits and joins Windows paths', () => {
    expect(basename('C:\\data\\birds')).toBe('birds');
    expect(dirname('C:\\data\\birds\\a.json')).toBe('C:\\data\\birds');
    expect(join('C:\\data\\birds', 'x.skp')).toBe('C:\\data\\birds\\x.skp');
    expect(projectFileFor('C:\\data\\birds\\')).toBe('C:\\data\\birds\\birds.skp');
  });
});

describe('placing an image on a canvas', () => {
  it('fits inside the box, centred, keeping the aspect ratio', () => {
    expect(fitInside(200, 100, 400, 400)).toEqual({ scale: 2, offsetX: 0, offsetY: 100 });
    expect(fitInside(100, 200, 400, 400)).toEqual({ scale: 2, offsetX: 100, offsetY: 0 });
  });

  it('maps image pixels to the canvas and back exactly', () => {
    const placement = fitInside(333, 517, 640, 480);
    for (const [x, y] of [
      [0, 0],
      [333, 517],
      [12.25, 400.5],
    ] as const) {
      const [cx, cy] = toCanvas(placement, x, y);
      const [ix, iy] = toImage(placement, cx, cy);
      expect(ix).toBeCloseTo(x, 9);
      expect(iy).toBeCloseTo(y, 9);
    }
  });
});

describe('memory sizes', () => {
  it('are GiB with one decimal from one GiB up, whole MiB (rounded up) below', () => {
    expect(bytesText(8.9 * 2 ** 30)).toBe('8.9 GiB');
    expect(bytesText(2 ** 30)).toBe('1.0 GiB');
    expect(bytesText(2 ** 30 - 1)).toBe('1024 MiB');
    expect(bytesText(1601.1 * 2 ** 20)).toBe('1.6 GiB');
    expect(bytesText(50.2 * 2 ** 20)).toBe('51 MiB');
  });
});
