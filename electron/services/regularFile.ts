// Reading a file named in a request without ever waiting on it. A FIFO, device or socket can carry
// any name (`mkfifo x.png`); opening one for reading blocks until something writes to it, so the
// file is opened without blocking and refused unless it is a regular file.
import fs from 'node:fs';

/** O_NONBLOCK makes a FIFO's open return at once; on a regular file it changes nothing. */
const openForReading = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

export class NotRegularFileError extends Error {
  constructor(
    readonly file: string,
    why = 'is not a regular file',
  ) {
    super(`${file} ${why}`);
    this.name = 'NotRegularFileError';
  }
}

/**
 * The bytes of `file`; NotRegularFileError when it is anything but a regular file of at most
 * `maxBytes` (ENOENT and the like pass on as they are).
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  const handle = await fs.promises.open(file, openForReading);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new NotRegularFileError(file);
    if (stat.size > maxBytes) throw new NotRegularFileError(file, `is ${stat.size} bytes, over ${maxBytes}`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Whether `file` is a regular file now (no error for a missing one). */
export async function isRegularFile(file: string): Promise<boolean> {
  const stat = await fs.promises.stat(file).catch(() => null);
  return stat?.isFile() ?? false;
}
