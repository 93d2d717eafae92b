// Turns one API request (method name + untrusted input) into a service call: validates the input
// against the contract, runs the handler, and turns any failure into an ApiError the UI can show.
import { z } from 'zod';
import {
  isMethodName,
  methods,
  type MethodName,
  type MethodOutput,
  type ParsedInput,
  type ResultKind,
} from '../common/api/contract.js';
import { ServiceError, type ServiceErrorCode } from '../common/errors.js';
import { ApiError, type ApiErrorCode } from '../common/api/errors.js';

export type Handlers = {
  [M in MethodName]: (input: ParsedInput<M>) => Promise<MethodOutput<M>>;
};

export interface DispatchResult {
  kind: ResultKind;
  value: unknown;
}

export type Dispatch = (method: string, input: unknown) => Promise<DispatchResult>;

function describeIssues(method: string, error: z.ZodError): string {
  const issues = error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'input'}: ${i.message}`);
  return `Bad input to ${method}: ${issues.join('; ')}`;
}

const serviceCodes: Record<ServiceErrorCode, ApiErrorCode> = {
  'bad-input': 'bad-input',
  'not-a-project': 'bad-input',
  'read-only': 'conflict',
  locked: 'locked',
  'no-project': 'conflict',
  'not-found': 'not-found',
  conflict: 'conflict',
  storage: 'conflict',
};

/** Service, Node and SQLite failures that mean something to the user; anything else is a bug. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ServiceError) return new ApiError(serviceCodes[error.code], error.message);
  const e = error as { code?: unknown; message?: unknown; path?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const where = typeof e?.path === 'string' ? e.path : null;
  switch (e?.code) {
    case 'ENOENT':
      return new ApiError('not-found', where ? `${where} does not exist.` : message);
    case 'ENOTDIR':
      return new ApiError('bad-input', where ? `${where}: a part of this path is a file, not a folder.` : message);
    case 'EISDIR':
      return new ApiError('bad-input', where ? `${where} is a folder, not a file.` : message);
    case 'ELOOP':
      return new ApiError('bad-input', where ? `${where}: too many symbolic links (a loop?).` : message);
    case 'ENAMETOOLONG':
      return new ApiError('bad-input', where ? `${where}: the name is too long.` : message);
    case 'EEXIST':
      return new ApiError('conflict', where ? `${where} already exists.` : message);
    case 'EACCES':
    case 'EPERM':
      return new ApiError('forbidden', where ? `No permission to use ${where}.` : message);
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new ApiError('locked', `The project is busy in another window or process: ${message}`);
  }
  return new ApiError('internal', `Internal error: ${message}`);
}

export function createDispatcher(handlers: Handlers, logError: (error: unknown) => void = console.error): Dispatch {
  return async (method, input) => {
    if (!isMethodName(method)) throw new ApiError('not-found', `There is no API method called ${method}.`);
    const spec = methods[method];
    const parsed = spec.input.safeParse(input ?? {});
    if (!parsed.success) throw new ApiError('bad-input', describeIssues(method, parsed.error));
    const handler = handlers[method] as (input: unknown) => Promise<unknown>;
    try {
      return { kind: spec.kind, value: await handler(parsed.data) };
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.code === 'internal') logError(error);
      throw apiError;
    }
  };
}
