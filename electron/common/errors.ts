// Errors that cross the service boundary. They carry a code so that transports can
// serialise them ({ code, message }) and the CLI can map them to exit code 2.

export type ServiceErrorCode =
  /** Outside input is wrong: a missing folder, a malformed JSON, a bad argument. */
  | 'bad-input'
  /** The file is not a project of this app, or it is damaged. */
  | 'not-a-project'
  /** The project is open read-only (written by a newer app version, or open in another process). */
  | 'read-only'
  /** Another process has the project open for writing. */
  | 'locked'
  /** No project is open. */
  | 'no-project'
  /** An id that does not exist in the project. */
  | 'not-found'
  /** The request contradicts the project's state (e.g. nothing trained yet). */
  | 'conflict'
  /** The disk is full or failing; what was being written was rolled back. */
  | 'storage';

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const badInput = (message: string): ServiceError => new ServiceError('bad-input', message);
export const notFound = (message: string): ServiceError => new ServiceError('not-found', message);
export const conflict = (message: string): ServiceError => new ServiceError('conflict', message);

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
