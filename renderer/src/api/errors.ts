// Errors as the UI meets them: the server's ApiError codes, plus 'offline' when the server
// could not be reached at all (the request may be retried once it is back).
import { isApiErrorBody, type ApiErrorCode } from '../../../electron/common/api/errors.js';

export type CallErrorCode = ApiErrorCode | 'offline';

export class CallError extends Error {
  constructor(
    readonly code: CallErrorCode,
    message: string,
    readonly method: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

export function callErrorFrom(body: unknown, method: string, fallback: string): CallError {
  const error = (body as { error?: unknown } | null)?.error ?? body;
  return isApiErrorBody(error)
    ? new CallError(error.code, error.message, method)
    : new CallError('internal', fallback, method);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
