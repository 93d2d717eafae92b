// Errors that cross the API boundary. Both transports carry { code, message } so the UI can say
// what happened in the user's words and react to the kind of failure (e.g. re-queue a correction).

export const apiErrorCodes = [
  'bad-input', // the request itself is malformed (field named in the message)
  'unauthorized', // missing or wrong access token
  'forbidden', // a path outside the folders the user opened
  'not-found', // project, image, run or file does not exist (any more)
  'locked', // the project is open in another window or process
  'conflict', // the request contradicts the current state (e.g. a run is already training)
  'unavailable', // this build or machine cannot do it (e.g. no system file dialog in a browser)
  'internal', // a bug: the message is shown, the details go to the log
] as const;

export type ApiErrorCode = (typeof apiErrorCodes)[number];

export interface ApiErrorBody {
  code: ApiErrorCode;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ApiErrorBody {
    return { code: this.code, message: this.message };
  }
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.message === 'string' && apiErrorCodes.includes(v.code as ApiErrorCode);
}

/** HTTP status for each code, so plain HTTP clients (curl, tests) see the usual meaning. */
export const httpStatusOf: Record<ApiErrorCode, number> = {
  'bad-input': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  locked: 423,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};
