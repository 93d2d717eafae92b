// Opening model files without ever waiting on them. Anything can carry a model's file name — a FIFO
// (`mkfifo x.safetensors`) blocks the reader until something writes to it, /dev/zero never ends —
// so files are opened without blocking and refused unless they are regular files.
import fs from 'node:fs';

/** O_NONBLOCK makes a FIFO's open return at once; on a regular file it changes nothing. */
const openForReading = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** A JSON config or shard index is kilobytes; far more means the name points at something else. */
const maxTextBytes = 64 << 20;

export class NotARegularFileError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = 'NotARegularFileError';
  }
}

/** A file descriptor for reading `file`, refused unless it is a regular file; the caller closes it. */
export function openRegularFileSync(file: string): number {
  const fd = fs.openSync(file, openForReading);
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new NotARegularFileError(file, 'not a regular file (a FIFO, device or socket is never read)');
  }
  return fd;
}

/** The text of a small regular file (configs, indexes). */
export function readRegularTextFileSync(file: string): string {
  const fd = openRegularFileSync(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size > maxTextBytes) throw new NotARegularFileError(file, `${size} bytes, too large for a JSON config`);
    return fs.readFileSync(fd, 'utf-8');
  } finally {
    fs.closeSync(fd);
  }
}
