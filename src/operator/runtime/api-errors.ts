// Reading HTTP status codes out of @kubernetes/client-node errors.
//
// client-node 2 throws ApiException (field `code`); watches and older paths
// report `statusCode`; a Status body carries `code` too. 0 means "no HTTP
// status" (network error, timeout, bug).

export function apiErrorCode(error: unknown): number {
  if (typeof error !== 'object' || error === null) return 0;
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return 0;
}

export function isNotFound(error: unknown): boolean { return apiErrorCode(error) === 404; }
export function isConflict(error: unknown): boolean { return apiErrorCode(error) === 409; }

/** The API server's own message for an error (Status.message), else the error's message. */
export function apiErrorMessage(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const body = (error as { body?: unknown }).body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try { parsed = JSON.parse(body); } catch { parsed = undefined; }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string' && message) return message;
  return error instanceof Error ? error.message : String(error);
}
